"""Pure planners of the group operations: the documents as read in, the writes out.

Like `firestore_verify.rollups.plan_batch()`, nothing here does I/O or holds
a Firestore client. Each ``plan_*`` function takes what its transaction read
(decoded groups, the raw data of channel and owner documents, ``None`` for a
document that does not exist) and the operation's inputs, decides, and returns
a frozen `GroupPlan`: the documents to create, update or delete, the
counter deltas and the audit entry. `firestore_verify.repositories.groups`
reads in the transaction, calls the planner and applies its plan to the same
transaction (prepare, then commit).

A group and its channels embed each other: a group's ``enforced_channels``
embeds a `ChannelRef` of each channel, and a
channel's ``linked_groups`` lists the groups. `rewrite_refs()` is the one
place the embedded refs of a group change.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from firestore_verify.errors import AlreadyExistsError, InvalidInputError, NotFoundError
from firestore_verify.models import (
    ChannelInfo,
    ChannelRef,
    EnforcedChannel,
    GroupInfo,
    Owner,
    OwnerInfo,
    ProtectedGroup,
)
from firestore_verify.models._base import plain_value
from firestore_verify.models.group import MAX_CHANNELS_PER_GROUP, search_key

__all__ = [
    "CHANNEL_RESOURCE",
    "GROUP_RESOURCE",
    "Audit",
    "GroupPlan",
    "ProtectPlan",
    "Write",
    "WriteOp",
    "audited_group",
    "parse_protect",
    "plan_delete",
    "plan_link",
    "plan_protect",
    "plan_set_enabled",
    "plan_unlink",
    "refresh_targets",
    "rewrite_refs",
]

GROUP_RESOURCE = "protected group"
"""The name of a group in error messages (``GroupRepository.resource``)."""
CHANNEL_RESOURCE = "enforced channel"
"""The name of a channel in error messages (``ChannelRepository.resource``)."""

WriteOp = Literal["create", "update", "delete"]
"""What a `Write` does to its document."""

ChannelData = Mapping[str, Any]
"""The data of a channel document as read (``None`` stands for a missing document)."""


@dataclass(frozen=True)
class Write:
    """One document write of a plan.

    The applier adds the server timestamps `server_timestamps` names, so
    plans hold plain data only.
    """

    op: WriteOp
    """``create`` (fails if the document exists), ``update`` (fails if it does not) or
    ``delete``."""
    collection: str
    """The collection, without the store's prefix (``protected_groups``, ``owners``,
    ``enforced_channels``)."""
    key: int
    """The document id (a Telegram id; the document id is its decimal form)."""
    fields: Mapping[str, Any] = field(default_factory=dict)
    """The fields written (``update``: only those that change); empty for ``delete``."""

    @property
    def server_timestamps(self) -> tuple[str, ...]:
        """The fields set to the commit time with `fields`."""
        if self.op == "create":
            return ("created_at", "updated_at")
        return ("updated_at",) if self.op == "update" else ()


@dataclass(frozen=True)
class Audit:
    """The audit entry of a change (written only when the operation has an actor)."""

    verb: str
    """The action without its type: ``protect`` is recorded as ``group.protect``."""
    key: int
    """The id of the group changed."""
    old_value: Any = None
    """What the entry records as before."""
    new_value: Any = None
    """What the entry records as after."""


@dataclass(frozen=True)
class GroupPlan:
    """The writes of one group operation, to apply in the transaction that read its input."""

    writes: tuple[Write, ...] = ()
    """Document writes, in order (at most one per document)."""
    counters: Mapping[str, int] = field(default_factory=dict)
    """Deltas of the ``_metadata/stats`` counters (zero deltas left out)."""
    audit: Audit | None = None
    """The audit entry, or ``None`` when nothing changed."""


@dataclass(frozen=True)
class ProtectPlan(GroupPlan):
    """A `GroupPlan` of `plan_protect()`, with what it reports back."""

    created: bool = False
    """The group document is created."""
    enabled: bool = False
    """The group was disabled (or new) and is now protected."""
    new_channels: tuple[int, ...] = ()
    """Channels whose document is created."""


# -- embedded refs ----------------------------------------------------------------------


def _merge_ref(existing: ChannelRef | None, change: ChannelInfo | ChannelRef) -> ChannelRef:
    """``change`` as an embedded ref; what a ChannelInfo does not know keeps ``existing``."""
    if isinstance(change, ChannelRef):
        return change
    ref = change.ref()
    if existing is None:
        return ref
    return ChannelRef(
        channel_id=ref.channel_id,
        title=ref.title,
        username=ref.username if ref.username is not None else existing.username,
        invite_link=ref.invite_link if ref.invite_link is not None else existing.invite_link,
    )


def rewrite_refs(
    refs: Sequence[ChannelRef],
    changes: Mapping[int, ChannelInfo | ChannelRef | None],
    *,
    append: bool = False,
) -> list[ChannelRef]:
    """The embedded channel refs ``refs`` with ``changes`` (by channel id) applied.

    A `ChannelInfo` is what the bot learned from Telegram: it is merged
    into the embedded ref (a username or invite link it does not know keeps the
    embedded one). A `ChannelRef` replaces the embedded ref as it is.
    ``None`` removes the channel. Refs keep their order; with ``append``, the
    channels of ``changes`` not embedded yet are added at the end, in the order
    of ``changes``. ``refs`` is not changed.

    Raises:
        InvalidInputError: when the result embeds more than ``MAX_CHANNELS_PER_GROUP``.

    """
    out: list[ChannelRef] = []
    for ref in refs:
        if ref.channel_id not in changes:
            out.append(ref)
        elif (change := changes[ref.channel_id]) is not None:
            out.append(_merge_ref(ref, change))
    if append:
        embedded = {ref.channel_id for ref in refs}
        out.extend(_merge_ref(None, change) for channel_id, change in changes.items()
                   if change is not None and channel_id not in embedded)
    if len(out) > MAX_CHANNELS_PER_GROUP:
        raise InvalidInputError(f"a group can enforce at most {MAX_CHANNELS_PER_GROUP} channels.")
    return out


def _ref_docs(refs: Iterable[ChannelRef]) -> list[dict[str, Any]]:
    return [ref.model_dump() for ref in refs]


def _fresh_refs(
    group_id: int, channels: Iterable[tuple[ChannelInfo, ChannelData | None]],
) -> tuple[dict[int, ChannelRef], list[int]]:
    """The refs that ``channels`` make stale, and the other groups that embed them.

    ``channels`` pairs what the bot now knows of a channel with its stored data.
    """
    fresh: dict[int, ChannelRef] = {}
    linked: dict[int, None] = {}
    for info, data in channels:
        if data is None:
            continue
        stored = ChannelRef(channel_id=info.id, title=data.get("title") or info.title,
                            username=data.get("username"), invite_link=data.get("invite_link"))
        ref = _merge_ref(stored, info)
        if (ref.title, ref.username, ref.invite_link) != (
                data.get("title"), data.get("username"), data.get("invite_link")):
            fresh[info.id] = ref
            linked.update(dict.fromkeys(g for g in data.get("linked_groups") or []
                                        if g != group_id))
    if not fresh or not linked:
        return {}, []
    return fresh, list(linked)


def refresh_targets(
    group_id: int, channels: Iterable[tuple[ChannelInfo, ChannelData | None]],
) -> list[int]:
    """The groups besides ``group_id`` whose embedded ref of one of ``channels`` goes stale.

    ``channels`` pairs what the bot now knows of a channel with its stored data
    (``None``: no document). A new title, username or invite link must reach
    every group that embeds the channel: read these groups and pass them to the
    planner as ``others``. Empty when nothing goes stale.
    """
    return _fresh_refs(group_id, channels)[1]


def _refresh(
    group_id: int, channels: Iterable[tuple[ChannelInfo, ChannelData | None]],
    others: Iterable[ProtectedGroup],
) -> list[Write]:
    """The updates of the ``others`` groups whose embedded refs ``channels`` make stale."""
    fresh = _fresh_refs(group_id, channels)[0]
    writes = []
    for other in others:
        if other.id == group_id:
            continue
        refs = rewrite_refs(other.enforced_channels, fresh)
        if refs != other.enforced_channels:
            writes.append(Write("update", ProtectedGroup.collection, other.id,
                                {"enforced_channels": _ref_docs(refs)}))
    return writes


# -- the channel side: linked_groups ------------------------------------------------------


def _linked(data: ChannelData) -> list[int]:
    return list(data.get("linked_groups") or [])


def _channel_fields(info: ChannelInfo) -> dict[str, Any]:
    """The fields of a channel document that come from Telegram (None = unknown, keep)."""
    fields: dict[str, Any] = {"title": info.title}
    for name in ("username", "invite_link", "subscriber_count"):
        value = getattr(info, name)
        if value is not None:
            fields[name] = value
    return fields


def _link_channel(info: ChannelInfo, data: ChannelData | None, group_id: int) -> Write | None:
    """Create channel ``info`` listing ``group_id``, or refresh it and add the group."""
    if data is None:
        document = EnforcedChannel(id=info.id, title=info.title).to_document()
        base = {k: v for k, v in document.items() if k not in EnforcedChannel.server_timestamps}
        return Write("create", EnforcedChannel.collection, info.id,
                     {**base, **_channel_fields(info), "linked_groups": [group_id]})
    changes = {k: v for k, v in _channel_fields(info).items() if data.get(k) != v}
    linked = _linked(data)
    if group_id not in linked:
        changes["linked_groups"] = [*linked, group_id]
    return Write("update", EnforcedChannel.collection, info.id, changes) if changes else None


def _counters(**deltas: int) -> dict[str, int]:
    return {name: delta for name, delta in deltas.items() if delta}


# -- audit ------------------------------------------------------------------------------------


def audited_group(group: ProtectedGroup) -> dict[str, Any]:
    """What an audit entry records of ``group``: JSON values, no ``None``, no derived field."""
    data: dict[str, Any] = plain_value(group.model_dump(
        mode="json", exclude_none=True, exclude=set(ProtectedGroup.model_computed_fields)))
    return data


# -- protect ------------------------------------------------------------------------------------


def parse_protect(
    group: GroupInfo | Mapping[str, Any],
    owner: OwnerInfo | Mapping[str, Any],
    channels: Sequence[ChannelInfo | Mapping[str, Any]],
    params: Mapping[str, Any] | None,
) -> tuple[GroupInfo, OwnerInfo, list[ChannelInfo]]:
    """Validate the input of a protect before its transaction begins.

    Raises:
        InvalidInputError: bad ids, empty titles, invalid ``params``, a channel listed twice.

    """
    group_info = GroupInfo.parse(group)
    owner_info = OwnerInfo.parse(owner)
    infos = [ChannelInfo.parse(c) for c in channels]
    ids = [c.id for c in infos]
    if len(set(ids)) != len(ids):
        raise InvalidInputError("the same channel is listed twice; list each channel once.")
    if params is not None:
        ProtectedGroup.parse({"id": group_info.id, "owner_id": owner_info.id,
                              "title": group_info.title, "params": dict(params)})
    return group_info, owner_info, infos


def _owner_write(owner: OwnerInfo, data: Mapping[str, Any] | None) -> Write | None:
    """Create the owner, or refresh its username."""
    if data is None:
        return Write("create", Owner.collection, owner.id,
                     {"username": owner.username, "settings": {}})
    if owner.username is not None and data.get("username") != owner.username:
        return Write("update", Owner.collection, owner.id, {"username": owner.username})
    return None


def _group_changes(current: ProtectedGroup, group: GroupInfo, owner: OwnerInfo,
                   params: Mapping[str, Any] | None, refs: list[ChannelRef]) -> dict[str, Any]:
    """The fields of ``current`` that a protect changes."""
    changes: dict[str, Any] = {}
    if current.title != group.title:
        changes["title"] = group.title
        changes["title_lower"] = search_key(group.title)
    if current.owner_id != owner.id:
        changes["owner_id"] = owner.id
    if not current.enabled:
        changes["enabled"] = True
    if group.member_count is not None and current.member_count != group.member_count:
        changes["member_count"] = group.member_count
    if params is not None and current.params != dict(params):
        changes["params"] = dict(params)
    if refs != current.enforced_channels:
        changes["enforced_channels"] = _ref_docs(refs)
    return changes


def plan_protect(
    group: GroupInfo,
    owner: OwnerInfo,
    channels: Sequence[ChannelInfo],
    *,
    params: Mapping[str, Any] | None,
    current: ProtectedGroup | None,
    owner_doc: Mapping[str, Any] | None,
    channel_docs: Mapping[int, ChannelData | None],
    others: Sequence[ProtectedGroup] = (),
    create_only: bool = False,
) -> ProtectPlan:
    """Plan protecting ``group`` with ``channels`` (distinct ids, see `parse_protect()`).

    ``current`` is the stored group, ``owner_doc`` the owner's data and
    ``channel_docs`` each channel's data by id (missing or ``None``: no
    document); ``others`` are the groups `refresh_targets()` named. The
    group is created or re-enabled, its refs merged (added, never removed), the
    owner and every channel created or refreshed, each channel lists the group,
    and the other groups get the fresh refs. ``total_groups`` rises when the
    group is new or was disabled, ``total_channels`` by the channels created.
    The audit entry (``protect``) is planned only when the group changes.

    Raises:
        AlreadyExistsError: with ``create_only``, when ``current`` exists.
        InvalidInputError: when the group would enforce too many channels.

    """
    if create_only and current is not None:
        raise AlreadyExistsError(GROUP_RESOURCE, group.id)
    writes: list[Write] = []
    if (owner_write := _owner_write(owner, owner_doc)) is not None:
        writes.append(owner_write)
    refs = rewrite_refs(current.enforced_channels if current else [],
                        {info.id: info for info in channels}, append=True)
    audit: Audit | None = Audit("protect", group.id,
                               old_value=None if current is None else audited_group(current),
                               new_value={"title": group.title, "enabled": True,
                                          "enforced_channels": [r.channel_id for r in refs]})
    if current is None:
        writes.append(Write("create", ProtectedGroup.collection, group.id, {
            "owner_id": owner.id, "title": group.title, "title_lower": search_key(group.title),
            "enabled": True, "params": dict(params or {}), "member_count": group.member_count,
            "enforced_channels": _ref_docs(refs),
        }))
    elif changes := _group_changes(current, group, owner, params, refs):
        writes.append(Write("update", ProtectedGroup.collection, group.id, changes))
    else:
        audit = None
    new_channels = []
    for info in channels:
        link = _link_channel(info, channel_docs.get(info.id), group.id)
        if link is not None:
            writes.append(link)
            if link.op == "create":
                new_channels.append(info.id)
    writes += _refresh(group.id, [(c, channel_docs.get(c.id)) for c in channels], others)
    enabled = current is None or not current.enabled
    return ProtectPlan(
        writes=tuple(writes),
        counters=_counters(total_groups=int(enabled), total_channels=len(new_channels)),
        audit=audit, created=current is None, enabled=enabled,
        new_channels=tuple(new_channels),
    )


def plan_set_enabled(group_id: int, data: Mapping[str, Any] | None, enabled: bool) -> GroupPlan:
    """Plan enabling (``enable``) or disabling (``disable``) a group, from its stored data.

    A group already in that state plans nothing. ``total_groups`` follows.

    Raises:
        NotFoundError: when ``data`` is ``None`` (no such group).

    """
    if data is None:
        raise NotFoundError(GROUP_RESOURCE, group_id)
    if bool(data.get("enabled", True)) == enabled:
        return GroupPlan()
    return GroupPlan(
        writes=(Write("update", ProtectedGroup.collection, group_id, {"enabled": enabled}),),
        counters={"total_groups": 1 if enabled else -1},
        audit=Audit("enable" if enabled else "disable", group_id,
                    old_value={"enabled": not enabled}, new_value={"enabled": enabled}),
    )


# -- links ------------------------------------------------------------------------------------


def plan_link(
    group_id: int,
    channel: ChannelInfo,
    *,
    group: ProtectedGroup | None,
    channel_doc: ChannelData | None,
    others: Sequence[ProtectedGroup] = (),
) -> GroupPlan:
    """Plan enforcing ``channel`` in ``group``: its ref, the channel document, the counters.

    The channel is created when ``channel_doc`` is ``None`` (``total_channels``
    + 1), else refreshed and made to list the group. ``others`` are the groups
    `refresh_targets()` named. The audit entry (``link_channel``: the old
    ref or ``None``, the new ref) is planned only when the group's ref changes.

    Raises:
        NotFoundError: when ``group`` is ``None``.
        InvalidInputError: when the group already enforces the most channels it can.

    """
    if group is None:
        raise NotFoundError(GROUP_RESOURCE, group_id)
    refs = rewrite_refs(group.enforced_channels, {channel.id: channel}, append=True)
    writes: list[Write] = []
    audit = None
    if refs != group.enforced_channels:
        writes.append(Write("update", ProtectedGroup.collection, group.id,
                            {"enforced_channels": _ref_docs(refs)}))
        old = next((r for r in group.enforced_channels if r.channel_id == channel.id), None)
        new = next(r for r in refs if r.channel_id == channel.id)
        audit = Audit("link_channel", group.id,
                      old_value=None if old is None else old.model_dump(mode="json"),
                      new_value=new.model_dump(mode="json"))
    link = _link_channel(channel, channel_doc, group.id)
    if link is not None:
        writes.append(link)
    writes += _refresh(group.id, [(channel, channel_doc)], others)
    created = link is not None and link.op == "create"
    return GroupPlan(writes=tuple(writes), counters=_counters(total_channels=int(created)),
                     audit=audit)


def plan_unlink(
    group_id: int,
    channel_id: int,
    *,
    group: ProtectedGroup | None,
    channel_doc: ChannelData | None,
    delete_orphan: bool = False,
) -> GroupPlan:
    """Plan no longer enforcing ``channel_id`` in ``group``: both sides.

    A channel left with no group is deleted (``total_channels`` - 1) only with
    ``delete_orphan``. Unlinking a channel already unlinked plans nothing. The
    audit entry (``unlink_channel``: the removed ref, then ``delete_orphan``) is
    planned only when the group's refs change.

    Raises:
        NotFoundError: when ``group`` is ``None``, or the channel is known to
            neither the group nor the channels collection.

    """
    if group is None:
        raise NotFoundError(GROUP_RESOURCE, group_id)
    if channel_doc is None and channel_id not in group.channel_ids:
        # Neither side knows it: a typo, not a second unlink.
        raise NotFoundError(CHANNEL_RESOURCE, channel_id)
    writes: list[Write] = []
    audit = None
    refs = rewrite_refs(group.enforced_channels, {channel_id: None})
    if refs != group.enforced_channels:
        writes.append(Write("update", ProtectedGroup.collection, group.id,
                            {"enforced_channels": _ref_docs(refs)}))
        gone = next(r for r in group.enforced_channels if r.channel_id == channel_id)
        audit = Audit("unlink_channel", group.id, old_value=gone.model_dump(mode="json"),
                      new_value={"delete_orphan": delete_orphan})
    deleted = False
    if channel_doc is not None:
        linked = _linked(channel_doc)
        remaining = [g for g in linked if g != group.id]
        if delete_orphan and not remaining:
            writes.append(Write("delete", EnforcedChannel.collection, channel_id))
            deleted = True
        elif remaining != linked:
            writes.append(Write("update", EnforcedChannel.collection, channel_id,
                                {"linked_groups": remaining}))
    return GroupPlan(writes=tuple(writes), counters=_counters(total_channels=-int(deleted)),
                     audit=audit)


def plan_delete(group: ProtectedGroup, channel_docs: Mapping[int, ChannelData | None]) -> GroupPlan:
    """Plan deleting ``group`` and removing it from the ``linked_groups`` of its channels.

    ``channel_docs`` holds the data of the group's channels by id (missing or
    ``None``: no document). ``total_groups`` drops when the group was enabled.
    The audit entry (``delete``) records the group.
    """
    writes: list[Write] = []
    for channel_id in dict.fromkeys(group.channel_ids):
        data = channel_docs.get(channel_id)
        if data is not None and group.id in (linked := _linked(data)):
            writes.append(Write("update", EnforcedChannel.collection, channel_id,
                                {"linked_groups": [g for g in linked if g != group.id]}))
    writes.append(Write("delete", ProtectedGroup.collection, group.id))
    return GroupPlan(writes=tuple(writes), counters=_counters(total_groups=-int(group.enabled)),
                     audit=Audit("delete", group.id, old_value=audited_group(group)))
