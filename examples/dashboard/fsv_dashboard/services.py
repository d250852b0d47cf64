"""The parts every view uses, built once at start-up and closed at shutdown."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from fastapi import Request
from fastapi.templating import Jinja2Templates

import firestore_verify as fv
from fsv_dashboard.settings import DashboardSettings

__all__ = ["Derived", "Services", "services"]

T = TypeVar("T")


class Derived:
    """Values derived from a live value by one read, shared by every open page.

    The fan-out hands the *same* object to every subscriber of a stream; a read
    derived from it (the 24 h trend from the overview, a group's stats from its
    events) is made once per new value and key, however many pages show it.
    """

    def __init__(self) -> None:
        self._latest: dict[str, tuple[object, asyncio.Future[Any]]] = {}

    async def get(self, key: str, source: object, compute: Callable[[], Awaitable[T]]) -> T:
        """``compute()``'s result for ``source`` (computed once for the latest ``source``)."""
        entry = self._latest.get(key)
        if entry is None or entry[0] is not source:
            future: asyncio.Future[Any] = asyncio.ensure_future(compute())
            entry = (source, future)
            self._latest[key] = entry
        try:
            result: T = await asyncio.shield(entry[1])
        except Exception:
            if self._latest.get(key) is entry:
                del self._latest[key]
            raise
        return result


@dataclass
class Services:
    """The store and what hangs off it, shared by every request of this process."""

    #: The dashboard's settings.
    settings: DashboardSettings
    #: The Firestore store (the library's one connection).
    store: fv.Store
    #: Verifies session cookies, makes them from ID tokens, revokes them.
    auth: fv.Authenticator
    #: Email/password sign-in and password resets on Firebase Auth.
    sign_in: fv.PasswordSignIn
    #: One Firestore listener per stream for every open page.
    hub: fv.FanOut
    #: The Jinja2 templates.
    templates: Jinja2Templates
    #: Reads derived from live values, shared between pages.
    derived: Derived = field(default_factory=Derived)

    @property
    def accounts(self) -> fv.AdminAccounts:
        """Admin accounts (Firebase Auth user and ``admin_users`` document together)."""
        return fv.AdminAccounts(self.store, self.auth)


def services(request: Request) -> Services:
    """FastAPI dependency: this app's :class:`Services`."""
    found: Services = request.app.state.services
    return found
