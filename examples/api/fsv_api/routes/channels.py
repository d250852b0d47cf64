"""``/channels``: list and search, create, detail with linked groups, edit."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request

import firestore_verify as fv
from fsv_api.problems import responses
from fsv_api.schemas import ChannelCreate, ChannelDetail, ChannelPatch, CountsOut, PageOut
from fsv_api.security import actor_of, permitted
from fsv_api.services import Services, services

router = APIRouter(prefix="/channels", tags=["channels"])
read = permitted(fv.Permission.READ_CHANNELS)
write = permitted(fv.Permission.WRITE_CHANNELS)
READ_ERRORS = responses(401, 403, 404, 422, 429)
WRITE_ERRORS = responses(401, 403, 404, 409, 422, 429)
ChannelId = Annotated[int, Path(lt=0, ge=-(2**63), description="The channel's Telegram id.")]


@router.get("", response_model=PageOut[fv.EnforcedChannel], responses=READ_ERRORS)
async def list_channels(
    svc: Services = Depends(services),
    _: fv.Principal = Depends(read),
    q: Annotated[str, Query(max_length=255, description="Exact id, or @username.")] = "",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> PageOut[fv.EnforcedChannel]:
    """Channels by id order; ``q`` finds one by id or by @username."""
    channels = svc.store.channels
    text = q.strip()
    if text.lstrip("-").isdigit():
        found = await channels.find(int(text))
        return PageOut[fv.EnforcedChannel](items=[found] if found else [])
    if text:
        page = await channels.list(limit=limit, cursor=cursor, username=text.lstrip("@"))
    else:
        page = await channels.list(limit=limit, cursor=cursor)
    return PageOut[fv.EnforcedChannel].of(page)


@router.post("", response_model=fv.EnforcedChannel, status_code=201, responses=WRITE_ERRORS)
async def create_channel(body: ChannelCreate, request: Request,
                         svc: Services = Depends(services),
                         principal: fv.Principal = Depends(write)) -> fv.EnforcedChannel:
    """Add a channel to enforce (link it to groups from the group)."""
    channel = fv.EnforcedChannel(id=body.id, title=body.title, username=body.username,
                                 invite_link=body.invite_link)
    return await svc.store.channels.create(channel, actor=actor_of(request, principal, svc))


@router.get("/{channel_id}", response_model=ChannelDetail, responses=READ_ERRORS)
async def get_channel(channel_id: ChannelId, svc: Services = Depends(services),
                      _: fv.Principal = Depends(read)) -> ChannelDetail:
    """One channel, the groups linked to it, and its verifications today."""
    return await _detail(svc, channel_id)


async def _detail(svc: Services, channel_id: int) -> ChannelDetail:
    store = svc.store
    channel = await store.channels.get(channel_id)
    groups = await store.groups.get_many(channel.linked_groups)
    today = await store.analytics.channel_today(channel_id)
    return ChannelDetail(channel=channel,
                         groups=[groups[str(g)] for g in channel.linked_groups
                                 if str(g) in groups],
                         today=CountsOut.of(today))


@router.patch("/{channel_id}", response_model=ChannelDetail, responses=WRITE_ERRORS)
async def update_channel(channel_id: ChannelId, body: ChannelPatch, request: Request,
                         svc: Services = Depends(services),
                         principal: fv.Principal = Depends(write)) -> ChannelDetail:
    """Change a channel; linked groups see the new title, username or link at once."""
    changes = body.model_dump(exclude_unset=True)
    if changes:
        await svc.store.channels.update(channel_id, actor=actor_of(request, principal, svc),
                                        **changes)
    return await _detail(svc, channel_id)
