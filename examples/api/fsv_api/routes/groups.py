"""``/groups``: search and list, detail with stats, edit, link and unlink, bulk toggle."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request

import firestore_verify as fv
from fsv_api.problems import responses
from fsv_api.schemas import (
    BulkResult,
    BulkToggle,
    ChannelCreate,
    GroupDetail,
    GroupPatch,
    GroupStatsOut,
    PageOut,
)
from fsv_api.security import actor_of, permitted
from fsv_api.services import Services, services

router = APIRouter(prefix="/groups", tags=["groups"])
read = permitted(fv.Permission.READ_GROUPS)
write = permitted(fv.Permission.WRITE_GROUPS)
READ_ERRORS = responses(401, 403, 404, 422, 429)
WRITE_ERRORS = responses(401, 403, 404, 409, 422, 429)
GroupId = Annotated[int, Path(lt=0, ge=-(2**63), description="The group's Telegram id.")]
ChannelId = Annotated[int, Path(lt=0, ge=-(2**63), description="The channel's Telegram id.")]


@router.get("", response_model=PageOut[fv.ProtectedGroup], responses=READ_ERRORS)
async def list_groups(
    svc: Services = Depends(services),
    _: fv.Principal = Depends(read),
    q: Annotated[str, Query(max_length=255, description="Title prefix (any case) or id.")] = "",
    enabled: bool | None = None,
    sort: Literal["title", "created_at", "updated_at", "member_count"] = "title",
    order: Literal["asc", "desc"] = "asc",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> PageOut[fv.ProtectedGroup]:
    """Groups by title prefix or id, one indexed query (never a scan of every group)."""
    page = await svc.store.groups.search(q, enabled=enabled, order_by=sort,
                                         descending=order == "desc", limit=limit, cursor=cursor)
    return PageOut[fv.ProtectedGroup].of(page)


@router.get("/{group_id}", response_model=GroupDetail, responses=READ_ERRORS)
async def get_group(group_id: GroupId, svc: Services = Depends(services),
                    _: fv.Principal = Depends(read)) -> GroupDetail:
    """One group with its channels, stats (today, 7 days) and its latest 20 events."""
    return await _detail(svc, group_id)


async def _detail(svc: Services, group_id: int) -> GroupDetail:
    store = svc.store
    group = await store.groups.get(group_id)
    channels = await store.channels.get_many(group.channel_ids)
    stats = await store.analytics.group(group_id)
    recent = await store.analytics.activity.latest(limit=20, group_id=group_id)
    return GroupDetail(group=group, channels=[channels[str(c)] for c in group.channel_ids
                                              if str(c) in channels],
                       stats=GroupStatsOut.of(stats), recent=list(recent.items))


@router.patch("/{group_id}", response_model=GroupDetail, responses=WRITE_ERRORS)
async def update_group(group_id: GroupId, body: GroupPatch, request: Request,
                       svc: Services = Depends(services),
                       principal: fv.Principal = Depends(write)) -> GroupDetail:
    """Change the title, params, or protection; each change audited with its entry."""
    actor = actor_of(request, principal, svc)
    groups = svc.store.groups
    changes = body.model_dump(exclude_unset=True, exclude={"enabled"})
    await groups.get(group_id)  # 404 before anything changes
    if changes:
        await groups.update(group_id, actor=actor, **changes)
    if body.enabled is True:
        await groups.enable(group_id, actor=actor)
    elif body.enabled is False:
        await groups.unprotect(group_id, actor=actor)
    return await _detail(svc, group_id)


@router.post("/{group_id}/channels", response_model=GroupDetail, responses=WRITE_ERRORS)
async def link_channel(group_id: GroupId, body: ChannelCreate, request: Request,
                       svc: Services = Depends(services),
                       principal: fv.Principal = Depends(write)) -> GroupDetail:
    """Enforce a channel in this group (the channel is created when new)."""
    info = fv.ChannelInfo(id=body.id, title=body.title, username=body.username,
                          invite_link=body.invite_link)
    await svc.store.groups.link_channel(group_id, info, actor=actor_of(request, principal, svc))
    return await _detail(svc, group_id)


@router.delete("/{group_id}/channels/{channel_id}", response_model=GroupDetail,
               responses=WRITE_ERRORS)
async def unlink_channel(group_id: GroupId, channel_id: ChannelId, request: Request,
                         svc: Services = Depends(services),
                         principal: fv.Principal = Depends(write)) -> GroupDetail:
    """Stop enforcing a channel in this group (the channel document stays)."""
    await svc.store.groups.unlink_channel(group_id, channel_id,
                                          actor=actor_of(request, principal, svc))
    return await _detail(svc, group_id)


@router.post("/bulk", response_model=BulkResult, responses=WRITE_ERRORS)
async def bulk_toggle(body: BulkToggle, request: Request, svc: Services = Depends(services),
                      principal: fv.Principal = Depends(write)) -> BulkResult:
    """Enable or disable many groups; each change is its own audited transaction."""
    outcome = await svc.store.groups.set_enabled(body.group_ids, body.enabled,
                                                 actor=actor_of(request, principal, svc))
    return BulkResult(changed=outcome.changed, unchanged=outcome.unchanged,
                      missing=outcome.missing)
