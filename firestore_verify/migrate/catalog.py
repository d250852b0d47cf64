"""The reference tables, validated and cross-checked: the catalog.

Owners, channels, groups, their links and the admins are small (a bot has
thousands of groups, not millions), so they are held in memory to check
foreign keys and build both sides of every link: a group embeds the refs of
its channels, a channel lists its groups. Rows that fail a check are reported
to the `MigrationReport` with the
reason, and so are rows that depend on them (a link to a bad group is bad too).

The big tables (audit log, config, verification log) are streamed through
`audit_entries()`, `config_entries()` and `verifications()`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from firestore_verify.migrate import mapping
from firestore_verify.migrate.mapping import BadRowError
from firestore_verify.migrate.report import MigrationReport
from firestore_verify.migrate.schema import LEGACY_TABLES, LegacyTable
from firestore_verify.migrate.values import BadValue, to_text, to_uuid
from firestore_verify.models import (
    AdminUser,
    AuditEntry,
    ConfigEntry,
    EnforcedChannel,
    Owner,
    ProtectedGroup,
    Verification,
)
from firestore_verify.models.group import MAX_CHANNELS_PER_GROUP

__all__ = ["Catalog", "Reader", "audit_entries", "build_catalog", "config_entries",
           "verifications"]

#: Reads one legacy table: yields its rows (the caller adds progress, batching...).
Reader = Callable[[LegacyTable], Iterable[dict[str, Any]]]


@dataclass
class Catalog:
    """The validated reference tables, both sides of every link filled in."""

    owners: dict[int, Owner] = field(default_factory=dict)
    channels: dict[int, EnforcedChannel] = field(default_factory=dict)
    groups: dict[int, ProtectedGroup] = field(default_factory=dict)
    #: Links that made it into a group and a channel.
    links: int = 0
    #: Admin users by Firebase uid.
    admins: dict[str, AdminUser] = field(default_factory=dict)
    #: Legacy ``admin_users.id`` (canonical UUID text) -> Firebase uid.
    admin_uids: dict[str, str] = field(default_factory=dict)
    #: Legacy keys reported bad, per table (to tell "dangling" from "points at a bad row").
    bad_keys: dict[str, set[Any]] = field(default_factory=dict)
    #: Valid admins without a ``firebase_uid``, to resolve by email (``by_email=True``):
    #: (the row's key, legacy id, the admin with a placeholder uid).
    unresolved: list[tuple[Any, str, AdminUser]] = field(default_factory=list)

    def channel_sets(self) -> dict[int, set[int]]:
        """Group id -> the ids of the channels it enforces."""
        return {g.id: set(g.channel_ids) for g in self.groups.values()}


def _key(value: Any) -> Any:
    """A key comparable across tables: integers stay integers whatever the driver gave."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return value


def _uuid_or_raw(value: Any) -> Any:
    try:
        return to_uuid(value, "id")
    except BadValue:
        return value


def _text_key(value: Any) -> Any:
    return value if isinstance(value, (int, str)) else str(value)


def _unique(doc_id: str, seen: set[str]) -> None:
    if doc_id in seen:
        raise BadRowError(f"another row already became document {doc_id!r} (duplicate key)")
    seen.add(doc_id)


class _Builder:
    def __init__(self, report: MigrationReport) -> None:
        self.report = report
        self.catalog = Catalog()

    def rows(self, read: Reader, table: str) -> Iterator[dict[str, Any]]:
        spec = LEGACY_TABLES[table]
        result = self.report.table(table, spec.target)
        for row in read(spec):
            result.source_rows += 1
            yield row

    def bad(self, table: str, key: Any, reason: str,
            norm: Callable[[Any], Any] = _key) -> None:
        self.report.bad(table, _text_key(key), reason)
        self.catalog.bad_keys.setdefault(table, set()).add(norm(key))

    def reference(self, column: str, value: Any, table: str, good: Any,
                  norm: Callable[[Any], Any] = _key) -> str | None:
        """Why ``column = value`` does not point at a good row of ``table`` (``None``: it does)."""
        if value is None:
            return f"{column}: empty (must reference {table})"
        key = norm(value)
        if key in good:
            return None
        if key in self.catalog.bad_keys.get(table, ()):
            return f"{column}: {value!r} references a bad {table} row (see that row)"
        return f"{column}: dangling foreign key, {value!r} is not in {table}"


