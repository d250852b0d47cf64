"""Channels: the enforced channels, searchable, live."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

import firestore_verify as fv
from fsv_dashboard.render import fragment, render
from fsv_dashboard.security import current_principal
from fsv_dashboard.services import Services, services
from fsv_dashboard.streams import page_stream

router = APIRouter()


def matching(channels: list[fv.EnforcedChannel], q: str) -> list[fv.EnforcedChannel]:
    """Channels whose title starts with ``q`` (any case), or whose id or @username is ``q``."""
    text = q.strip()
    if not text:
        chosen = channels
    elif text.lstrip("-").isdigit():
        chosen = [c for c in channels if c.id == int(text)]
    else:
        folded = text.lstrip("@").casefold()
        chosen = [c for c in channels if c.title.casefold().startswith(folded)
                  or (c.username or "").casefold() == folded]
    return sorted(chosen, key=lambda c: (c.title.casefold(), c.id))


@router.get("/channels")
async def channels_page(request: Request, q: str = "", svc: Services = Depends(services),
                        principal: fv.Principal = Depends(current_principal)) -> Response:
    """Every enforced channel with its linked groups (the stream renders the rows)."""
    principal.require(fv.Permission.READ_CHANNELS)
    return render(request, "channels.html", {"q": q.strip()[:255]})


@router.get("/stream/channels")
async def channels_stream(q: str = "", svc: Services = Depends(services),
                          principal: fv.Principal = Depends(current_principal)) -> Response:
    """Event ``channels``: the table's rows whenever a channel changes."""
    principal.require(fv.Permission.READ_CHANNELS)
    text = q.strip()[:255]

    async def on_channels(channels: list[fv.EnforcedChannel]) -> list[tuple[str, str]]:
        return [("channels", fragment(svc.templates, "_channel_rows.html", principal,
                                      channels=matching(channels, text), q=text,
                                      total=len(channels)))]

    return page_stream(svc, {"channels": (("channels", svc.store.channels.watch), on_channels)})
