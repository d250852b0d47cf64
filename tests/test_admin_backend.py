"""admin_backend(): what an admin app opens at start-up, and closes (only) what it opened."""

from __future__ import annotations

import pytest

import firestore_verify as fv
from firestore_verify.testing import AuthEmulator, FirestoreEmulator

pytestmark = pytest.mark.anyio


async def test_adopted_parts_stay_open(admin_store: fv.Store,
                                       authenticator: fv.Authenticator) -> None:
    async with fv.admin_backend(store=admin_store, authenticator=authenticator) as backend:
        assert (backend.store, backend.auth) == (admin_store, authenticator)
        assert backend.accounts.store is admin_store
        assert backend.hub.streams == 0
    await authenticator.check()  # still open: it was lent, not owned
    assert (await admin_store.stats.get()).total_groups == 0


async def test_own_parts_come_from_the_environment(firestore_emulator: FirestoreEmulator,
                                                   auth_emulator: AuthEmulator,
                                                   auth_project: str) -> None:
    env = {"FIREBASE_PROJECT_ID": auth_project, "FIRESTORE_EMULATOR_HOST": firestore_emulator.host,
           "FIREBASE_AUTH_EMULATOR_HOST": auth_emulator.host}
    async with fv.admin_backend(env=env, prefix="app_") as backend:
        assert (backend.store.project, backend.store.prefix) == (auth_project, "app_")
        assert backend.auth.emulator_host == auth_emulator.host
        await backend.auth.check()
        auth = backend.auth
    with pytest.raises(fv.ConfigurationError, match="closed"):
        await auth.check()


async def test_missing_configuration_is_one_clear_error() -> None:
    with pytest.raises(fv.ConfigurationError, match="FIREBASE_PROJECT_ID"):
        async with fv.admin_backend(env={"FIRESTORE_EMULATOR_HOST": "127.0.0.1:1"}):
            pass
