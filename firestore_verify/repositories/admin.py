"""Dashboard users, the audit trail and runtime configuration."""

from __future__ import annotations

from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import firestore

from firestore_verify.errors import NotFoundError
from firestore_verify.models import Actor, AdminUser, AuditEntry, ConfigEntry, Role
from firestore_verify.repositories._audit import stage_audit
from firestore_verify.repositories._base import Page, Repository, run_transaction

__all__ = ["MASK", "AdminRepository", "AuditRepository", "ConfigRepository"]

#: What a sensitive value reads as, in audit entries and masked reads.
MASK = "********"


class AdminRepository(Repository[AdminUser]):
    """``admin_users``, keyed by Firebase Auth uid."""

    model = AdminUser
    resource = "admin user"

    async def record_login(self, uid: str) -> AdminUser:
        """Stamp ``last_login`` with the server time.

        Raises:
            NotFoundError: when no admin has this uid.

        """
        try:
            await self.ref(uid).update({"last_login": firestore.SERVER_TIMESTAMP})
        except gexc.NotFound:
            raise NotFoundError(self.resource, uid) from None
        return await self.get(uid)

    async def by_role(self, role: Role, *, limit: int = 100) -> Page[AdminUser]:
        """Active admins with ``role``."""
        return await self.list(limit=limit, role=role, is_active=True)


class AuditRepository(Repository[AuditEntry]):
    """``admin_audit_log``: append-only record of admin actions."""

    model = AuditEntry
    resource = "audit entry"

    async def record(
        self,
        actor_uid: str,
        action: str,
        resource_type: str,
        resource_id: str | None = None,
        *,
        old_value: Any = None,
        new_value: Any = None,
        ip_address: str | None = None,
        user_agent: str | None = None,
    ) -> AuditEntry:
        """Append one entry (server-stamped ``created_at``)."""
        return await self.create(AuditEntry(
            actor_uid=actor_uid, action=action, resource_type=resource_type,
            resource_id=resource_id, old_value=old_value, new_value=new_value,
            ip_address=ip_address, user_agent=user_agent,
        ))

    async def latest(self, *, limit: int = 50, cursor: str | None = None,
                     **where: Any) -> Page[AuditEntry]:
        """Entries newest first."""
        return await self.list(limit=limit, cursor=cursor, order_by="created_at",
                               descending=True, **where)


class ConfigRepository(Repository[ConfigEntry]):
    """``admin_config``: runtime settings by key."""

    model = ConfigEntry
    resource = "config entry"

    async def value(self, key: str, default: Any = None) -> Any:
        """The value under ``key``, or ``default`` when unset."""
        entry = await self.find(key)
        return default if entry is None else entry.value

    async def set(
        self,
        key: str,
        value: Any,
        *,
        updated_by: str | None = None,
        description: str | None = None,
        is_sensitive: bool | None = None,
        actor: Actor | None = None,
    ) -> ConfigEntry:
        """Create or replace the value under ``key`` (one transaction).

        With ``actor``, the audit entry (action ``config.set``, old and new value,
        both masked when the entry is sensitive) commits in the same transaction;
        ``updated_by`` defaults to the actor's uid.
        """
        ref = self.ref(key)
        if actor is not None and updated_by is None:
            updated_by = actor.uid

        async def body(tx: firestore.AsyncTransaction) -> None:
            snap = await ref.get(transaction=tx)
            current = self._from_snapshot(snap) if snap.exists else None
            entry = ConfigEntry(
                key=key, value=value, updated_by=updated_by,
                description=description if description is not None
                else (current.description if current else None),
                is_sensitive=is_sensitive if is_sensitive is not None
                else (current.is_sensitive if current else False),
            )
            tx.set(ref, entry.to_document())
            hidden = entry.is_sensitive
            stage_audit(self._store, tx, actor, "config.set", "config", key,
                        old_value=None if current is None else
                        (MASK if hidden else current.value),
                        new_value=MASK if hidden else value)

        await run_transaction(self._store, body)
        return await self.get(key)
