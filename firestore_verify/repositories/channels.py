"""Enforced channels, kept in step with the refs that groups embed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from google.cloud import firestore

from firestore_verify.counters import increments, stats_ref
from firestore_verify.errors import AlreadyExistsError, InvalidInputError, NotFoundError
from firestore_verify.models import Actor, EnforcedChannel, ProtectedGroup
from firestore_verify.repositories._base import Repository, run_transaction

if TYPE_CHECKING:
    from firestore_verify.store import Store

__all__ = ["ChannelRepository"]

_REF_FIELDS = ("title", "username", "invite_link")


class ChannelRepository(Repository[EnforcedChannel]):
    """``enforced_channels``: CRUD whose writes keep the groups' embedded refs true."""

    model = EnforcedChannel
    resource = "enforced channel"
    audit_type = "channel"
    guarded = frozenset({"linked_groups"})

    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self._groups = store.collection(ProtectedGroup.collection)

    async def _read_groups(self, refs: list[firestore.AsyncDocumentReference],
                           tx: firestore.AsyncTransaction) -> list[Any]:
        # get_all() of no documents fails on the emulator (UNKNOWN): skip the call.
        if not refs:
            return []
        return [snap async for snap in self._store.client.get_all(refs, transaction=tx)]

    async def create(self, data: EnforcedChannel | Mapping[str, Any], *,
                     actor: Actor | None = None) -> EnforcedChannel:
        """Create an unlinked channel (``total_channels`` + 1, same transaction).

        Link it to groups with ``store.groups.link_channel``. With ``actor``, the
        audit entry (``channel.create``) commits in the same transaction.

        Raises:
            AlreadyExistsError: when it exists.
            InvalidInputError: when ``linked_groups`` is not empty.

        """
        doc = self._validate(data)
        if doc.linked_groups:
            raise InvalidInputError(
                "create channels unlinked; link groups with store.groups.link_channel()."
            )
        ref = self.ref(doc)

        async def body(tx: firestore.AsyncTransaction) -> None:
            if (await ref.get(transaction=tx)).exists:
                raise AlreadyExistsError(self.resource, doc.id)
            tx.create(ref, doc.to_document())
            tx.set(stats_ref(self._store), increments({"total_channels": 1}), merge=True)
            self._stage(tx, actor, "create", doc.id, new_value=self._audited(doc))

        await run_transaction(self._store, body)
        return await self.get(doc.id)

    async def update(self, key: object, *, actor: Actor | None = None,
                     **changes: Any) -> EnforcedChannel:
        """Change a channel; a new title, username or invite link reaches every linked group.

        With ``actor``, the audit entry (``channel.update``) commits in the same
        transaction.

        Raises:
            NotFoundError: when the channel does not exist.

        """
        ref = self.ref(key)

        async def body(tx: firestore.AsyncTransaction) -> None:
            snap = await ref.get(transaction=tx)
            if not snap.exists:
                raise NotFoundError(self.resource, key)
            current = self._from_snapshot(snap)
            updated, fields = self._changed(current, changes)
            if not fields:
                return
            group_refs = [self._groups.document(str(g)) for g in current.linked_groups]
            group_snaps = await self._read_groups(group_refs, tx)
            tx.update(ref, {**fields, "updated_at": firestore.SERVER_TIMESTAMP})
            self._stage(tx, actor, "update", key, **self._diff(current, updated, fields))
            if not set(fields) & set(_REF_FIELDS):
                return
            for group_snap in group_snaps:
                if not group_snap.exists:
                    continue
                group = ProtectedGroup.from_document(group_snap.id, group_snap.to_dict() or {})
                refs = [updated.ref() if r.channel_id == updated.id else r
                        for r in group.enforced_channels]
                if refs != group.enforced_channels:
                    tx.update(group_snap.reference, {
                        "enforced_channels": [r.model_dump() for r in refs],
                        "updated_at": firestore.SERVER_TIMESTAMP,
                    })

        await run_transaction(self._store, body)
        return await self.get(key)

    async def delete(self, key: object, *, actor: Actor | None = None) -> bool:
        """Delete a channel and remove it from every group that enforces it. Idempotent.

        With ``actor``, the audit entry (``channel.delete``) commits in the same
        transaction.
        """
        ref = self.ref(key)

        async def body(tx: firestore.AsyncTransaction) -> bool:
            snap = await ref.get(transaction=tx)
            if not snap.exists:
                return False
            channel = self._from_snapshot(snap)
            group_refs = [self._groups.document(str(g)) for g in channel.linked_groups]
            group_snaps = await self._read_groups(group_refs, tx)
            for group_snap in group_snaps:
                if not group_snap.exists:
                    continue
                group = ProtectedGroup.from_document(group_snap.id, group_snap.to_dict() or {})
                refs = [r for r in group.enforced_channels if r.channel_id != channel.id]
                if len(refs) != len(group.enforced_channels):
                    tx.update(group_snap.reference, {
                        "enforced_channels": [r.model_dump() for r in refs],
                        "updated_at": firestore.SERVER_TIMESTAMP,
                    })
            tx.delete(ref)
            tx.set(stats_ref(self._store), increments({"total_channels": -1}), merge=True)
            self._stage(tx, actor, "delete", channel.id, old_value=self._audited(channel))
            return True

        return await run_transaction(self._store, body)
