"""One Server-Sent Events stream per page, carrying named events of server-rendered HTML.

A page's stream merges the library's fan-out streams it needs (``fv.merged``):
each value becomes one or more named events whose ``data`` is an HTML fragment
that htmx's SSE extension swaps in (``sse-swap="<name>"``). Every value is a
whole state, and the fan-out hands the current state first, so every
(re)connect starts with the current state of everything. Streams end at the
next UTC midnight (the overview's days are fixed when it starts) or after
``stream_max_seconds``; the browser then reconnects.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import datetime, timezone
from typing import Any

import anyio
from sse_starlette import EventSourceResponse, ServerSentEvent

import firestore_verify as fv
from fsv_dashboard.services import Services

__all__ = ["Renderer", "page_stream"]

log = logging.getLogger("fsv_dashboard.streams")

#: Turns one value of a stream into named events: ``[(event name, HTML), ...]``.
Renderer = Callable[[Any], Awaitable[list[tuple[str, str]]]]


def _seconds_until_midnight() -> float:
    now = datetime.now(timezone.utc)
    midnight = datetime.combine(now.date(), datetime.min.time(), tzinfo=timezone.utc)
    return max(1.0, midnight.timestamp() + 86_400 - now.timestamp())


def page_stream(svc: Services,
                specs: Mapping[str, tuple[fv.StreamSpec, Renderer]]) -> EventSourceResponse:
    """The page's event stream: every spec's values rendered into named events."""
    lifetime = min(svc.settings.stream_max_seconds, _seconds_until_midnight())
    streams = {name: spec for name, (spec, _) in specs.items()}
    renderers = {name: render for name, (_, render) in specs.items()}

    async def events() -> AsyncIterator[ServerSentEvent]:
        try:
            with anyio.move_on_after(lifetime):
                async with fv.merged(svc.hub, streams) as got:
                    async for name, value in got:
                        try:
                            rendered = await renderers[name](value)
                        except fv.FirestoreVerifyError as exc:  # a derived read failed
                            log.warning("event %s not rendered: %s", name, exc)
                            continue
                        for event, html in rendered:
                            yield ServerSentEvent(data=html, event=event)
        except fv.SubscriberDroppedError as exc:
            log.info("stream ended: %s", exc)
        # The browser's EventSource reconnects (after `retry` ms) and gets the state again.
        yield ServerSentEvent(event="bye", data="", retry=1000)

    return EventSourceResponse(events(), ping=15, headers={"Cache-Control": "no-store"})
