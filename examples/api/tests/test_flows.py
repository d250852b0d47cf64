"""End to end through the API: sessions, audited changes, errors, limits, operations."""

from __future__ import annotations

import csv
import io
import time
from datetime import datetime, timedelta, timezone

import anyio
import httpx
import pytest
from conftest import World, settings
from fsv_api import create_app

import firestore_verify as fv

pytestmark = pytest.mark.anyio

GROUP, NEWS, DEALS = -1001, -2001, -2002


@pytest.fixture
async def protected(admin_store: fv.Store) -> fv.ProtectedGroup:
    result = await admin_store.groups.protect(
        fv.GroupInfo(id=GROUP, title="Crypto Chat"), fv.OwnerInfo(id=42),
        [fv.ChannelInfo(id=NEWS, title="News", username="news")])
    return result.group


async def wait_past_second() -> None:
    """Firebase keeps revocation times in whole seconds: let the clock pass this one."""
    start = int(time.time())
    while int(time.time()) == start:
        await anyio.sleep(0.05)


async def test_session_cookie_with_csrf_and_sign_out(api: httpx.AsyncClient, world: World,
                                                     protected: fv.ProtectedGroup) -> None:
    response = await api.post("/api/v1/auth/session", json={"id_token": world.tokens["admin"]})
    assert response.status_code == 200, response.text
    me = response.json()
    assert (me["uid"], me["role"]) == (world.uids["admin"], "admin")
    assert "groups:write" in me["permissions"]
    assert "admins:manage" not in me["permissions"]
    session = response.cookies["fsv_session"]
    set_cookie = [v for k, v in response.headers.multi_items() if k == "set-cookie"]
    assert any(c.startswith("fsv_session=") and "HttpOnly" in c and "SameSite=strict" in c
               for c in set_cookie)
    csrf = me["csrf_token"]
    assert response.cookies["fsv_csrf"] == csrf

    assert (await api.get("/api/v1/auth/me")).json()["uid"] == world.uids["admin"]
    # A cookie-authenticated write needs the CSRF header, matching the cookie.
    patch = {"title": "Crypto Talk"}
    assert (await api.patch(f"/api/v1/groups/{GROUP}", json=patch)).status_code == 403
    forged = await api.patch(f"/api/v1/groups/{GROUP}", json=patch,
                             headers={"X-CSRF-Token": "guess"})
    assert forged.status_code == 403
    done = await api.patch(f"/api/v1/groups/{GROUP}", json=patch, headers={"X-CSRF-Token": csrf})
    assert done.status_code == 200
    assert done.json()["group"]["title"] == "Crypto Talk"

    await wait_past_second()
    out = await api.delete("/api/v1/auth/session", headers={"X-CSRF-Token": csrf})
    assert out.status_code == 204
    api.cookies.set("fsv_session", session)  # the old cookie, replayed
    assert (await api.get("/api/v1/auth/me")).status_code == 401
    # Revocation covers the ID tokens issued before it too.
    assert (await api.get("/api/v1/auth/me", headers=world.headers("admin"))).status_code == 401


async def test_disabled_and_revoked_users_are_refused(api: httpx.AsyncClient, world: World,
                                                      authenticator: fv.Authenticator) -> None:
    assert (await api.get("/api/v1/auth/me", headers=world.headers("viewer"))).status_code == 200
    world.emulator.disable_user(world.project, world.uids["viewer"])
    assert (await api.get("/api/v1/auth/me", headers=world.headers("viewer"))).status_code == 401
    await wait_past_second()
    await authenticator.revoke(world.uids["admin"])
    assert (await api.get("/api/v1/auth/me", headers=world.headers("admin"))).status_code == 401
    await wait_past_second()
    world.sign_in("admin")  # signing in again gives a token issued after the revocation
    assert (await api.get("/api/v1/auth/me", headers=world.headers("admin"))).status_code == 200


