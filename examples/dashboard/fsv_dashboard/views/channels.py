"""Channels: the enforced channels, searchable, live; add one; a live detail page."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import RedirectResponse, Response

import firestore_verify as fv
from fsv_dashboard.render import fragment, render
from fsv_dashboard.security import actor_of, check_csrf, current_principal
from fsv_dashboard.services import Services, services
from fsv_dashboard.streams import page_stream

router = APIRouter()

ChannelId = Annotated[int, Path(lt=0, ge=-(2**63))]
#: What the add form says when the id is not a Telegram channel id.
BAD_ID = ("A Telegram channel id is a negative whole number, like -1001234567890 "
          "(a bot sees it in the channel's updates).")


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
async def channels_page(request: Request, q: str = "", notice: str | None = None,
                        svc: Services = Depends(services),
                        principal: fv.Principal = Depends(current_principal)) -> Response:
    """Every enforced channel with its linked groups (the stream renders the rows)."""
    principal.require(fv.Permission.READ_CHANNELS)
    return render(request, "channels.html", {"q": q.strip()[:255], "notice": notice,
                                             "form": {}, "error": None})


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


def _fields(title: str, username: str, invite_link: str) -> dict[str, Any]:
    return {"title": title.strip(), "username": username.strip().lstrip("@") or None,
            "invite_link": invite_link.strip() or None}


@router.post("/channels", dependencies=[Depends(check_csrf)])
async def add_channel(request: Request,
                      channel_id: Annotated[str, Form(max_length=32)] = "",
                      title: Annotated[str, Form(max_length=255)] = "",
                      username: Annotated[str, Form(max_length=64)] = "",
                      invite_link: Annotated[str, Form(max_length=2048)] = "",
                      svc: Services = Depends(services),
                      principal: fv.Principal = Depends(current_principal)) -> Response:
    """Add an (unlinked) enforced channel, audited; bad input shows the form again."""
    principal.require(fv.Permission.WRITE_CHANNELS)
    form = {"channel_id": channel_id, "title": title, "username": username,
            "invite_link": invite_link}
    text = channel_id.strip()
    error: str | None = None
    if not (text.startswith("-") and text[1:].isdigit() and int(text) >= -(2**63)
            and int(text) < 0):
        error = BAD_ID
    elif not title.strip():
        error = "Give the channel a title."
    else:
        try:
            channel = fv.EnforcedChannel.parse({"id": int(text),
                                                **_fields(title, username, invite_link)})
            await svc.store.channels.create(channel, actor=actor_of(request, principal, svc))
        except fv.AlreadyExistsError:
            error = f"Channel {text} is already enforced."
        except fv.InvalidInputError as exc:
            error = str(exc)
    if error is not None:
        return render(request, "channels.html", {"q": "", "notice": None, "form": form,
                                                 "error": error}, status_code=422)
    return RedirectResponse(
        f"/channels?{urlencode({'notice': f'Channel {title.strip()} added.'})}",
        status_code=303)


@router.get("/channels/{channel_id}")
async def channel_page(request: Request, channel_id: ChannelId, notice: str | None = None,
                       svc: Services = Depends(services),
                       principal: fv.Principal = Depends(current_principal)) -> Response:
    """One channel: its linked groups and today's checks, live."""
    principal.require(fv.Permission.READ_CHANNELS)
    channel = await svc.store.channels.get(channel_id)
    stats = await svc.store.analytics.channel_today(channel_id)
    return render(request, "channel.html", {"channel": channel, "stats": stats,
                                            "notice": notice})


@router.get("/stream/channel/{channel_id}")
async def channel_stream(request: Request, channel_id: ChannelId,
                         svc: Services = Depends(services),
                         principal: fv.Principal = Depends(current_principal)) -> Response:
    """Events ``channel`` (title, links, groups) and ``stats`` (today's checks).

    The stats are counted again (three aggregations, shared by every open page of
    the channel) when the channel changes or a verification event lands.
    """
    principal.require(fv.Permission.READ_CHANNELS)
    store, templates = svc.store, svc.templates

    async def stats(source: object) -> list[tuple[str, str]]:
        counts = await svc.derived.get(f"channel-stats:{channel_id}", source,
                                       lambda: store.analytics.channel_today(channel_id))
        return [("stats", fragment(templates, "_channel_stats.html", principal, stats=counts))]

    async def on_channel(channel: fv.EnforcedChannel | None) -> list[tuple[str, str]]:
        return [("channel", fragment(templates, "_channel_info.html", principal,
                                     channel=channel)), *await stats(channel)]

    return page_stream(svc, {
        "channel": ((f"channel:{channel_id}", lambda: store.channels.watch_document(channel_id)),
                    on_channel),
        "latest": (("activity:latest:1", lambda: store.analytics.activity.watch(limit=1)),
                   stats),
    })


@router.post("/channels/{channel_id}", dependencies=[Depends(check_csrf)])
async def edit_channel(request: Request, channel_id: ChannelId,
                       title: Annotated[str, Form(min_length=1, max_length=255)],
                       username: Annotated[str, Form(max_length=64)] = "",
                       invite_link: Annotated[str, Form(max_length=2048)] = "",
                       svc: Services = Depends(services),
                       principal: fv.Principal = Depends(current_principal)) -> Response:
    """Change the title, username or invite link (every linked group follows), audited."""
    principal.require(fv.Permission.WRITE_CHANNELS)
    await svc.store.channels.update(channel_id, actor=actor_of(request, principal, svc),
                                    **_fields(title, username, invite_link))
    return RedirectResponse(f"/channels/{channel_id}?{urlencode({'notice': 'Channel saved.'})}",
                            status_code=303)
