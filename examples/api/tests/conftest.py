"""Fixtures for the admin API's tests: the real app on the Firestore and Auth emulators.

``world``   an admin of each role (and an inactive admin, and a signed-in non-admin),
            each with a fresh Firebase ID token from the Auth emulator.
``api``     an ``httpx.AsyncClient`` on the app (lifespan run), sharing ``admin_store``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest
from fastapi import FastAPI
from fsv_api import ApiSettings, create_app

import firestore_verify as fv
from firestore_verify.testing import AuthEmulator, add_admin

PASSWORD = "correct horse battery"
ROLES = ("owner", "admin", "viewer")


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    """google-cloud-firestore's AsyncClient runs on asyncio only."""
    return "asyncio"


@dataclass
class World:
    """The users of one test and their ID tokens."""

    project: str
    emulator: AuthEmulator
    uids: dict[str, str] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)

    def headers(self, who: str) -> dict[str, str]:
        """``Authorization`` header of ``who`` (a role, ``inactive`` or ``stranger``)."""
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def sign_in(self, who: str) -> str:
        """A fresh ID token of ``who`` (after a revocation, for instance)."""
        self.tokens[who] = self.emulator.sign_in(self.project, f"{who}@example.org", PASSWORD)
        return self.tokens[who]


@pytest.fixture
async def world(admin_store: fv.Store, auth_emulator: AuthEmulator, auth_project: str) -> World:
    """Owner, admin, viewer, an inactive admin and a stranger, all signed in."""
    found = World(auth_project, auth_emulator)
    for who in (*ROLES, "inactive", "stranger"):
        found.uids[who], found.tokens[who] = await add_admin(
            admin_store, auth_emulator, f"{who}@example.org", PASSWORD, role=_role(who),
            active=who != "inactive")
    return found


def _role(who: str) -> fv.Role | None:
    """Each role is itself; the inactive user is an admin; the stranger is none."""
    return fv.Role(who) if who in ROLES else fv.Role.ADMIN if who == "inactive" else None


def settings(**overrides: object) -> ApiSettings:
    """Test settings: plain-HTTP cookies, limits high enough not to get in the way."""
    values: dict[str, object] = {"cookie_secure": False, "read_rate": "10000/minute",
                                 "write_rate": "10000/minute", "signin_rate": "1000/minute"}
    values.update(overrides)
    return ApiSettings(**values)  # type: ignore[arg-type]


@pytest.fixture
def app(admin_store: fv.Store, authenticator: fv.Authenticator) -> FastAPI:
    """The API on the test's store and authenticator."""
    return create_app(settings(), store=admin_store, authenticator=authenticator)


@pytest.fixture
async def api(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client on the app, its lifespan running."""
    async with app.router.lifespan_context(app), httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        yield client