async def test_changes_and_their_audit_entries_match(api: httpx.AsyncClient, world: World,
                                                     admin_store: fv.Store,
                                                     protected: fv.ProtectedGroup) -> None:
    owner = {**world.headers("owner"), "User-Agent": "flows-test"}
    steps = [
        ("PATCH", f"/api/v1/groups/{GROUP}", {"title": "Crypto Talk", "enabled": False}),
        ("PATCH", f"/api/v1/groups/{GROUP}", {"title": "Crypto Talk"}),  # no change
        ("POST", f"/api/v1/groups/{GROUP}/channels", {"id": DEALS, "title": "Deals"}),
        ("DELETE", f"/api/v1/groups/{GROUP}/channels/{NEWS}", None),
        ("POST", "/api/v1/groups/bulk", {"group_ids": [GROUP, -1999], "enabled": True}),
        ("POST", "/api/v1/channels", {"id": -2003, "title": "Alerts"}),
        ("PATCH", "/api/v1/channels/-2003", {"username": "alerts"}),
        ("PUT", "/api/v1/config", {"changes": {"cache.positive_ttl": 120}}),
        ("PATCH", f"/api/v1/admins/{world.uids['viewer']}", {"role": "admin"}),
        ("PATCH", f"/api/v1/admins/{world.uids['viewer']}", {"is_active": False}),
        ("DELETE", f"/api/v1/admins/{world.uids['inactive']}", None),
    ]
    for method, path, body in steps:
        response = await api.request(method, path, json=body, headers=owner)
        assert response.status_code in (200, 201, 204), (method, path, response.text)
    page = await api.get("/api/v1/audit?limit=100", headers=owner)
    entries = list(reversed(page.json()["items"]))
    assert [(e["action"], e["resource_id"]) for e in entries] == [
        ("group.update", str(GROUP)),
        ("group.disable", str(GROUP)),
        ("group.link_channel", str(GROUP)),
        ("group.unlink_channel", str(GROUP)),
        ("group.enable", str(GROUP)),
        ("channel.create", "-2003"),
        ("channel.update", "-2003"),
        ("config.set", "cache.positive_ttl"),
        ("admin.set_role", world.uids["viewer"]),
        ("admin.deactivate", world.uids["viewer"]),
        ("admin.delete", world.uids["inactive"]),
    ]
    assert entries[0]["old_value"] == {"title": "Crypto Chat"}
    assert entries[0]["new_value"] == {"title": "Crypto Talk"}
    for entry in entries:
        assert (entry["actor_uid"], entry["user_agent"]) == (world.uids["owner"], "flows-test")
        assert entry["ip_address"]
    # Filters: by action, and by time.
    only = await api.get("/api/v1/audit?action=group.link_channel", headers=owner)
    assert [e["action"] for e in only.json()["items"]] == ["group.link_channel"]
    later = (datetime.now(timezone.utc) + timedelta(minutes=1)).isoformat()
    none = await api.get("/api/v1/audit", params={"since": later}, headers=owner)
    assert none.json()["items"] == []
    # The deactivated viewer is out at once.
    assert (await api.get("/api/v1/auth/me", headers=world.headers("viewer"))).status_code == 401


async def test_the_last_owner_stays(api: httpx.AsyncClient, world: World) -> None:
    owner = world.headers("owner")
    for method, body in (("PATCH", {"role": "admin"}), ("PATCH", {"is_active": False}),
                         ("DELETE", None)):
        response = await api.request(method, f"/api/v1/admins/{world.uids['owner']}",
                                     json=body, headers=owner)
        assert response.status_code == 409, response.text
        assert "last active owner" in response.json()["detail"]
    entries = (await api.get("/api/v1/audit", headers=owner)).json()["items"]
    assert entries == []  # nothing changed, so nothing was written


async def test_errors_are_problem_documents(api: httpx.AsyncClient, world: World,
                                            protected: fv.ProtectedGroup) -> None:
    owner = world.headers("owner")
    missing = await api.get("/api/v1/groups/-1999", headers=owner)
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    bad = await api.post("/api/v1/channels", json={"id": 5, "title": "", "extra": 1},
                         headers=owner)
    assert bad.status_code == 422
    fields = {e["field"] for e in bad.json()["errors"]}
    assert {"body.id", "body.title", "body.extra"} <= fields
    config = await api.put("/api/v1/config", json={"changes": {"cache.positive_ttl": -5,
                                                               "no.such": 1}}, headers=owner)
    assert config.status_code == 422
    assert len(config.json()["errors"]) == 2
    taken = await api.post("/api/v1/channels", json={"id": NEWS, "title": "News"}, headers=owner)
    assert taken.status_code == 409
    cursor = await api.get("/api/v1/groups?cursor=tampered", headers=owner)
    assert cursor.status_code == 422
    kept = await api.get("/api/v1/auth/me", headers={**owner, "X-Request-ID": "trace-42"})
    assert kept.headers["x-request-id"] == "trace-42"
    for response in (missing, bad, config, taken, cursor, kept):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"


