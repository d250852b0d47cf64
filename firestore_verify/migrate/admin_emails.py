"""Legacy admins without a ``firebase_uid``, resolved by their email address.

``migrate --resolve-admins-by-email`` hands the admins that
`build_catalog()` set aside
(`unresolved`) to a resolver:

* `AuthResolver` (a real run) finds or creates the Firebase Auth user
  with that email and sets its ``role`` claim, but only while
  ``admin_users/{uid}`` does not hold that role yet: the claim is set before
  the document is written, so a stored document with the role means the claim
  was mirrored, and a re-run touches neither Auth nor the user's tokens;
* `StoredResolver` (a dry run, ``check``) never calls Firebase Auth: the
  uid is that of the ``admin_users`` document with the email, if any, else a
  stand-in ``unresolved-<legacy id>`` (the admin would be created).

An email Firebase Auth refuses (malformed) makes the row a bad row; an
unreachable Firebase Auth stops the run (re-running resumes).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from firestore_verify.errors import InvalidInputError
from firestore_verify.migrate.catalog import Catalog
from firestore_verify.migrate.report import MigrationReport
from firestore_verify.models import AdminUser

if TYPE_CHECKING:
    from firestore_verify.auth import Authenticator
    from firestore_verify.store import Store

__all__ = ["AdminResolver", "AuthResolver", "StoredResolver", "resolve_admins"]


class AdminResolver(Protocol):
    """Finds the Firebase uid of a legacy admin that has none."""

    async def uid(self, admin: AdminUser) -> str | None:
        """The uid of ``admin`` (whose ``uid`` is a placeholder), or ``None`` if not known."""
        ...


class AuthResolver:
    """Find or create the Firebase Auth user; mirror the role claim if not mirrored yet."""

    def __init__(self, auth: Authenticator) -> None:
        self.auth = auth

    async def uid(self, admin: AdminUser) -> str:
        """The uid of the Auth user with ``admin.email`` (created without a password if new)."""
        uid = await self.auth.find_or_create_user(admin.email, display_name=admin.full_name)
        stored = await self.auth.store.admins.find(uid)
        if stored is None or stored.role != admin.role:
            await self.auth.set_role_claim(uid, admin.role)
        return uid


class StoredResolver:
    """The uid of the stored ``admin_users`` document with the email; no Auth calls."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def uid(self, admin: AdminUser) -> str | None:
        """The uid of the one admin stored with ``admin.email``, else ``None``."""
        found = [a.uid async for a in self.store.admins.iterate(page_size=2, email=admin.email)]
        return found[0] if len(found) == 1 else None


async def resolve_admins(catalog: Catalog, report: MigrationReport,
                         resolver: AdminResolver) -> None:
    """Move `Catalog.unresolved` into the catalog's admins, with their uids."""
    for key, legacy_id, admin in catalog.unresolved:
        try:
            uid = await resolver.uid(admin) or f"unresolved-{legacy_id}"
        except InvalidInputError as exc:
            _bad(catalog, report, key, legacy_id, f"email: Firebase Auth refused it ({exc})")
            continue
        if uid in catalog.admins:
            _bad(catalog, report, key, legacy_id, f"firebase_uid: empty, and the Firebase user "
                 f"of {admin.email} ({uid!r}) is another admin user's")
            continue
        catalog.admins[uid] = admin.model_copy(update={"uid": uid})
        catalog.admin_uids[legacy_id] = uid
    catalog.unresolved.clear()


def _bad(catalog: Catalog, report: MigrationReport, key: Any, legacy_id: str,
         reason: str) -> None:
    report.bad("admin_users", key if isinstance(key, (int, str)) else str(key), reason)
    catalog.bad_keys.setdefault("admin_users", set()).add(legacy_id)
