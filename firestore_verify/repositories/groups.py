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
from firestore_verify.errors import AlreadyExistsError, InvalidInputError, NotFoundError
from firestore_verify.models import (
    Actor,
    ChannelInfo,
    ChannelRef,
    EnforcedChannel,
    GroupInfo,
    OwnerInfo,
    ProtectedGroup,
)
from firestore_verify.models.group import MAX_CHANNELS_PER_GROUP, search_key
from firestore_verify.repositories._base import Filter, Page, Repository, run_transaction

if TYPE_CHECKING:
    from firestore_verify.store import Store

__all__ = ["BulkOutcome", "GroupRepository", "ProtectResult"]

_SERVER_TS = firestore.SERVER_TIMESTAMP


@dataclass
class BulkOutcome:
    """What :meth:`GroupRepository.set_enabled` did, group by group."""

    changed: list[int] = field(default_factory=list)
    """Groups whose state changed."""
    unchanged: list[int] = field(default_factory=list)
    """Groups already in the asked state."""
    missing: list[int] = field(default_factory=list)
    """Ids with no group."""


@dataclass(frozen=True)
class ProtectResult:
    """What a :meth:`GroupRepository.protect` call changed."""

    group: ProtectedGroup
    """The group as stored once the call committed (read back)."""
    created: bool
    """The group document was created by this call."""
    enabled: bool
    """The group was disabled (or new) and is now protected."""
    new_channels: list[int] = field(default_factory=list)
    """Channel documents created by this call."""


def _channel_fields(info: ChannelInfo) -> dict[str, Any]:
    """The fields of a channel document that come from Telegram (None = unknown, keep)."""
    fields: dict[str, Any] = {"title": info.title}
    for name in ("username", "invite_link", "subscriber_count"):
        value = getattr(info, name)
        if value is not None:
            fields[name] = value
    return fields


def _merge_ref(existing: ChannelRef | None, info: ChannelInfo) -> ChannelRef:
    ref = info.ref()
    if existing is None:
        return ref
    return ChannelRef(
        channel_id=ref.channel_id,
        title=ref.title,
        username=ref.username if ref.username is not None else existing.username,
        invite_link=ref.invite_link if ref.invite_link is not None else existing.invite_link,
    )


class _Tx:
    """Helpers shared by the group transactions: reads first, then writes."""

    def __init__(self, store: Store, tx: firestore.AsyncTransaction) -> None:
        self.store = store
        self.tx = tx
        self.deltas: dict[str, int] = {}

    async def read(self, refs: Sequence[firestore.AsyncDocumentReference]) -> dict[str, Any]:
        found: dict[str, Any] = {}
        if refs:
            async for snapshot in self.store.client.get_all(list(refs), transaction=self.tx):
                found[snapshot.reference.path] = snapshot
        return found

    def link(self, ref: firestore.AsyncDocumentReference, snapshot: Any, info: ChannelInfo,
             group_id: int) -> bool:
        """Create channel ``info`` listing ``group_id``, or refresh it and add the group.

        Returns whether the channel document was created (and counted).
        """
        if not snapshot.exists:
            self.tx.create(ref, {**EnforcedChannel(id=info.id, title=info.title).to_document(),
                                 **_channel_fields(info), "linked_groups": [group_id]})
            self.count("total_channels", 1)
            return True
        data = snapshot.to_dict() or {}
        changes = {k: v for k, v in _channel_fields(info).items() if data.get(k) != v}
        linked = list(data.get("linked_groups") or [])
        if group_id not in linked:
            changes["linked_groups"] = [*linked, group_id]
        if changes:
            self.tx.update(ref, {**changes, "updated_at": _SERVER_TS})
        return False

    def count(self, name: str, delta: int) -> None:
        self.deltas[name] = self.deltas.get(name, 0) + delta

    async def read_stale_groups(
        self,
        groups: firestore.AsyncCollectionReference,
        group_id: int,
        channels: Sequence[tuple[ChannelInfo, Any]],
    ) -> list[tuple[Any, dict[int, ChannelRef]]]:
        """Read the other groups whose embedded ref of a channel in ``channels`` goes stale.

        ``channels`` pairs what the bot now knows of a channel with its snapshot.
        A new title, username or invite link must reach every group that embeds
        the channel, not only ``group_id``. Reads only; returns the group
        snapshots with the refs to embed, for :meth:`refresh_groups`.
        """
        fresh: dict[int, ChannelRef] = {}
        linked: dict[int, None] = {}
        for info, snap in channels:
            if not snap.exists:
                continue
            data = snap.to_dict() or {}
            ref = _merge_ref(ChannelRef(channel_id=info.id, title=data.get("title") or info.title,
                                        username=data.get("username"),
                                        invite_link=data.get("invite_link")), info)
            if (ref.title, ref.username, ref.invite_link) != (
                    data.get("title"), data.get("username"), data.get("invite_link")):
                fresh[info.id] = ref
                linked.update(dict.fromkeys(g for g in data.get("linked_groups") or []
                                            if g != group_id))
        if not fresh or not linked:
            return []
        snaps = await self.read([groups.document(str(g)) for g in linked])
        return [(snap, fresh) for snap in snaps.values() if snap.exists]

    def refresh_groups(self, stale: list[tuple[Any, dict[int, ChannelRef]]]) -> None:
        """Write the fresh channel refs into the groups :meth:`read_stale_groups` found."""
        for snap, fresh in stale:
            group = ProtectedGroup.from_document(snap.id, snap.to_dict() or {})
            refs = [fresh.get(r.channel_id, r) for r in group.enforced_channels]
            if refs != group.enforced_channels:
                self.tx.update(snap.reference, {
                    "enforced_channels": [r.model_dump() for r in refs],
                    "updated_at": _SERVER_TS,
                })

    def flush_counters(self) -> None:
        fields = increments(self.deltas)
        if fields:
            self.tx.set(stats_ref(self.store), fields, merge=True)


