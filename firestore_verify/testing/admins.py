"""Dashboard admins for tests: a signed-up Firebase user with its ``admin_users`` document."""

from __future__ import annotations

from firestore_verify.models import AdminUser, Role
from firestore_verify.store import Store
from firestore_verify.testing.auth_emulator import AuthEmulator

__all__ = ["add_admin"]


async def add_admin(
    store: Store,
    emulator: AuthEmulator,
    email: str,
    password: str,
    *,
    role: Role | str | None = Role.VIEWER,
    active: bool = True,
) -> tuple[str, str]:
    """Sign ``email`` up on the Auth emulator and make it an admin of ``store``.

    With ``role=None`` the user is only signed up (a Firebase user who is no
    admin). The project is the store's (a ``demo-`` one, as the emulator needs).

    Returns:
        ``(uid, id_token)``: the token is fresh, as a browser gets it at sign-in.

    """
    uid, token = emulator.sign_up(store.project, email, password)
    if role is not None:
        await store.admins.create(AdminUser(uid=uid, email=email, role=Role(role),
                                            is_active=active))
    return uid, token
