"""Dashboard users, the audit trail and runtime configuration."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from firestore_verify.errors import ConflictError, InvalidInputError, NotFoundError
from firestore_verify.models import Actor, AdminUser, AuditEntry, ConfigEntry, Role
from firestore_verify.models._base import plain_value
from firestore_verify.repositories._audit import stage_audit
from firestore_verify.repositories._base import Page, Repository, run_transaction

__all__ = ["MASK", "AdminRepository", "AuditRepository", "ConfigRepository"]

MASK = "********"
"""What a sensitive value reads as, in audit entries and masked reads."""


class AdminRepository(Repository[AdminUser]):
    """``admin_users``, keyed by Firebase Auth uid.

    ``role`` and ``is_active`` change only through `set_role()`,
    `deactivate()` and `activate()`, which (like `delete()`) refuse
    to leave the dashboard without an active owner.
    """

    model = AdminUser
    resource = "admin user"
    audit_type = "admin"
    guarded = frozenset({"role", "is_active"})

    async def _active_owners(self, tx: firestore.AsyncTransaction) -> set[str]:
        query = (self.collection.where(filter=FieldFilter("role", "==", Role.OWNER.value))
                 .where(filter=FieldFilter("is_active", "==", True)).limit(2))
        return {snap.id for snap in await query.get(transaction=tx)}

    async def _change(
        self, uid: str, verb: str, changes: dict[str, Any], actor: Actor | None,
        *, delete: bool = False,
    ) -> AdminUser | None:
        """Apply ``changes`` (or delete) in one transaction, keeping an active owner."""
        ref = self.ref(uid)

        async def body(tx: firestore.AsyncTransaction) -> AdminUser | None:
            snap = await ref.get(transaction=tx)
            if not snap.exists:
                raise NotFoundError(self.resource, uid)
            current = self._from_snapshot(snap)
            owners = await self._active_owners(tx)
            fields = {k: v for k, v in changes.items() if getattr(current, k) != v}
            if not fields and not delete:
                return current
            stays_owner = not delete and changes.get("role", current.role) == Role.OWNER \
                and changes.get("is_active", current.is_active)
            if owners == {uid} and not stays_owner:
                raise ConflictError(
                    f"{current.email} is the last active owner: make another admin an "
                    "owner first, so someone can still manage admins."
                )
            if delete:
                tx.delete(ref)
                self._stage(tx, actor, verb, uid, old_value=self._audited(current))
                return None
            updated = current.model_copy(update=fields)
            tx.update(ref, plain_value(fields))
            self._stage(tx, actor, verb, uid, **self._diff(current, updated, fields))
            return updated

        return await run_transaction(self._store, body)

    async def set_role(self, uid: str, role: Role | str, *,
                       actor: Actor | None = None) -> AdminUser:
        """Give ``uid`` another role (audited as ``admin.set_role``).

        Mirror it into the Firebase custom claim (and revoke the user's tokens)
        with the authenticator afterwards, so it takes effect at once.

        Raises:
            NotFoundError: when no admin has this uid.
            ConflictError: when this would demote the last active owner.
            InvalidInputError: for an unknown role.
        """
        try:
            parsed = Role(role)
        except ValueError:
            raise InvalidInputError(
                f"unknown role {role!r}; use one of {', '.join(r.value for r in Role)}."
            ) from None
        result = await self._change(uid, "set_role", {"role": parsed}, actor)
        assert result is not None
        return result

    async def deactivate(self, uid: str, *, actor: Actor | None = None) -> AdminUser:
        """Shut ``uid`` out of the dashboard, keeping the record (``admin.deactivate``).

        Raises:
            NotFoundError: when no admin has this uid.
            ConflictError: when this would deactivate the last active owner.
        """
        result = await self._change(uid, "deactivate", {"is_active": False}, actor)
        assert result is not None
        return result

    async def activate(self, uid: str, *, actor: Actor | None = None) -> AdminUser:
        """Let a deactivated admin in again (``admin.activate``).

        Raises:
            NotFoundError: when no admin has this uid.
        """
        result = await self._change(uid, "activate", {"is_active": True}, actor)
        assert result is not None
        return result

    async def delete(self, key: object, *, actor: Actor | None = None) -> bool:
        """Delete an admin (``admin.delete``); deleting a missing one returns ``False``.

        Raises:
            ConflictError: when this would delete the last active owner.
        """
        try:
            await self._change(self.key(key), "delete", {}, actor, delete=True)
        except NotFoundError:
            return False
        return True

    async def record_login(self, uid: str) -> AdminUser:
        """Stamp ``last_login`` with the server time.

        Raises:
            NotFoundError: when no admin has this uid.

        """
        try:
            await self.ref(uid).update({"last_login": firestore.SERVER_TIMESTAMP},
                                      **self._store.calls.options)
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

    async def set_many(
        self,
        values: Mapping[str, Any],
        *,
        actor: Actor | None = None,
        updated_by: str | None = None,
        descriptions: Mapping[str, str] | None = None,
        sensitive: Collection[str] = (),
        defaults: Mapping[str, Any] | None = None,
    ) -> list[str]:
        """Create or replace several values in one transaction; return the keys that changed.

        Keys whose value already equals the new one (stored, or ``defaults``
        when nothing is stored) are left alone. With
        ``actor``, one audit entry per changed key (action ``config.set``)
        commits in the same transaction, so the entries exist exactly when the
        change does. Values of sensitive entries (in ``sensitive``, or already
        stored as sensitive) read as `MASK` in the audit entries.

        Args:
            values: The new value of each key.
            actor: Who makes the change (audited); ``updated_by`` defaults to its uid.
            updated_by: Stored in each changed entry.
            descriptions: Descriptions to store with the entries (others keep theirs).
            sensitive: Keys whose values are secrets.
            defaults: The value a key without an entry stands for.

        """
        keys = [self.key(key) for key in values]
        if not keys:
            return []
        refs = [self.ref(key) for key in keys]
        if actor is not None and updated_by is None:
            updated_by = actor.uid
        notes = dict(descriptions or {})
        secret = set(sensitive)
        implied = dict(defaults or {})

        def shown(value: Any, hidden: bool) -> Any:
            return MASK if hidden and value is not None else value

        async def body(tx: firestore.AsyncTransaction) -> list[str]:
            stored = {snap.id: self._from_snapshot(snap) async for snap in
                      self._store.client.get_all(refs, transaction=tx) if snap.exists}
            changed: list[str] = []
            for key, ref in zip(keys, refs, strict=True):
                value, current = values[key], stored.get(key)
                hidden = key in secret or (current is not None and current.is_sensitive)
                if current is None and key in implied and implied[key] == value:
                    continue
                if current is not None and current.value == value and (
                        current.is_sensitive == hidden):
                    continue
                entry = ConfigEntry(
                    key=key, value=value, updated_by=updated_by, is_sensitive=hidden,
                    description=notes.get(key, current.description if current else None),
                )
                tx.set(ref, entry.to_document())
                stage_audit(self._store, tx, actor, "config.set", "config", key,
                            old_value=None if current is None else shown(current.value, hidden),
                            new_value=shown(value, hidden))
                changed.append(key)
            return changed

        return await run_transaction(self._store, body)
