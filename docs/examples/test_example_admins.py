import pytest

import firestore_verify as fv
from firestore_verify.auth import Authenticator
from firestore_verify.testing import AuthEmulator, add_admin

pytestmark = pytest.mark.anyio  # run every async test of this module with anyio


async def test_viewers_read(admin_store: fv.Store, auth_emulator: AuthEmulator,
                            authenticator: Authenticator) -> None:
    uid, token = await add_admin(admin_store, auth_emulator, "ann@example.org",
                                 "pass-word-1", role="viewer")
    principal = await authenticator.verify_id_token(token)
    assert (principal.uid, principal.role.value) == (uid, "viewer")
    assert principal.can(fv.Permission.READ_DASHBOARD)
    assert not principal.can(fv.Permission.WRITE_GROUPS)  # viewers read, never write
