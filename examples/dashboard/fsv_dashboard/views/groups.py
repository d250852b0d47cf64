"""Groups: search, filter, sort, cursor pages, live rows, bulk toggle; a live detail page.

The table's first render is one indexed query (``store.groups.search``). Its
live updates come from the shared ``store.groups.watch()`` listener: each new
list of groups is filtered and sorted here, the way the query does, so a
change costs no extra read however many tables are open. On page one the live
rows are the first page of the view (a new group appears); on later pages the
rows shown are kept up to date.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import RedirectResponse, Response

import firestore_verify as fv
from firestore_verify.bot_config import PLACEHOLDERS
from fsv_dashboard.render import fragment, render
from fsv_dashboard.security import CSRF_COOKIE, actor_of, check_csrf, current_principal
from fsv_dashboard.services import Services, services
from fsv_dashboard.streams import page_stream

router = APIRouter()

Sort = Literal["title", "created_at", "updated_at", "member_count"]
SORTS: tuple[str, ...] = ("title", "created_at", "updated_at", "member_count")
RECENT = 20
#: The bot's limit for a group's own warning (room for the channel list in 4096 characters).
MAX_TEMPLATE_LENGTH = 1000
GroupId = Annotated[int, Path(lt=0, ge=-(2**63))]


@dataclass(frozen=True)
class View:
    """What a groups table shows: the search, filter and sort of its URL."""

    q: str = ""
    status: str = "all"
    sort: str = "title"
    order: str = "asc"

    @property
    def enabled(self) -> bool | None:
        """The ``enabled`` filter of the status."""
        return {"enabled": True, "disabled": False}.get(self.status)

    @property
    def descending(self) -> bool:
        """Whether the sort is descending."""
        return self.order == "desc"

    def params(self, **changes: Any) -> dict[str, str]:
        """The URL parameters of this view (with ``changes``)."""
        values = {"q": self.q, "status": self.status, "sort": self.sort, "order": self.order,
                  **changes}
        return {k: str(v) for k, v in values.items() if v not in (None, "")}

    def url(self, path: str = "/groups", **changes: Any) -> str:
        """This view's URL."""
        return f"{path}?{urlencode(self.params(**changes))}"

    def matches(self, group: fv.ProtectedGroup) -> bool:
        """Whether ``group`` belongs in this view (the search's semantics)."""
        if self.enabled is not None and group.enabled != self.enabled:
            return False
        text = self.q.strip()
        if text.lstrip("-").isdigit():
            return group.id == int(text)
        return group.title_lower.startswith(text.casefold())

    def sort_key(self, group: fv.ProtectedGroup) -> tuple[Any, ...]:
        """The order of the query: the sorted field (missing first), then the id."""
        value: Any = group.title_lower if self.sort == "title" else getattr(group, self.sort)
        return (value is not None, value if value is not None else 0, str(group.id))

    def rows(self, groups: list[fv.ProtectedGroup], limit: int,
             ids: list[int] | None = None) -> list[fv.ProtectedGroup]:
        """The rows of this view among ``groups``: its first page, or the ``ids`` shown."""
        if ids is not None:
            by_id = {g.id: g for g in groups}
            return [by_id[i] for i in ids if i in by_id and self.matches(by_id[i])]
        chosen = sorted((g for g in groups if self.matches(g)), key=self.sort_key,
                        reverse=self.descending)
        return chosen[:limit]


def _view(q: str, status: str, sort: str, order: str) -> View:
    text = q.strip()[:255]
    sort = sort if sort in SORTS else "title"
    if text and not text.lstrip("-").isdigit():
        sort = "title"  # a prefix search is sorted by title
    return View(q=text, status=status if status in ("enabled", "disabled") else "all",
                sort=sort, order="desc" if order == "desc" else "asc")


def _ids(raw: str) -> list[int] | None:
    if not raw:
        return None
    try:
        return [int(x) for x in raw.split(",")[:200] if x]
    except ValueError:
        return None


@router.get("/groups")
async def groups_page(request: Request, q: str = "", status: str = "all", sort: str = "title",
                      order: str = "asc", cursor: str | None = None, notice: str | None = None,
                      svc: Services = Depends(services),
                      principal: fv.Principal = Depends(current_principal)) -> Response:
    """The groups table: one indexed query per page."""
    principal.require(fv.Permission.READ_GROUPS)
    view = _view(q, status, sort, order)
    page = await svc.store.groups.search(view.q, enabled=view.enabled, order_by=view.sort,
                                         descending=view.descending,
                                         limit=svc.settings.page_size, cursor=cursor or None)
    stream_params = view.params()
    if cursor:
        stream_params["ids"] = ",".join(str(g.id) for g in page.items)
    return render(request, "groups.html", {
        "view": view, "groups": page.items, "next_cursor": page.next_cursor,
        "paged": bool(cursor), "notice": notice, "sorts": SORTS,
        "stream_url": f"/stream/groups?{urlencode(stream_params)}",
        "back": str(request.url.path) + (f"?{request.url.query}" if request.url.query else "")})


