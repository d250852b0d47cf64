"""What every admin app (an API, a dashboard) opens at start-up and closes at shutdown.

::

    async with fv.admin_backend(prefix="prod_") as backend:
        backend.store, backend.auth, backend.accounts, backend.hub  # ready to serve

A store or authenticator passed in is used as it is and left open (tests share
theirs); what the backend opens itself, it closes, in reverse order.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

from firestore_verify.admin_accounts import AdminAccounts
from firestore_verify.auth import Authenticator
from firestore_verify.fanout import FanOut
from firestore_verify.store import Store, connect

__all__ = ["AdminBackend", "admin_backend"]


@dataclass(frozen=True)
class AdminBackend:
    """The shared parts of an admin app: one of each per process."""

    store: Store
    """The Firestore store."""
    auth: Authenticator
    """Verifies ID tokens and session cookies against ``store.admins``."""
    accounts: AdminAccounts
    """Admin accounts, Firebase Auth and ``admin_users`` together."""
    hub: FanOut
    """One Firestore listener per live stream, shared by every connected client."""


@asynccontextmanager
async def admin_backend(
    *,
    store: Store | None = None,
    authenticator: Authenticator | None = None,
    database: str = "(default)",
    prefix: str = "",
    env: Mapping[str, str] | None = None,
) -> AsyncIterator[AdminBackend]:
    """Open (or adopt) the store and authenticator, and a fan-out hub; close what it opened.

    Raises:
        ConfigurationError: when the store or Firebase Auth is not configured.
    """
    async with AsyncExitStack() as stack:
        if store is None:
            store = await connect(database=database, prefix=prefix, env=env)
            stack.push_async_callback(store.close)
        if authenticator is None:
            authenticator = Authenticator(store, env=env)
            stack.push_async_callback(authenticator.close)
        hub = await stack.enter_async_context(FanOut())
        yield AdminBackend(store=store, auth=authenticator,
                           accounts=AdminAccounts(store, authenticator), hub=hub)