def build_catalog(read: Reader, report: MigrationReport, *, by_email: bool = False) -> Catalog:
    """Read, validate and cross-check owners, channels, groups, links and admins.

    With ``by_email``, valid admins without a ``firebase_uid`` go to
    `Catalog.unresolved` (for `.admin_emails`) instead of being bad rows.
    """
    b = _Builder(report)
    c = b.catalog
    for row in b.rows(read, "owners"):
        try:
            o = mapping.owner(row)
        except BadRowError as exc:
            b.bad("owners", row["user_id"], exc.reason)
            continue
        c.owners[o.id] = o
    for row in b.rows(read, "enforced_channels"):
        try:
            ch = mapping.enforced_channel(row)
        except BadRowError as exc:
            b.bad("enforced_channels", row["channel_id"], exc.reason)
            continue
        c.channels[ch.id] = ch
    groups: dict[int, ProtectedGroup] = {}
    for row in b.rows(read, "protected_groups"):
        try:
            g = mapping.protected_group(row)
            why = b.reference("owner_id", row["owner_id"], "owners", c.owners)
            if why:
                raise BadRowError(why)
        except BadRowError as exc:
            b.bad("protected_groups", row["group_id"], exc.reason)
            continue
        groups[g.id] = g
    _link(b, read, groups)
    _admins(b, read, by_email)
    return c


def _link(b: _Builder, read: Reader, groups: dict[int, ProtectedGroup]) -> None:
    c = b.catalog
    links: dict[int, list[tuple[Any, int]]] = {}
    for row in b.rows(read, "group_channel_links"):
        why = (b.reference("group_id", row["group_id"], "protected_groups", groups)
               or b.reference("channel_id", row["channel_id"], "enforced_channels", c.channels))
        group_id, channel_id = _key(row["group_id"]), _key(row["channel_id"])
        if why is None and any(ch == channel_id for _, ch in links.get(group_id, ())):
            why = f"duplicate link of group {group_id} and channel {channel_id}"
        if why:
            b.bad("group_channel_links", row["id"], why)
            continue
        links.setdefault(group_id, []).append((row["id"], channel_id))
    linked: dict[int, list[int]] = {}
    for group_id, group in groups.items():
        mine = links.get(group_id, [])
        if len(mine) > MAX_CHANNELS_PER_GROUP:
            b.bad("protected_groups", group_id,
                  f"enforces {len(mine)} channels, more than the {MAX_CHANNELS_PER_GROUP} "
                  "a group may have; unlink some and migrate again")
            for link_id, _ in mine:
                b.bad("group_channel_links", link_id,
                      f"group_id: {group_id} references a bad protected_groups row (see that row)")
            continue
        refs = [c.channels[ch].ref() for _, ch in mine]
        c.groups[group_id] = group.model_copy(update={"enforced_channels": refs})
        for _, ch in mine:
            linked.setdefault(ch, []).append(group_id)
        c.links += len(mine)
    for channel_id, channel in c.channels.items():
        c.channels[channel_id] = channel.model_copy(
            update={"linked_groups": linked.get(channel_id, [])})
    result = b.report.tables["group_channel_links"]
    result.embedded = c.links


def _admins(b: _Builder, read: Reader, by_email: bool) -> None:
    c = b.catalog
    for row in b.rows(read, "admin_users"):
        try:
            legacy_id = to_uuid(row["id"], "id")
            if by_email and to_text(row.get("firebase_uid")) is None:
                unresolved = {**row, "firebase_uid": mapping.UNRESOLVED_UID}
                c.unresolved.append((row["id"], legacy_id, mapping.admin_user(unresolved)))
                continue
            admin = mapping.admin_user(row)
            if admin.uid in c.admins:
                raise BadRowError(f"firebase_uid: {admin.uid!r} is used by another admin user")
        except (BadRowError, BadValue) as exc:
            b.bad("admin_users", row["id"], getattr(exc, "reason", str(exc)), _uuid_or_raw)
            continue
        c.admins[admin.uid] = admin
        c.admin_uids[legacy_id] = admin.uid


def audit_entries(read: Reader, catalog: Catalog,
                  report: MigrationReport) -> Iterator[AuditEntry]:
    """The valid ``admin_audit_log`` rows as entries (bad ones reported), streamed."""
    b = _Builder(report)
    b.catalog = catalog
    seen: set[str] = set()
    for row in b.rows(read, "admin_audit_log"):
        try:
            why = b.reference("user_id", row["user_id"], "admin_users", catalog.admin_uids,
                              _uuid_or_raw)
            if why:
                raise BadRowError(why)
            entry = mapping.audit_entry(row, catalog.admin_uids[_uuid_or_raw(row["user_id"])])
            _unique(entry.id, seen)
            yield entry
        except BadRowError as exc:
            report.bad("admin_audit_log", _text_key(row["id"]), exc.reason)


def config_entries(read: Reader, report: MigrationReport) -> Iterator[ConfigEntry]:
    """The valid ``admin_config`` rows as entries (bad ones reported), streamed."""
    b = _Builder(report)
    seen: set[str] = set()
    for row in b.rows(read, "admin_config"):
        try:
            entry = mapping.config_entry(row)
            _unique(entry.key, seen)
            yield entry
        except BadRowError as exc:
            report.bad("admin_config", row["key"], exc.reason)


def verifications(read: Reader, report: MigrationReport) -> Iterator[Verification]:
    """The valid ``verification_log`` rows as events (bad ones reported), streamed."""
    b = _Builder(report)
    for row in b.rows(read, "verification_log"):
        try:
            yield mapping.verification(row)
        except BadRowError as exc:
            report.bad("verification_log", row["id"], exc.reason)