@router.get("/stream/groups")
async def groups_stream(q: str = "", status: str = "all", sort: str = "title",
                        order: str = "asc", ids: str = "", svc: Services = Depends(services),
                        principal: fv.Principal = Depends(current_principal)) -> Response:
    """Event ``groups``: the table's rows, whenever a group changes."""
    principal.require(fv.Permission.READ_GROUPS)
    view, shown = _view(q, status, sort, order), _ids(ids)
    limit, templates = svc.settings.page_size, svc.templates

    async def on_groups(groups: list[fv.ProtectedGroup]) -> list[tuple[str, str]]:
        return [("groups", fragment(templates, "_group_rows.html", principal,
                                    groups=view.rows(groups, limit, shown), view=view))]

    return page_stream(svc, {"groups": (("groups", svc.store.groups.watch), on_groups)})


@router.post("/groups/bulk", dependencies=[Depends(check_csrf)])
async def bulk_toggle(request: Request, action: Annotated[Literal["enable", "disable"], Form()],
                      group_id: Annotated[list[int] | None, Form()] = None,
                      back: Annotated[str, Form(max_length=2048)] = "/groups",
                      svc: Services = Depends(services),
                      principal: fv.Principal = Depends(current_principal)) -> Response:
    """Enable or disable the ticked groups, each change audited."""
    principal.require(fv.Permission.WRITE_GROUPS)
    ids = [i for i in (group_id or []) if i < 0]
    if not ids:
        notice = "Tick at least one group."
    else:
        outcome = await svc.store.groups.set_enabled(ids, action == "enable",
                                                     actor=actor_of(request, principal, svc))
        notice = (f"{action.capitalize()}d {len(outcome.changed)} group(s); "
                  f"{len(outcome.unchanged)} unchanged, {len(outcome.missing)} missing.")
    target = back if back.startswith("/groups") else "/groups"
    sep = "&" if "?" in target else "?"
    return RedirectResponse(f"{target}{sep}{urlencode({'notice': notice})}", status_code=303)


async def _detail(svc: Services, group_id: int) -> dict[str, Any]:
    store = svc.store
    group = await store.groups.get(group_id)
    recent = await store.analytics.activity.latest(limit=RECENT, group_id=group_id)
    return {"group": group, "stats": await store.analytics.group(group_id),
            "events": recent.items}


def params_form(params: dict[str, Any]) -> dict[str, Any]:
    """The params form's fields of a group's ``params`` (the bot's two keys)."""
    template = params.get("warning_template")
    mute = params.get("mute")
    return {"warning_template": template if isinstance(template, str) else "",
            "mute": mute if isinstance(mute, bool) else True}


def check_template(text: str) -> str | None:
    """What is wrong with a warning template, or ``None`` (blank: the config's applies)."""
    if len(text) > MAX_TEMPLATE_LENGTH:
        return f"The warning is {len(text)} characters long; at most {MAX_TEMPLATE_LENGTH}."
    unknown = sorted(set(re.findall(r"\{[^{}]*\}", text)) - set(PLACEHOLDERS))
    if unknown:
        return (f"Unknown placeholder(s) {', '.join(unknown)}: use "
                f"{', '.join(PLACEHOLDERS)}.")
    return None


@router.get("/groups/{group_id}")
async def group_page(request: Request, group_id: GroupId, notice: str | None = None,
                     svc: Services = Depends(services),
                     principal: fv.Principal = Depends(current_principal)) -> Response:
    """One group: its channels, params, stats (today, 7 days) and latest events, live."""
    principal.require(fv.Permission.READ_GROUPS)
    detail = await _detail(svc, group_id)
    return render(request, "group.html", {**detail, "notice": notice, "params_error": None,
                                          "params": params_form(detail["group"].params)})


