"""Each role gets exactly its rights on every endpoint, from the library's one permission table."""

from __future__ import annotations

import itertools
import time
from typing import Any

import httpx
import pytest
from conftest import ROLES, World

import firestore_verify as fv
from firestore_verify.testing import AuthEmulator

pytestmark = pytest.mark.anyio

GROUP, CHANNEL = -1001, -2001
_ids = itertools.count(3001)

# (method, path, body or a function of the caller giving one, the permission it needs)
Endpoint = tuple[str, str, Any, fv.Permission | None]
ENDPOINTS: list[Endpoint] = [
    ("GET", "/api/v1/auth/me", None, None),
    ("GET", "/api/v1/dashboard/stats", None, fv.Permission.READ_DASHBOARD),
    ("GET", "/api/v1/dashboard/activity", None, fv.Permission.READ_DASHBOARD),
    ("GET", "/api/v1/groups?q=cry", None, fv.Permission.READ_GROUPS),
    ("GET", f"/api/v1/groups/{GROUP}", None, fv.Permission.READ_GROUPS),
    ("PATCH", f"/api/v1/groups/{GROUP}", {"title": "Crypto Chat"}, fv.Permission.WRITE_GROUPS),
    ("POST", f"/api/v1/groups/{GROUP}/channels", {"id": CHANNEL, "title": "News"},
     fv.Permission.WRITE_GROUPS),
    ("DELETE", f"/api/v1/groups/{GROUP}/channels/-2999", None, fv.Permission.WRITE_GROUPS),
    ("POST", "/api/v1/groups/bulk", {"group_ids": [GROUP], "enabled": True},
     fv.Permission.WRITE_GROUPS),
    ("GET", "/api/v1/channels", None, fv.Permission.READ_CHANNELS),
    ("GET", f"/api/v1/channels/{CHANNEL}", None, fv.Permission.READ_CHANNELS),
    ("POST", "/api/v1/channels", lambda: {"id": -next(_ids), "title": "New"},
     fv.Permission.WRITE_CHANNELS),
    ("PATCH", f"/api/v1/channels/{CHANNEL}", {"title": "News"}, fv.Permission.WRITE_CHANNELS),
    ("GET", "/api/v1/config", None, fv.Permission.READ_CONFIG),
    ("PUT", "/api/v1/config", {"changes": {"cache.positive_ttl": 300}},
     fv.Permission.WRITE_CONFIG),
    ("GET", "/api/v1/database/collections", None, fv.Permission.READ_DATABASE),
    ("GET", "/api/v1/database/collections/protected_groups", None, fv.Permission.READ_DATABASE),
    ("GET", f"/api/v1/database/collections/protected_groups/documents/{GROUP}", None,
     fv.Permission.READ_DATABASE),
    ("GET", "/api/v1/logs/verifications", None, fv.Permission.READ_LOGS),
    ("GET", "/api/v1/logs/verifications/export", None, fv.Permission.READ_LOGS),
    ("GET", "/api/v1/logs/audit", None, fv.Permission.READ_AUDIT),
    ("GET", "/api/v1/audit", None, fv.Permission.READ_AUDIT),
    ("GET", "/api/v1/analytics/verifications?period=30d", None, fv.Permission.READ_ANALYTICS),
    ("GET", "/api/v1/analytics/users?period=24h", None, fv.Permission.READ_ANALYTICS),
    ("GET", "/api/v1/analytics/users/export", None, fv.Permission.READ_ANALYTICS),
    ("GET", "/api/v1/admins", None, fv.Permission.MANAGE_ADMINS),
    ("POST", "/api/v1/admins", lambda: {"email": f"new{next(_ids)}@example.org",
                                        "role": "viewer"}, fv.Permission.MANAGE_ADMINS),
    ("DELETE", "/api/v1/admins/nobody", None, fv.Permission.MANAGE_ADMINS),
]


async def call(api: httpx.AsyncClient, endpoint: Endpoint,
               headers: dict[str, str]) -> httpx.Response:
    method, path, body, _ = endpoint
    payload = body() if callable(body) else body
    return await api.request(method, path, json=payload, headers=headers)


@pytest.fixture
async def data(admin_store: fv.Store) -> None:
    await admin_store.groups.protect(fv.GroupInfo(id=GROUP, title="Crypto Chat"),
                                     fv.OwnerInfo(id=42),
                                     [fv.ChannelInfo(id=CHANNEL, title="News")])


async def test_every_role_gets_exactly_its_rights(api: httpx.AsyncClient, world: World,
                                                  data: None) -> None:
    for role in ROLES:
        for endpoint in ENDPOINTS:
            response = await call(api, endpoint, world.headers(role))
            permission = endpoint[3]
            allowed = permission is None or permission in fv.ROLE_PERMISSIONS[fv.Role(role)]
            where = f"{role} {endpoint[0]} {endpoint[1]}: {response.status_code} {response.text}"
            if allowed:
                assert response.status_code in (200, 201, 204, 404), where
            else:
                assert response.status_code == 403, where
                assert response.headers["content-type"] == "application/problem+json"
                assert permission.value in response.json()["detail"], where


async def test_nobody_else_gets_in(api: httpx.AsyncClient, world: World, data: None) -> None:
    refused = {
        "anonymous": {},
        "stranger": world.headers("stranger"),  # a valid Firebase user, but no admin
        "inactive": world.headers("inactive"),
        "garbage": {"Authorization": "Bearer not-a-token"},
        "wrong scheme": {"Authorization": f"Basic {world.tokens['owner']}"},
        # The owner's uid in a token for another project, and one that expired.
        "other project": {"Authorization": "Bearer " + AuthEmulator.forge_id_token(
            "demo-elsewhere", world.uids["owner"])},
        "expired": {"Authorization": "Bearer " + AuthEmulator.forge_id_token(
            world.project, world.uids["owner"], issued_at=time.time() - 7200)},
    }
    for who, headers in refused.items():
        for endpoint in ENDPOINTS:
            response = await call(api, endpoint, headers)
            assert response.status_code == 401, (who, endpoint[:2], response.text)
            body = response.json()
            assert (body["status"], body["title"]) == (401, "Not signed in")
            assert body["request_id"] == response.headers["x-request-id"]
