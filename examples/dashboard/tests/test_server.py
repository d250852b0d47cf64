"""The dashboard's forms, sessions and permissions, over ASGI (no browser)."""

from __future__ import annotations

import time

import anyio
import httpx
import pytest
from conftest import World, csrf_of, sign_in

import firestore_verify as fv
from firestore_verify.testing import AuthEmulator

pytestmark = pytest.mark.anyio

GROUP = -1001
OWNER = fv.OwnerInfo(id=42, username="ada_owner")


async def protect(store: fv.Store, group_id: int = GROUP, title: str = "Alpha") -> None:
    """A protected group with one channel, through the library."""
    await store.groups.protect(group=fv.GroupInfo(id=group_id, title=title), owner=OWNER,
                               channels=[fv.ChannelInfo(id=group_id * 1000, title=f"{title} news")])


async def test_pages_need_a_session(dashboard: httpx.AsyncClient) -> None:
    for path in ("/", "/groups", "/channels", f"/groups/{GROUP}"):
        response = await dashboard.get(path)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login?next=")
    stream = await dashboard.get("/stream/dashboard")
    assert stream.status_code == 401


async def test_login_sets_a_strict_httponly_cookie_and_logout_revokes(
    dashboard: httpx.AsyncClient, world: World, authenticator: fv.Authenticator,
) -> None:
    response = await sign_in(dashboard, "admin")
    assert response.status_code == 303, response.text
    cookie = response.headers["set-cookie"]
    assert "fsv_dash_session=" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    session = dashboard.cookies["fsv_dash_session"]
    page = await dashboard.get("/")
    assert page.status_code == 200
    assert "admin@example.org" in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    # Firebase revokes what was issued *before* the revocation's second: sign out in a
    # later second than the cookie's, as any real user does.
    issued = (await authenticator.verify_session_cookie(session)).claims["iat"]
    await anyio.sleep(max(0.0, issued + 1 - time.time()))
    out = await dashboard.post("/logout", data={"csrf_token": csrf_of(page.text)})
    assert out.status_code == 303
    assert out.headers["location"] == "/login?bye=1"
    with pytest.raises(fv.AuthenticationError, match="revoked"):
        await authenticator.verify_session_cookie(session)
    dashboard.cookies.set("fsv_dash_session", session)  # a stolen cookie no longer works
    assert (await dashboard.get("/")).status_code == 303


@pytest.mark.parametrize("who", ["inactive", "stranger"])
async def test_only_active_admins_get_in(dashboard: httpx.AsyncClient, world: World,
                                         who: str) -> None:
    response = await sign_in(dashboard, who)
    assert response.status_code == 200
    assert 'role="alert"' in response.text
    assert "fsv_dash_session" not in dashboard.cookies


async def test_wrong_password_shows_the_form_again(dashboard: httpx.AsyncClient,
                                                   world: World) -> None:
    response = await sign_in(dashboard, "admin", password="wrong")
    assert response.status_code == 200
    assert "wrong email address or password" in response.text


async def test_form_posts_need_the_csrf_token(dashboard: httpx.AsyncClient, world: World) -> None:
    await dashboard.get("/login")
    response = await dashboard.post("/login", data={"email": World.email("admin"),
                                                    "password": "x", "csrf_token": "forged"})
    assert response.status_code == 403
    assert "fsv_dash_session" not in dashboard.cookies


async def test_forgot_password_sends_a_reset_code(dashboard: httpx.AsyncClient, world: World,
                                                  auth_emulator: AuthEmulator) -> None:
    page = await dashboard.get("/forgot")
    for address in (World.email("admin"), "nobody@example.org"):
        response = await dashboard.post("/forgot", data={"email": address,
                                                         "csrf_token": csrf_of(page.text)})
        assert response.status_code == 200
        assert "on its way" in response.text
    codes = auth_emulator.oob_codes(world.project, request_type="PASSWORD_RESET")
    assert [c.email for c in codes] == [World.email("admin")]