class GroupRepository(Repository[ProtectedGroup]):
    """``protected_groups``: plain CRUD plus protect / unprotect / link / unlink."""

    model = ProtectedGroup
    resource = "protected group"
    audit_type = "group"
    guarded = frozenset({"enabled", "enforced_channels"})

    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self._channels = store.collection(EnforcedChannel.collection)
        self._owners = store.collection("owners")

    def _channel_ref(self, channel_id: int) -> firestore.AsyncDocumentReference:
        return self._channels.document(str(channel_id))

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
        removes: use :meth:`unlink_channel`). Running it twice changes nothing.
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
        group_info = GroupInfo.parse(group)
        owner_info = OwnerInfo.parse(owner)
        infos = [ChannelInfo.parse(c) for c in channels]
        ids = [c.id for c in infos]
        if len(set(ids)) != len(ids):
            raise InvalidInputError("the same channel is listed twice; list each channel once.")
        if params is not None:
            ProtectedGroup.parse({"id": group_info.id, "owner_id": owner_info.id,
                                  "title": group_info.title, "params": dict(params)})
        group_ref = self.ref(group_info.id)
        owner_ref = self._owners.document(str(owner_info.id))
        channel_refs = [self._channel_ref(c.id) for c in infos]

        async def body(tx: firestore.AsyncTransaction) -> tuple[bool, bool, list[int]]:
            t = _Tx(self._store, tx)
            snaps = await t.read([group_ref, owner_ref, *channel_refs])
            stale = await t.read_stale_groups(
                self._collection, group_info.id,
                [(info, snaps[ref.path]) for info, ref in zip(infos, channel_refs, strict=True)])
            now = _SERVER_TS
            # Owner: create, or refresh the username.
            owner_snap = snaps[owner_ref.path]
            if not owner_snap.exists:
                tx.create(owner_ref, {"username": owner_info.username, "settings": {},
                                      "created_at": now, "updated_at": now})
            elif (owner_info.username is not None
                  and (owner_snap.to_dict() or {}).get("username") != owner_info.username):
                tx.update(owner_ref, {"username": owner_info.username, "updated_at": now})
            # Group: create or re-enable, merge the channel refs.
            group_snap = snaps[group_ref.path]
            if create_only and group_snap.exists:
                raise AlreadyExistsError(self.resource, group_info.id)
            current = (ProtectedGroup.from_document(group_snap.id, group_snap.to_dict() or {})
                       if group_snap.exists else None)
            refs = list(current.enforced_channels) if current else []
            by_id = {r.channel_id: i for i, r in enumerate(refs)}
            for info in infos:
                merged = _merge_ref(refs[by_id[info.id]] if info.id in by_id else None, info)
                if info.id in by_id:
                    refs[by_id[info.id]] = merged
                else:
                    by_id[info.id] = len(refs)
                    refs.append(merged)
            if len(refs) > MAX_CHANNELS_PER_GROUP:
                raise InvalidInputError(
                    f"a group can enforce at most {MAX_CHANNELS_PER_GROUP} channels."
                )
            ref_docs = [r.model_dump() for r in refs]
            created = current is None
            enabled = created or not current.enabled  # type: ignore[union-attr]
            if current is None:
                tx.create(group_ref, {
                    "owner_id": owner_info.id, "title": group_info.title,
                    "title_lower": search_key(group_info.title), "enabled": True,
                    "params": dict(params or {}), "member_count": group_info.member_count,
                    "enforced_channels": ref_docs, "created_at": now, "updated_at": now,
                })
            else:
                changes: dict[str, Any] = {}
                if current.title != group_info.title:
                    changes["title"] = group_info.title
                    changes["title_lower"] = search_key(group_info.title)
                if current.owner_id != owner_info.id:
                    changes["owner_id"] = owner_info.id
                if not current.enabled:
                    changes["enabled"] = True
                if (group_info.member_count is not None
                        and current.member_count != group_info.member_count):
                    changes["member_count"] = group_info.member_count
                if params is not None and current.params != dict(params):
                    changes["params"] = dict(params)
                if refs != current.enforced_channels:
                    changes["enforced_channels"] = ref_docs
                if changes:
                    tx.update(group_ref, {**changes, "updated_at": now})
            if current is None or changes:
                self._stage(tx, actor, "protect", group_info.id,
                            old_value=None if current is None else self._audited(current),
                            new_value={"title": group_info.title, "enabled": True,
                                       "enforced_channels": [r.channel_id for r in refs]})
            if enabled:
                t.count("total_groups", 1)
            # Channels: create or refresh, and list the group.
            new_channels: list[int] = []
            for info, ref in zip(infos, channel_refs, strict=True):
                if t.link(ref, snaps[ref.path], info, group_info.id):
                    new_channels.append(info.id)
            t.refresh_groups(stale)
            t.flush_counters()
            return created, enabled, new_channels

        created, enabled, new_channels = await run_transaction(self._store, body)
        return ProtectResult(group=await self.get(group_info.id), created=created,
                             enabled=enabled, new_channels=new_channels)

    async def unprotect(self, group_id: int, *, actor: Actor | None = None) -> ProtectedGroup:
        """Disable protection of ``group_id``, keeping its data and links.

        ``total_groups`` (groups currently protected) drops by one the first
        time; calling it again changes nothing. With ``actor``, the change writes
        its audit entry (``group.disable``) in the same transaction.

        Raises:
            NotFoundError: when the group was never protected.

        """
        ref = self.ref(group_id)

        async def body(tx: firestore.AsyncTransaction) -> None:
            snap = await ref.get(transaction=tx)
            if not snap.exists:
                raise NotFoundError(self.resource, group_id)
            if (snap.to_dict() or {}).get("enabled", True):
                tx.update(ref, {"enabled": False, "updated_at": _SERVER_TS})
                t = _Tx(self._store, tx)
                t.count("total_groups", -1)
                t.flush_counters()
                self._stage(tx, actor, "disable", group_id, old_value={"enabled": True},
                            new_value={"enabled": False})

        await run_transaction(self._store, body)
        return await self.get(group_id)

    async def enable(self, group_id: int, *, actor: Actor | None = None) -> ProtectedGroup:
        """Protect a disabled group again, with the channels it already has.

        ``total_groups`` rises by one; enabling an enabled group changes nothing.
        With ``actor``, the change writes its audit entry (``group.enable``) in
        the same transaction.

        Raises:
            NotFoundError: when the group was never protected.

        """
        ref = self.ref(group_id)

        async def body(tx: firestore.AsyncTransaction) -> None:
            snap = await ref.get(transaction=tx)
            if not snap.exists:
                raise NotFoundError(self.resource, group_id)
            if not (snap.to_dict() or {}).get("enabled", True):
                tx.update(ref, {"enabled": True, "updated_at": _SERVER_TS})
                t = _Tx(self._store, tx)
                t.count("total_groups", 1)
                t.flush_counters()
                self._stage(tx, actor, "enable", group_id, old_value={"enabled": False},
                            new_value={"enabled": True})

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
            t = _Tx(self._store, tx)
            snaps = await t.read([group_ref, channel_ref])
            group_snap, channel_snap = snaps[group_ref.path], snaps[channel_ref.path]
            if not group_snap.exists:
                raise NotFoundError(self.resource, group_id)
            group = ProtectedGroup.from_document(group_snap.id, group_snap.to_dict() or {})
            stale = await t.read_stale_groups(self._collection, group.id, [(info, channel_snap)])
            refs = list(group.enforced_channels)
            index = next((i for i, r in enumerate(refs) if r.channel_id == info.id), None)
            merged = _merge_ref(refs[index] if index is not None else None, info)
            if index is None:
                if len(refs) >= MAX_CHANNELS_PER_GROUP:
                    raise InvalidInputError(
                        f"a group can enforce at most {MAX_CHANNELS_PER_GROUP} channels."
                    )
                refs.append(merged)
            else:
                refs[index] = merged
            if refs != group.enforced_channels:
                tx.update(group_ref, {"enforced_channels": [r.model_dump() for r in refs],
                                      "updated_at": _SERVER_TS})
                self._stage(tx, actor, "link_channel", group.id,
                            old_value=None if index is None
                            else group.enforced_channels[index].model_dump(mode="json"),
                            new_value=merged.model_dump(mode="json"))
            t.link(channel_ref, channel_snap, info, group.id)
            t.refresh_groups(stale)
            t.flush_counters()

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
            t = _Tx(self._store, tx)
            snaps = await t.read([group_ref, channel_ref])
            group_snap, channel_snap = snaps[group_ref.path], snaps[channel_ref.path]
            if not group_snap.exists:
                raise NotFoundError(self.resource, group_id)
            group = ProtectedGroup.from_document(group_snap.id, group_snap.to_dict() or {})
            if not channel_snap.exists and channel_id not in group.channel_ids:
                # Neither side knows it: a typo, not a second unlink.
                raise NotFoundError("enforced channel", channel_id)
            refs = [r for r in group.enforced_channels if r.channel_id != channel_id]
            if len(refs) != len(group.enforced_channels):
                tx.update(group_ref, {"enforced_channels": [r.model_dump() for r in refs],
                                      "updated_at": _SERVER_TS})
                [gone] = [r for r in group.enforced_channels if r.channel_id == channel_id]
                self._stage(tx, actor, "unlink_channel", group.id,
                            old_value=gone.model_dump(mode="json"),
                            new_value={"delete_orphan": delete_orphan})
            if channel_snap.exists:
                linked = list((channel_snap.to_dict() or {}).get("linked_groups") or [])
                remaining = [g for g in linked if g != group.id]
                if delete_orphan and not remaining:
                    tx.delete(channel_ref)
                    t.count("total_channels", -1)
                elif remaining != linked:
                    tx.update(channel_ref, {"linked_groups": remaining, "updated_at": _SERVER_TS})
            t.flush_counters()

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
        """Create a group from a full model: like :meth:`protect`, but fails if it exists.

        ``actor`` is passed on to :meth:`protect` (and :meth:`unprotect` for a
        disabled group), each writing its audit entry.

        Raises:
            AlreadyExistsError: when the group exists (use :meth:`protect` to upsert).

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
            t = _Tx(self._store, tx)
            group_snap = await group_ref.get(transaction=tx)
            if not group_snap.exists:
                return False
            group = ProtectedGroup.from_document(group_snap.id, group_snap.to_dict() or {})
            channel_refs = [self._channel_ref(c) for c in group.channel_ids]
            snaps = await t.read(channel_refs)
            for ref in channel_refs:
                snap = snaps[ref.path]
                if snap.exists:
                    linked = list((snap.to_dict() or {}).get("linked_groups") or [])
                    if group.id in linked:
                        tx.update(ref, {"linked_groups": [g for g in linked if g != group.id],
                                        "updated_at": _SERVER_TS})
            tx.delete(group_ref)
            if group.enabled:
                t.count("total_groups", -1)
            t.flush_counters()
            self._stage(tx, actor, "delete", group.id, old_value=self._audited(group))
            return True

        return await run_transaction(self._store, body)