async def test_an_empty_database_gives_zeros(api: httpx.AsyncClient, world: World) -> None:
    viewer = world.headers("viewer")
    stats = (await api.get("/api/v1/dashboard/stats", headers=viewer)).json()
    assert (stats["total_verifications"], stats["today"]["total"], stats["today_change"]) == (
        0, 0, None)
    for period in ("24h", "7d", "30d", "90d"):
        for kind in ("verifications", "users"):
            response = await api.get(f"/api/v1/analytics/{kind}?period={period}", headers=viewer)
            assert response.status_code == 200, (kind, period)
    trend = (await api.get("/api/v1/analytics/verifications?period=7d", headers=viewer)).json()
    assert len(trend["trend"]) == 7
    assert all(p["counts"]["total"] == 0 for p in trend["trend"])


async def test_events_reach_stats_logs_and_exports(api: httpx.AsyncClient, world: World,
                                                   admin_store: fv.Store,
                                                   protected: fv.ProtectedGroup) -> None:
    now = datetime.now(timezone.utc)
    events = [fv.Verification(user_id=7 + i % 3, group_id=GROUP, channel_id=NEWS,
                              status=fv.Status.SUCCESS if i % 2 else fv.Status.FAILED,
                              occurred_at=max(now - timedelta(seconds=i),
                                              now.replace(hour=0, minute=0, second=0)))
              for i in range(6)]
    await admin_store.verifications.write_many(events)
    admin = world.headers("admin")
    stats = (await api.get("/api/v1/dashboard/stats", headers=admin)).json()
    assert (stats["total_verifications"], stats["today"]["total"]) == (6, 6)
    assert stats["success_rate"] == 50.0
    failed = (await api.get("/api/v1/logs/verifications?status=failed", headers=admin)).json()
    assert len(failed["items"]) == 3
    exported = await api.get("/api/v1/logs/verifications/export", headers=admin)
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert exported.headers["content-type"].startswith("text/csv")
    assert sorted(r["id"] for r in rows) == sorted(e.id for e in events)
    as_json = await api.get("/api/v1/logs/verifications/export?format=json", headers=admin)
    assert len(as_json.json()) == 6
    detail = (await api.get(f"/api/v1/groups/{GROUP}", headers=admin)).json()
    assert detail["stats"]["today"]["total"] == 6
    assert len(detail["recent"]) == 6
    channel = (await api.get(f"/api/v1/channels/{NEWS}", headers=admin)).json()
    assert channel["today"]["total"] == 6
    assert [g["id"] for g in channel["groups"]] == [GROUP]


async def test_sign_ins_are_rate_limited_per_ip(admin_store: fv.Store,
                                                authenticator: fv.Authenticator,
                                                world: World) -> None:
    app = create_app(settings(signin_rate="5/15minutes"), store=admin_store,
                     authenticator=authenticator)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        codes = [(await client.post("/api/v1/auth/session", json={"id_token": "bad"})).status_code
                 for _ in range(6)]
        assert codes == [401] * 5 + [429]
        limited = await client.post("/api/v1/auth/session", json={"id_token": "bad"})
        assert int(limited.headers["retry-after"]) > 0
        assert limited.json()["status"] == 429


async def test_health_ready_and_metrics(api: httpx.AsyncClient, world: World) -> None:
    assert (await api.get("/health")).json() == {"status": "ok"}
    ready = await api.get("/ready")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "firestore": "ok", "auth": "ok"}
    await api.get("/api/v1/auth/me", headers=world.headers("viewer"))
    text = (await api.get("/metrics")).text
    assert 'fsv_api_request_seconds_count{method="GET",route="/api/v1/auth/me",status="200"}' \
        in text
    assert "fsv_api_open_streams 0.0" in text
    assert "fsv_api_listeners" in text