@router.get("/stream/group/{group_id}")
async def group_stream(request: Request, group_id: GroupId, svc: Services = Depends(services),
                       principal: fv.Principal = Depends(current_principal)) -> Response:
    """Events ``group`` (status and channels), ``activity`` and ``stats``."""
    principal.require(fv.Permission.READ_GROUPS)
    store, templates = svc.store, svc.templates

    async def on_group(group: fv.ProtectedGroup | None) -> list[tuple[str, str]]:
        return [("group", fragment(templates, "_group_info.html", principal, group=group,
                                   csrf=request.cookies.get(CSRF_COOKIE, "")))]

    async def on_activity(events: list[fv.Verification]) -> list[tuple[str, str]]:
        stats = await svc.derived.get(f"group-stats:{group_id}", events,
                                      lambda: store.analytics.group(group_id))
        return [("activity", fragment(templates, "_feed.html", principal, events=events,
                                      status=None, compact=True)),
                ("stats", fragment(templates, "_group_stats.html", principal, stats=stats))]

    return page_stream(svc, {
        "group": ((f"group:{group_id}", lambda: store.groups.watch_document(group_id)),
                  on_group),
        "activity": ((f"activity:group:{group_id}:{RECENT}",
                      lambda: store.analytics.activity.watch(limit=RECENT, group_id=group_id)),
                     on_activity),
    })


def _back(group_id: int, notice: str) -> Response:
    return RedirectResponse(f"/groups/{group_id}?{urlencode({'notice': notice})}",
                            status_code=303)


@router.post("/groups/{group_id}/enabled", dependencies=[Depends(check_csrf)])
async def set_group_enabled(request: Request, group_id: GroupId,
                            enabled: Annotated[bool, Form()],
                            svc: Services = Depends(services),
                            principal: fv.Principal = Depends(current_principal)) -> Response:
    """Protect the group again, or stop protecting it (audited)."""
    principal.require(fv.Permission.WRITE_GROUPS)
    actor, groups = actor_of(request, principal, svc), svc.store.groups
    if enabled:
        await groups.enable(group_id, actor=actor)
    else:
        await groups.unprotect(group_id, actor=actor)
    return _back(group_id, "Protection enabled." if enabled else "Protection disabled.")


@router.post("/groups/{group_id}/params", dependencies=[Depends(check_csrf)])
async def save_params(request: Request, group_id: GroupId,
                      warning_template: Annotated[str, Form(max_length=4096)] = "",
                      mute: Annotated[bool, Form()] = False,
                      svc: Services = Depends(services),
                      principal: fv.Principal = Depends(current_principal)) -> Response:
    """Save the bot's options of this group (``params``), validated and audited.

    Keys the form does not know are kept; a blank warning removes the group's own.
    """
    principal.require(fv.Permission.WRITE_GROUPS)
    template = warning_template.replace("\r\n", "\n").strip()
    error = check_template(template)
    if error is not None:
        detail = await _detail(svc, group_id)
        return render(request, "group.html", {
            **detail, "notice": None, "params_error": error,
            "params": {"warning_template": warning_template, "mute": mute}}, status_code=422)
    group = await svc.store.groups.get(group_id)
    params = {k: v for k, v in group.params.items() if k != "warning_template"}
    if template:
        params["warning_template"] = template
    params["mute"] = mute
    await svc.store.groups.update(group_id, params=params,
                                  actor=actor_of(request, principal, svc))
    return _back(group_id, "Params saved.")


@router.post("/groups/{group_id}/channels", dependencies=[Depends(check_csrf)])
async def link_channel(request: Request, group_id: GroupId,
                       channel_id: Annotated[int, Form(lt=0)],
                       title: Annotated[str, Form(min_length=1, max_length=255)],
                       username: Annotated[str, Form(max_length=64)] = "",
                       invite_link: Annotated[str, Form(max_length=2048)] = "",
                       svc: Services = Depends(services),
                       principal: fv.Principal = Depends(current_principal)) -> Response:
    """Enforce a channel in this group (created when new), audited."""
    principal.require(fv.Permission.WRITE_GROUPS)
    info = fv.ChannelInfo.parse({"id": channel_id, "title": title,
                                 "username": username.strip().lstrip("@") or None,
                                 "invite_link": invite_link.strip() or None})
    await svc.store.groups.link_channel(group_id, info, actor=actor_of(request, principal, svc))
    return _back(group_id, f"Channel {title} linked.")


@router.post("/groups/{group_id}/channels/{channel_id}/unlink",
             dependencies=[Depends(check_csrf)])
async def unlink_channel(request: Request, group_id: GroupId,
                         channel_id: Annotated[int, Path(lt=0)],
                         svc: Services = Depends(services),
                         principal: fv.Principal = Depends(current_principal)) -> Response:
    """Stop enforcing a channel in this group (the channel stays), audited."""
    principal.require(fv.Permission.WRITE_GROUPS)
    await svc.store.groups.unlink_channel(group_id, channel_id,
                                          actor=actor_of(request, principal, svc))
    return _back(group_id, "Channel unlinked.")