async def test_empty_database_says_so_with_real_zeros(dashboard: httpx.AsyncClient,
                                                      world: World) -> None:
    await sign_in(dashboard, "viewer")
    page = await dashboard.get("/")
    assert page.status_code == 200
    assert 'id="empty-state"' in page.text
    assert "No verification events yet" in page.text
    groups = await dashboard.get("/groups")
    assert "No group is protected yet" in groups.text


async def test_dashboard_shows_the_recorded_figures(dashboard: httpx.AsyncClient, world: World,
                                                    admin_store: fv.Store) -> None:
    await protect(admin_store)
    await admin_store.verifications.write_many([
        fv.Verification(user_id=7, group_id=GROUP, status=fv.Status.SUCCESS),
        fv.Verification(user_id=8, group_id=GROUP, status=fv.Status.FAILED),
    ])
    await sign_in(dashboard, "viewer")
    page = (await dashboard.get("/")).text
    assert 'id="empty-state"' not in page
    assert "50.0%" in page  # one success out of two
    failed_only = (await dashboard.get("/?status=failed")).text
    assert failed_only.count('class="event s-failed"') == 1
    assert 'class="event s-success"' not in failed_only


async def test_viewer_sees_no_edit_controls_and_a_forced_post_is_refused(
    dashboard: httpx.AsyncClient, world: World, admin_store: fv.Store,
) -> None:
    await protect(admin_store)
    await sign_in(dashboard, "viewer")
    listing = await dashboard.get("/groups")
    detail = await dashboard.get(f"/groups/{GROUP}")
    for html in (listing.text, detail.text):
        assert 'id="bulk-actions"' not in html
        assert 'type="checkbox"' not in html
        assert "Disable protection" not in html
        assert "Unlink" not in html
        assert 'id="link-channel"' not in html
    token = csrf_of(detail.text)
    forced = [
        ("/groups/bulk", {"action": "disable", "group_id": str(GROUP)}),
        (f"/groups/{GROUP}/enabled", {"enabled": "false"}),
        (f"/groups/{GROUP}/channels", {"channel_id": "-5", "title": "X"}),
        (f"/groups/{GROUP}/channels/{GROUP * 1000}/unlink", {}),
    ]
    for path, data in forced:
        response = await dashboard.post(path, data={**data, "csrf_token": token})
        assert response.status_code == 403, path
    group = await admin_store.groups.get(GROUP)
    assert group.enabled
    assert group.channel_ids == [GROUP * 1000]
    assert (await admin_store.audit.list()).items == []


async def test_admin_changes_are_audited_with_the_actor(dashboard: httpx.AsyncClient,
                                                        world: World,
                                                        admin_store: fv.Store) -> None:
    await protect(admin_store)
    await protect(admin_store, -1002, "Beta")
    await sign_in(dashboard, "admin")
    listing = await dashboard.get("/groups")
    assert 'id="bulk-actions"' in listing.text
    token = csrf_of(listing.text)
    bulk = await dashboard.post("/groups/bulk", data={
        "action": "disable", "group_id": [str(GROUP), "-1002"], "csrf_token": token,
        "back": "/groups?status=all"}, headers={"User-Agent": "pytest-browser"})
    assert bulk.status_code == 303
    assert bulk.headers["location"].startswith("/groups?status=all&notice=Disabled+2")
    assert not (await admin_store.groups.get(GROUP)).enabled
    link = await dashboard.post(f"/groups/{GROUP}/channels", data={
        "channel_id": "-2002", "title": "Second", "username": "@second", "csrf_token": token})
    assert link.status_code == 303
    assert (await admin_store.groups.get(GROUP)).channel_ids == [GROUP * 1000, -2002]
    unlink = await dashboard.post(f"/groups/{GROUP}/channels/-2002/unlink",
                                  data={"csrf_token": token})
    assert unlink.status_code == 303
    enable = await dashboard.post(f"/groups/{GROUP}/enabled", data={"enabled": "true",
                                                                   "csrf_token": token})
    assert enable.status_code == 303
    entries = (await admin_store.audit.list(limit=50)).items
    assert len(entries) == 5
    assert {e.actor_uid for e in entries} == {world.uids["admin"]}
    assert any(e.user_agent == "pytest-browser" for e in entries)


