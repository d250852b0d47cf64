"""Admin accounts: a Firebase Auth user and its ``admin_users`` document, kept in step.

The document is the source of truth (who gets in, with which role); the custom
claim ``role`` mirrors it for security rules. Every change commits the document
and its audit entry in one transaction first, then mirrors the claim and
revokes the user's tokens, so that a new role or a lock-out takes effect at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from firestore_verify.errors import AlreadyExistsError, InvalidInputError
from firestore_verify.models import Actor, AdminUser, Role

if TYPE_CHECKING:
    from firestore_verify.auth import Authenticator
    from firestore_verify.store import Store

__all__ = ["AdminAccounts"]


class AdminAccounts:
    """Invite, re-role, lock out and remove dashboard admins (Auth and Firestore together).

    Args:
        store: The store whose ``admin_users`` decide who gets in.
        auth: The authenticator of the same project.

    """

    def __init__(self, store: Store, auth: Authenticator) -> None:
        self.store = store
        self.auth = auth

    async def invite(
        self,
        email: str,
        role: Role | str,
        *,
        full_name: str | None = None,
        password: str | None = None,
        actor: Actor | None = None,
    ) -> AdminUser:
        """Make ``email`` an admin with ``role``: finds or creates the Firebase user.

        Audited as ``admin.create`` when ``actor`` is given. Without a
        ``password``, a new user sets one through a password-reset link.

        Raises:
            AlreadyExistsError: when that user is an admin already (change the role
                with `set_role()` instead).
            InvalidInputError: for a malformed email, weak password or unknown role.
        """
        wanted = role if isinstance(role, Role) else _role(role)
        uid = await self.auth.find_or_create_user(email, password=password,
                                                  display_name=full_name)
        if await self.store.admins.exists(uid):
            raise AlreadyExistsError("admin user", email)
        admin = await self.store.admins.create(
            AdminUser(uid=uid, email=email, full_name=full_name, role=wanted), actor=actor)
        await self.auth.set_role_claim(uid, wanted)
        return admin

    async def set_role(self, uid: str, role: Role | str, *,
                       actor: Actor | None = None) -> AdminUser:
        """Change the role (``admin.set_role``), mirror the claim, revoke the user's tokens.

        Raises:
            NotFoundError: when no admin has this uid.
            ConflictError: when this would demote the last active owner.
        """
        admin = await self.store.admins.set_role(uid, role, actor=actor)
        await self.auth.set_role_claim(uid, admin.role)
        return admin

    async def deactivate(self, uid: str, *, actor: Actor | None = None) -> AdminUser:
        """Lock ``uid`` out (``admin.deactivate``) and revoke their tokens at once.

        Raises:
            NotFoundError: when no admin has this uid.
            ConflictError: when this would lock out the last active owner.
        """
        admin = await self.store.admins.deactivate(uid, actor=actor)
        await self.auth.revoke(uid)
        return admin

    async def activate(self, uid: str, *, actor: Actor | None = None) -> AdminUser:
        """Let ``uid`` in again (``admin.activate``).

        Raises:
            NotFoundError: when no admin has this uid.
        """
        return await self.store.admins.activate(uid, actor=actor)

    async def delete(self, uid: str, *, actor: Actor | None = None) -> bool:
        """Remove the admin (``admin.delete``) and revoke their tokens; the Auth user stays.

        Returns whether there was such an admin.

        Raises:
            ConflictError: when this would delete the last active owner.
        """
        deleted = await self.store.admins.delete(uid, actor=actor)
        if deleted:
            await self.auth.revoke(uid)
        return deleted


def _role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise InvalidInputError(
            f"unknown role {value!r}; use one of {', '.join(r.value for r in Role)}.",
            errors=[f"role: one of {', '.join(r.value for r in Role)}"],
        ) from None
