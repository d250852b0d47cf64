"""``/stream/{page}``: one Server-Sent Events stream per page, carrying named events.

Every event's ``data`` is the JSON of the current state (never a delta), and each
stream sends the current state of everything first, so a reconnect is harmless.
The Firestore listeners behind the streams are shared by every connection of this
process (the library's fan-out). The overview ends at the next UTC midnight so that
clients reconnect onto the new day.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import datetime, timezone
from typing import Any, Literal

import anyio
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel
from sse_starlette import EventSourceResponse, ServerSentEvent

import firestore_verify as fv
from fsv_api.problems import responses
from fsv_api.schemas import DashboardStats
from fsv_api.security import current_principal
from fsv_api.services import Services, services

router = APIRouter(prefix="/stream", tags=["streams"])
log = logging.getLogger("fsv_api.streams")

Page = Literal["dashboard", "groups", "channels", "logs", "config", "analytics"]
#: What each page's stream needs its reader to be allowed.
_PAGE_PERMISSION: dict[str, fv.Permission] = {
    "dashboard": fv.Permission.READ_DASHBOARD,
    "groups": fv.Permission.READ_GROUPS,
    "channels": fv.Permission.READ_CHANNELS,
    "logs": fv.Permission.READ_LOGS,
    "config": fv.Permission.READ_CONFIG,
    "analytics": fv.Permission.READ_ANALYTICS,
}
#: Latest events each feed carries.
FEED_SIZE = 50


def _dump(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list):
        return [_dump(item) for item in value]
    return value


def page_streams(svc: Services, page: str) -> dict[str, tuple[fv.StreamSpec,
                                                               Callable[[Any], Any]]]:
    """Each named event of ``page``: its fan-out stream and how its value is rendered."""
    store, config = svc.store, svc.bot_config
    overview: fv.StreamSpec = (
        f"overview:{store.analytics.overview_expires_at().date()}",
        store.analytics.watch_overview)
    activity: fv.StreamSpec = (f"activity:{FEED_SIZE}",
                               lambda: store.analytics.activity.watch(limit=FEED_SIZE))

    def to_stats(overview: Any) -> Any:
        return DashboardStats.of(overview).model_dump(mode="json")

    mask = config.schema().mask
    sensitive = {f.key for f in config.schema().settings if f.sensitive}

    def masked(value: Any) -> Any:
        flat = value.flat()
        return {k: (mask if k in sensitive and v is not None else v) for k, v in flat.items()}

    streams: Mapping[str, dict[str, tuple[fv.StreamSpec, Callable[[Any], Any]]]] = {
        "dashboard": {"stats": (overview, to_stats), "activity": (activity, _dump)},
        "analytics": {"stats": (overview, to_stats)},
        "groups": {"groups": (("groups", store.groups.watch), _dump),
                   "stats": (overview, to_stats)},
        "channels": {"channels": (("channels", store.channels.watch), _dump)},
        "logs": {"activity": (activity, _dump)},
        "config": {"config": (("bot-config", config.watch), masked)},
    }
    return dict(streams[page])


def _seconds_until_midnight() -> float:
    now = datetime.now(timezone.utc)
    tomorrow = datetime.combine(now.date(), datetime.min.time(), tzinfo=timezone.utc)
    return max(1.0, (tomorrow.timestamp() + 86_400) - now.timestamp())


@router.get("/{page}", response_class=EventSourceResponse,
            responses={**responses(401, 403, 422, 429),
                       200: {"content": {"text/event-stream": {}},
                             "description": "Named events, the current state first."}})
async def stream(page: Page, request: Request, svc: Services = Depends(services),
                 principal: fv.Principal = Depends(current_principal)) -> EventSourceResponse:
    """The page's live events (e.g. ``stats`` and ``activity`` for the dashboard)."""
    principal.require(_PAGE_PERMISSION[page])
    await svc.limits.hit("read", principal.uid)
    specs = page_streams(svc, page)
    renderers = {name: render for name, (_, render) in specs.items()}
    lifetime = min(svc.settings.stream_max_seconds, _seconds_until_midnight())

    async def events() -> AsyncIterator[ServerSentEvent]:
        svc.metrics.open_streams.inc()
        try:
            with anyio.move_on_after(lifetime):
                async with fv.merged(svc.hub, {n: spec for n, (spec, _) in specs.items()}) as got:
                    async for name, value in got:
                        yield ServerSentEvent(data=json.dumps(renderers[name](value)), event=name)
        except fv.SubscriberDroppedError as exc:
            svc.metrics.dropped.inc()
            log.info("stream %s ended: %s", page, exc)
        finally:
            svc.metrics.open_streams.dec()
        yield ServerSentEvent(event="reconnect", data="{}", retry=1000)

    return EventSourceResponse(events(), ping=15, headers={"Cache-Control": "no-store"})