async def test_bad_input_gets_a_clear_message(dashboard: httpx.AsyncClient, world: World,
                                              admin_store: fv.Store) -> None:
    await protect(admin_store)
    await sign_in(dashboard, "admin")
    token = csrf_of((await dashboard.get("/groups")).text)
    positive = await dashboard.post(f"/groups/{GROUP}/channels", data={
        "channel_id": "5", "title": "X", "csrf_token": token})
    assert positive.status_code == 422
    assert "channel_id" in positive.text
    missing = await dashboard.get("/groups/-999")
    assert missing.status_code == 404
    assert "Retry" in missing.text


async def test_groups_search_sort_and_pages(dashboard: httpx.AsyncClient, world: World,
                                            admin_store: fv.Store) -> None:
    for i in range(7):
        await protect(admin_store, -2000 - i, f"Group {i}")
    await protect(admin_store, -3000, "Other")
    await sign_in(dashboard, "viewer")
    first = (await dashboard.get("/groups")).text
    assert first.count("data-group-id=") == 5  # page_size
    assert 'id="next-page"' in first
    search = (await dashboard.get("/groups?q=oth")).text
    assert search.count("data-group-id=") == 1
    assert "Other" in search
    by_id = (await dashboard.get("/groups?q=-2003")).text
    assert by_id.count("data-group-id=") == 1
    desc = (await dashboard.get("/groups?sort=title&order=desc")).text
    assert desc.index("Other") < desc.index("Group 6")


async def test_analytics_and_logs_come_from_real_events(dashboard: httpx.AsyncClient,
                                                        world: World,
                                                        admin_store: fv.Store) -> None:
    await protect(admin_store)
    await admin_store.verifications.write_many([
        fv.Verification(user_id=7, group_id=GROUP, status=fv.Status.SUCCESS),
        fv.Verification(user_id=8, group_id=GROUP, status=fv.Status.ERROR, error_type="timeout"),
    ])
    await sign_in(dashboard, "admin")
    for period in ("24h", "7d", "30d", "90d"):
        page = await dashboard.get(f"/analytics?period={period}")
        assert page.status_code == 200
        assert 'id="heatmap"' in page.text
        assert 'id="empty-state"' not in page.text
    csv_export = await dashboard.get("/analytics/export.csv?period=7d")
    assert csv_export.headers["content-type"].startswith("text/csv")
    lines = csv_export.text.strip().splitlines()
    assert lines[0] == "start,total,success,failed,error,success_rate"
    assert lines[-1].split(",")[1:5] == ["2", "1", "0", "1"]
    logs = await dashboard.get("/logs?status=error")
    assert logs.text.count('class="event s-error"') == 1
    as_json = await dashboard.get(f"/logs/export.json?group={GROUP}")
    assert sorted(e["status"] for e in as_json.json()) == ["error", "success"]
    as_csv = await dashboard.get("/logs/export.csv?status=success")
    assert len(as_csv.text.strip().splitlines()) == 2


async def test_viewer_may_not_read_the_logs(dashboard: httpx.AsyncClient, world: World) -> None:
    await sign_in(dashboard, "viewer")
    page = await dashboard.get("/")
    assert 'href="/logs"' not in page.text
    assert 'href="/analytics"' in page.text
    assert (await dashboard.get("/logs")).status_code == 403
    assert (await dashboard.get("/logs/export.json")).status_code == 403
    assert (await dashboard.get("/stream/logs")).status_code == 403


async def test_a_folded_event_shows_how_many_checks_it_stands_for(
        dashboard: httpx.AsyncClient, world: World, admin_store: fv.Store) -> None:
    await protect(admin_store)
    await admin_store.verifications.write_many([
        fv.Verification(user_id=7, group_id=GROUP, status=fv.Status.SUCCESS, cached=True,
                        latency_ms=0.1, repeats=11),
        fv.Verification(user_id=8, group_id=GROUP, status=fv.Status.FAILED),
    ])
    await sign_in(dashboard, "viewer")
    page = (await dashboard.get("/")).text
    assert page.count("checks</span>") == 1
    assert "&times; 12 checks" in page
    assert "92.3%" in page  # 12 successes out of 13 checks
