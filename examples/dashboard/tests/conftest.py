"""Fixtures for the dashboard's tests: the real app on the Firestore and Auth emulators.

``world``     an admin of each role (and an inactive admin, and a non-admin user).
``dashboard`` an ``httpx.AsyncClient`` on the app (lifespan run), sharing ``admin_store``.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest
from fastapi import FastAPI
from fsv_dashboard import DashboardSettings, create_app

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
    """The users of one test."""

    project: str
    emulator: AuthEmulator
    uids: dict[str, str] = field(default_factory=dict)

    @staticmethod
    def email(who: str) -> str:
        """The email address of ``who``."""
        return f"{who}@example.org"


async def make_world(store: fv.Store, emulator: AuthEmulator) -> World:
    """Owner, admin, viewer, an inactive admin and a stranger (no admin document)."""
    found = World(store.project, emulator)
    for who in (*ROLES, "inactive", "stranger"):
        role = fv.Role(who) if who in ROLES else fv.Role.ADMIN if who == "inactive" else None
        found.uids[who], _ = await add_admin(store, emulator, World.email(who), PASSWORD,
                                             role=role, active=who != "inactive")
    return found


@pytest.fixture
async def world(admin_store: fv.Store, auth_emulator: AuthEmulator, auth_project: str) -> World:
    """The users of one test, on its own ``demo-`` project."""
    return await make_world(admin_store, auth_emulator)


def settings(**overrides: object) -> DashboardSettings:
    """Test settings: plain-HTTP cookies."""
    values: dict[str, object] = {"cookie_secure": False, "page_size": 5}
    values.update(overrides)
    return DashboardSettings(**values)  # type: ignore[arg-type]


@pytest.fixture
def app(admin_store: fv.Store, authenticator: fv.Authenticator) -> FastAPI:
    """The dashboard on the test's store and authenticator."""
    return create_app(settings(), store=admin_store, authenticator=authenticator)


@pytest.fixture
async def dashboard(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client on the app, its lifespan running."""
    async with app.router.lifespan_context(app), httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        yield client


def csrf_of(html: str) -> str:
    """The CSRF token embedded in a page's forms."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


async def sign_in(client: httpx.AsyncClient, who: str, password: str = PASSWORD) -> httpx.Response:
    """Post the login form as ``who``; return the response (303 on success)."""
    page = await client.get("/login")
    return await client.post("/login", data={"email": World.email(who), "password": password,
                                             "csrf_token": csrf_of(page.text), "next": "/"})
