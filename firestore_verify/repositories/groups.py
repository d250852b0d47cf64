"""Protected groups and the domain operations that keep both sides linked.

Every operation here touches the group, its channels, maybe the owner and the
counters in **one transaction**, and re-running it changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from google.cloud import firestore

from firestore_verify.counters import increments, stats_ref
from firestore_verify.errors import InvalidInputError, NotFoundError
from firestore_verify.models import (
    Actor,
    ChannelInfo,
    EnforcedChannel,
    GroupInfo,
    Owner,
    OwnerInfo,
    ProtectedGroup,
)
from firestore_verify.models.group import search_key
from firestore_verify.repositories import group_plans as plans
from firestore_verify.repositories._base import Filter, Page, Repository, run_transaction

if TYPE_CHECKING:
    from firestore_verify.store import Store

__all__ = ["BulkOutcome", "GroupRepository", "ProtectResult"]

_SERVER_TS = firestore.SERVER_TIMESTAMP


@dataclass
class BulkOutcome:
    """What `GroupRepository.set_enabled()` did, group by group."""

    changed: list[int] = field(default_factory=list)
    """Groups whose state changed."""
    unchanged: list[int] = field(default_factory=list)
    """Groups already in the asked state."""
    missing: list[int] = field(default_factory=list)
    """Ids with no group."""


@dataclass(frozen=True)
class ProtectResult:
    """What a `GroupRepository.protect()` call changed."""

    group: ProtectedGroup
    """The group as stored once the call committed (read back)."""
    created: bool
    """The group document was created by this call."""
    enabled: bool
    """The group was disabled (or new) and is now protected."""
    new_channels: list[int] = field(default_factory=list)
    """Channel documents created by this call."""


def _data(snapshot: Any) -> dict[str, Any] | None:
    """The data of a snapshot as read, or ``None`` when the document does not exist."""
    return (snapshot.to_dict() or {}) if snapshot.exists else None


class GroupRepository(Repository[ProtectedGroup]):
    """``protected_groups``: plain CRUD plus protect / unprotect / link / unlink."""

    model = ProtectedGroup
    resource = plans.GROUP_RESOURCE
    audit_type = "group"
    guarded = frozenset({"enabled", "enforced_channels"})

    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self._channels = store.collection(EnforcedChannel.collection)
        self._owners = store.collection(Owner.collection)

    def _channel_ref(self, channel_id: int) -> firestore.AsyncDocumentReference:
        return self._channels.document(str(channel_id))

    def _audited(self, doc: ProtectedGroup) -> dict[str, Any]:
        """What an audit entry records of a group: the same as the planners record."""
        return plans.audited_group(doc)

    # -- the transaction shells: read, plan (group_plans), apply ---------------------------
    async def _read(self, tx: firestore.AsyncTransaction,
                    refs: Sequence[firestore.AsyncDocumentReference]) -> dict[str, Any]:
        """The snapshots of ``refs`` by path, read in ``tx`` (no call at all for no refs)."""
        found: dict[str, Any] = {}
        if refs:
            async for snapshot in self._store.client.get_all(list(refs), transaction=tx):
                found[snapshot.reference.path] = snapshot
        return found

    def _group(self, snapshot: Any) -> ProtectedGroup | None:
        return self._from_snapshot(snapshot) if snapshot.exists else None

    async def _others(self, tx: firestore.AsyncTransaction, group_id: int,
                      channels: Sequence[tuple[ChannelInfo, Mapping[str, Any] | None]],
                      ) -> list[ProtectedGroup]:
        """Read the groups `refresh_targets()` names (stale embedded refs)."""
        ids = plans.refresh_targets(group_id, channels)
        snaps = await self._read(tx, [self._collection.document(str(g)) for g in ids])
        return [self._from_snapshot(snap) for snap in snaps.values() if snap.exists]

    def _apply(self, tx: firestore.AsyncTransaction, plan: plans.GroupPlan,
               actor: Actor | None) -> None:
        """Stage ``plan`` in ``tx``: its writes, its counter increments, its audit entry."""
        for write in plan.writes:
            ref = self._store.collection(write.collection).document(str(write.key))
            data = {**write.fields, **dict.fromkeys(write.server_timestamps, _SERVER_TS)}
            if write.op == "create":
                tx.create(ref, data)
            elif write.op == "update":
                tx.update(ref, data)
            else:
                tx.delete(ref)
        counters = increments(plan.counters)
        if counters:
            tx.set(stats_ref(self._store), counters, merge=True)
        if plan.audit is not None:
            self._stage(tx, actor, plan.audit.verb, plan.audit.key,
                        old_value=plan.audit.old_value, new_value=plan.audit.new_value)

    # -- protect / unprotect ------------------------------------------------------
    async def protect(
        self,
        group: GroupInfo | Mapping[str, Any],
        owner: OwnerInfo | Mapping[str, Any],
        channels: Sequence[ChannelInfo | Mapping[str, Any]] = (),
        *,
        params: Mapping[str, Any] | None = None,
        actor: Actor | None = None,
    ) -> ProtectResult:
        """Protect ``group`` with ``channels``, in one transaction.

        Creates the group or re-enables it, upserts the owner and every channel,
        links both sides (the group embeds channel refs; each channel lists the
        group) and bumps ``total_groups`` / ``total_channels`` only for what is
        new. Channels already enforced stay enforced (this adds, it never
        removes: use `unlink_channel()`). Running it twice changes nothing.
        With ``actor``, a change writes its audit entry (``group.protect``) in
        the same transaction; a call that changes nothing writes none.

        Raises:
            InvalidInputError: bad ids, empty titles, duplicate or too many channels.

        """
        return await self._protect(group, owner, channels, params=params, actor=actor,
                                   create_only=False)

    async def _protect(
        self,
        group: GroupInfo | Mapping[str, Any],
        owner: OwnerInfo | Mapping[str, Any],
        channels: Sequence[ChannelInfo | Mapping[str, Any]],
        *,
        params: Mapping[str, Any] | None,
        actor: Actor | None,
        create_only: bool,
    ) -> ProtectResult:
        group_info, owner_info, infos = plans.parse_protect(group, owner, channels, params)
        group_ref = self.ref(group_info.id)
        owner_ref = self._owners.document(str(owner_info.id))
        channel_refs = [self._channel_ref(c.id) for c in infos]

        async def body(tx: firestore.AsyncTransaction) -> plans.ProtectPlan:
            snaps = await self._read(tx, [group_ref, owner_ref, *channel_refs])
            channel_docs = {info.id: _data(snaps[ref.path])
                            for info, ref in zip(infos, channel_refs, strict=True)}
            others = await self._others(tx, group_info.id,
                                        [(info, channel_docs[info.id]) for info in infos])
            plan = plans.plan_protect(
                group_info, owner_info, infos, params=params,
                current=self._group(snaps[group_ref.path]),
                owner_doc=_data(snaps[owner_ref.path]), channel_docs=channel_docs,
                others=others, create_only=create_only)
            self._apply(tx, plan, actor)
            return plan

        plan = await run_transaction(self._store, body)
        return ProtectResult(group=await self.get(group_info.id), created=plan.created,
                             enabled=plan.enabled, new_channels=list(plan.new_channels))

    async def unprotect(self, group_id: int, *, actor: Actor | None = None) -> ProtectedGroup:
        """Disable protection of ``group_id``, keeping its data and links.

        ``total_groups`` (groups currently protected) drops by one the first
        time; calling it again changes nothing. With ``actor``, the change writes
        its audit entry (``group.disable``) in the same transaction.

        Raises:
            NotFoundError: when the group was never protected.

        """
        return await self._switch(group_id, False, actor)

    async def enable(self, group_id: int, *, actor: Actor | None = None) -> ProtectedGroup:
        """Protect a disabled group again, with the channels it already has.

        ``total_groups`` rises by one; enabling an enabled group changes nothing.
        With ``actor``, the change writes its audit entry (``group.enable``) in
        the same transaction.

        Raises:
            NotFoundError: when the group was never protected.

        """
        return await self._switch(group_id, True, actor)

    async def _switch(self, group_id: int, enabled: bool, actor: Actor | None) -> ProtectedGroup:
        ref = self.ref(group_id)

        async def body(tx: firestore.AsyncTransaction) -> None:
            data = _data(await ref.get(transaction=tx))
            self._apply(tx, plans.plan_set_enabled(group_id, data, enabled), actor)

        await run_transaction(self._store, body)
        return await self.get(group_id)

    async def set_enabled(self, group_ids: Sequence[int], enabled: bool, *,
                          actor: Actor | None = None) -> BulkOutcome:
        """Enable or disable many groups, each in its own transaction with its audit entry.

        A group already in the asked state is left alone (no write, no entry).
        """
        outcome = BulkOutcome()
        for group_id in dict.fromkeys(group_ids):  # each once, in the order given
            before = await self.find(group_id)
            if before is None:
                outcome.missing.append(group_id)
                continue
            try:
                after = await (self.enable(group_id, actor=actor) if enabled
                               else self.unprotect(group_id, actor=actor))
            except NotFoundError:  # deleted meanwhile
                outcome.missing.append(group_id)
                continue
            changed = before.enabled != after.enabled
            (outcome.changed if changed else outcome.unchanged).append(group_id)
        return outcome

    # -- links ----------------------------------------------------------------------
    async def link_channel(
        self, group_id: int, channel: ChannelInfo | Mapping[str, Any], *,
        actor: Actor | None = None,
    ) -> ProtectedGroup:
        """Enforce ``channel`` in an existing group: both sides and counters, one transaction.

        The channel document is created when new (``total_channels`` + 1). With
        ``actor``, a change writes its audit entry (``group.link_channel``) in the
        same transaction.

        Raises:
            NotFoundError: when the group does not exist.

        """
        info = ChannelInfo.parse(channel)
        group_ref = self.ref(group_id)
        channel_ref = self._channel_ref(info.id)

        async def body(tx: firestore.AsyncTransaction) -> None:
            snaps = await self._read(tx, [group_ref, channel_ref])
            group, channel_doc = self._group(snaps[group_ref.path]), _data(snaps[channel_ref.path])
            others = ([] if group is None
                      else await self._others(tx, group.id, [(info, channel_doc)]))
            self._apply(tx, plans.plan_link(group_id, info, group=group, channel_doc=channel_doc,
                                            others=others), actor)

        await run_transaction(self._store, body)
        return await self.get(group_id)

    async def unlink_channel(
        self, group_id: int, channel_id: int, *, delete_orphan: bool = False,
        actor: Actor | None = None,
    ) -> ProtectedGroup:
        """Stop enforcing ``channel_id`` in ``group_id``: both sides, one transaction.

        A channel left with no linked group keeps its document (with an empty
        ``linked_groups``) unless ``delete_orphan`` is true, in which case it is
        deleted and ``total_channels`` drops. Unlinking twice is harmless. With
        ``actor``, a change writes its audit entry (``group.unlink_channel``) in
        the same transaction.

        Raises:
            NotFoundError: when the group does not exist, or the channel is known
                to neither the group nor the channels collection.

        """
        group_ref = self.ref(group_id)
        channel_ref = self._channel_ref(channel_id)

        async def body(tx: firestore.AsyncTransaction) -> None:
            snaps = await self._read(tx, [group_ref, channel_ref])
            self._apply(tx, plans.plan_unlink(
                group_id, channel_id, group=self._group(snaps[group_ref.path]),
                channel_doc=_data(snaps[channel_ref.path]), delete_orphan=delete_orphan), actor)

        await run_transaction(self._store, body)
        return await self.get(group_id)

    # -- search ----------------------------------------------------------------------
    async def search(
        self,
        text: str = "",
        *,
        enabled: bool | None = None,
        order_by: str = "title",
        descending: bool = False,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[ProtectedGroup]:
        """Groups whose title starts with ``text`` (any case), or whose id is ``text``.

        One indexed query whatever the number of groups: the prefix is matched on
        the stored ``title_lower``. An empty ``text`` lists every group, sorted by
        ``order_by`` (``title``, ``created_at``, ``updated_at`` or ``member_count``);
        a prefix search is always sorted by title.

        Raises:
            InvalidInputError: for an unknown sort field, a sort other than title
                with a prefix, or a bad cursor.
        """
        sortable = {"title": "title_lower", "created_at": "created_at",
                    "updated_at": "updated_at", "member_count": "member_count"}
        if order_by not in sortable:
            raise InvalidInputError(
                f"groups can be sorted by {', '.join(sortable)}, not {order_by!r}.")
        where = {} if enabled is None else {"enabled": enabled}
        text = text.strip()
        if text.lstrip("-").isdigit():
            found = await self.find(int(text))
            matches = found is not None and (enabled is None or found.enabled == enabled)
            return Page(items=[found] if matches and found is not None else [])
        filters: list[Filter] = []
        if text:
            if order_by != "title":
                raise InvalidInputError("a title search is sorted by title; drop order_by.")
            prefix = search_key(text)
            filters = [("title_lower", ">=", prefix), ("title_lower", "<", prefix + "\uf8ff")]
        return await self.list(limit=limit, cursor=cursor, order_by=sortable[order_by],
                               descending=descending, filters=filters, **where)

    # -- plain CRUD, kept consistent -------------------------------------------------------
    async def create(self, data: ProtectedGroup | Mapping[str, Any], *,
                     actor: Actor | None = None) -> ProtectedGroup:
        """Create a group from a full model: like `protect()`, but fails if it exists.

        ``actor`` is passed on to `protect()` (and `unprotect()` for a
        disabled group), each writing its audit entry.

        Raises:
            AlreadyExistsError: when the group exists (use `protect()` to upsert).

        """
        doc = self._validate(data)
        # The existence check is in the transaction: a group created concurrently is
        # neither modified nor counted.
        result = await self._protect(
            GroupInfo(id=doc.id, title=doc.title, member_count=doc.member_count),
            OwnerInfo(id=doc.owner_id),
            [ChannelInfo(id=r.channel_id, title=r.title, username=r.username,
                         invite_link=r.invite_link) for r in doc.enforced_channels],
            params=doc.params,
            actor=actor,
            create_only=True,
        )
        if not doc.enabled:
            return await self.unprotect(doc.id, actor=actor)
        return result.group

    async def delete(self, key: object, *, actor: Actor | None = None) -> bool:
        """Delete a group and its links from every channel; counters follow. Idempotent.

        With ``actor``, the audit entry (``group.delete``) commits in the same
        transaction.
        """
        group_ref = self.ref(key)

        async def body(tx: firestore.AsyncTransaction) -> bool:
            group = self._group(await group_ref.get(transaction=tx))
            if group is None:
                return False
            snaps = await self._read(tx, [self._channel_ref(c) for c in group.channel_ids])
            channel_docs = {c: _data(snaps[self._channel_ref(c).path]) for c in group.channel_ids}
            self._apply(tx, plans.plan_delete(group, channel_docs), actor)
            return True

        return await run_transaction(self._store, body)
