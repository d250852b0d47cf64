"""``check``: does Firestore hold exactly what the legacy database says?

The source is read and validated exactly as ``migrate`` does (bad rows are
recomputed the same way and left out), then compared with Firestore:

* every document of the small collections (owners, channels, groups, admins,
  config): missing, extra, or with fields that differ; each group's channel
  set and each channel's group list are diffed by id;
* the audit log, document by document (missing or different) and by count;
* verification events by count per status (count aggregations) and per UTC
  day (the daily rollups), never by reading the events themselves;
* the counters (``store.stats.get()``) and the stored ``success_rate``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

from google.cloud.firestore_v1.base_query import FieldFilter

from firestore_verify.counters import stats_ref
from firestore_verify.migrate import catalog as cat
from firestore_verify.migrate.admin_emails import StoredResolver, resolve_admins
from firestore_verify.migrate.check_report import CheckReport
from firestore_verify.migrate.progress import Progress
from firestore_verify.migrate.report import MigrationReport
from firestore_verify.migrate.run import (
    TableReader,
    batched,
    check_batch_size,
    counting,
    expected_counters,
    target_of,
)
from firestore_verify.migrate.schema import LEGACY_TABLES
from firestore_verify.migrate.sources import LegacySource
from firestore_verify.migrate.writer import DocPlan, changed_fields, plan_document
from firestore_verify.models import Stats, Status, Verification
from firestore_verify.rollups import DAILY, day_key

if TYPE_CHECKING:
    from firestore_verify.store import Store

__all__ = ["CheckReport", "check"]

_STATUS_FIELDS = {Status.SUCCESS: "success", Status.FAILED: "failed", Status.ERROR: "error"}


async def _count(store: Store, query: Any) -> int:
    result = await query.count().get(**store.calls.options)
    return int(result[0][0].value)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _compare_fields(result: CheckReport, table: str, plan: DocPlan,
                    stored: Mapping[str, Any]) -> None:
    changed = changed_fields(stored, plan)
    if table == "protected_groups" and "enforced_channels" in changed:
        changed.remove("enforced_channels")
        want = {r["channel_id"] for r in plan.fields["enforced_channels"]}
        have = {r.get("channel_id") for r in stored.get("enforced_channels") or []}
        result.set_diff("channel sets", f"group {plan.doc_id}", want, have)
    if table == "enforced_channels" and "linked_groups" in changed:
        changed.remove("linked_groups")
        result.set_diff("linked groups", f"channel {plan.doc_id}",
                        set(plan.fields["linked_groups"]), set(stored.get("linked_groups") or []))
    for name in changed:
        result.differ(table, f"{plan.doc_id}: {name} is {_show(stored.get(name))} in Firestore, "
                             f"{_show(plan.fields[name])} in the source")


async def _small(store: Store, result: CheckReport, table: str,
                 plans: Iterable[DocPlan]) -> dict[str, dict[str, Any]]:
    """Compare a small collection document by document, both ways; return what is stored."""
    collection = LEGACY_TABLES[table].target
    stored = {s.id: s.to_dict() or {} for s in await store.calls.collect(
        partial(store.collection(collection).stream, **store.calls.attempt))}
    unseen = set(stored)
    expected = 0
    for plan in plans:
        expected += 1
        if plan.doc_id not in stored:
            result.differ(table, f"{plan.doc_id}: in the source, missing in Firestore")
            continue
        unseen.discard(plan.doc_id)
        _compare_fields(result, table, plan, stored[plan.doc_id])
    for doc_id in sorted(unseen):
        result.differ(table, f"{doc_id}: in Firestore, not in the source")
    result.count(table, expected, len(stored))
    return stored


async def _streamed(store: Store, result: CheckReport, table: str, plans: Iterable[DocPlan],
                    batch_size: int) -> None:
    """Compare a possibly big collection chunk by chunk; extra documents by count."""
    collection = store.collection(LEGACY_TABLES[table].target)
    expected = found = 0
    for chunk in batched(plans, batch_size):
        expected += len(chunk)
        refs = [collection.document(p.doc_id) for p in chunk]
        stored = {s.id: s.to_dict() or {} for s in await store.calls.collect(
            partial(store.client.get_all, refs, **store.calls.attempt)) if s.exists}
        for plan in chunk:
            if plan.doc_id not in stored:
                result.differ(table, f"{plan.doc_id}: in the source, missing in Firestore")
                continue
            found += 1
            _compare_fields(result, table, plan, stored[plan.doc_id])
    total = await _count(store, collection)
    if total > found:
        result.differ(table, f"{total - found} document(s) in Firestore have no source row")
    result.count(table, expected, total)


async def _events(store: Store, result: CheckReport, events: Iterable[Verification]) -> set[int]:
    by_status: Counter[str] = Counter()
    by_day: dict[str, Counter[str]] = {}
    users: set[int] = set()
    for event in events:
        status = _STATUS_FIELDS[event.status]
        by_status[status] += 1
        seen = by_day.setdefault(day_key(event.occurred_at), Counter())
        seen["total"] += 1
        seen[status] += 1
        users.add(event.user_id)
    collection = store.collection(Verification.collection)
    total = await _count(store, collection)
    result.count("verification_log", sum(by_status.values()), total)
    if total != sum(by_status.values()):
        result.differ("events by status", f"total: {total} in Firestore, "
                                          f"{sum(by_status.values())} in the source")
    for status in _STATUS_FIELDS.values():
        stored = await _count(store, collection.where(filter=FieldFilter("status", "==", status)))
        if stored != by_status[status]:
            result.differ("events by status", f"{status}: {stored} in Firestore, "
                                              f"{by_status[status]} in the source")
    rolled: dict[str, Counter[str]] = {}
    for snap in await store.calls.collect(
            partial(store.collection(DAILY).stream, **store.calls.attempt)):
        data = snap.to_dict() or {}
        counts = rolled.setdefault(str(data.get("day") or snap.id.split("~")[0]), Counter())
        for name in ("total", *_STATUS_FIELDS.values()):
            counts[name] += int(data.get(name) or 0)
    for day in sorted(set(by_day) | set(rolled)):
        want = by_day.get(day) or Counter()
        have = rolled.get(day) or Counter()
        names = ("total", *_STATUS_FIELDS.values())
        if any(want[n] != have[n] for n in names):
            shown = ", ".join(f"{n} {have[n]} vs {want[n]}" for n in names if want[n] != have[n])
            result.differ("events by day", f"{day} (Firestore vs source): {shown}")
    return users


async def _counters(store: Store, result: CheckReport, expected: dict[str, int]) -> None:
    stats = await store.stats.get()
    for name, want in expected.items():
        have = getattr(stats, name)
        if have != want:
            result.differ("counters", f"{name}: {have} in Firestore, {want} from the source")
    snap = await stats_ref(store).get(**store.calls.options)
    if expected["total_verifications"] and snap.exists:
        stored_rate = (snap.to_dict() or {}).get("success_rate")
        want_rate = Stats(**{k: v for k, v in expected.items() if k in Stats.model_fields}
                          ).success_rate
        if stored_rate != want_rate:
            result.differ("counters", f"success_rate: {stored_rate} stored in _metadata/stats, "
                                      f"{want_rate} from the counts")


async def check(source: LegacySource, store: Store, *, batch_size: int = 500,
                progress: Progress | None = None,
                admins_by_email: bool = False) -> CheckReport:
    """Compare ``source`` with ``store``; the result lists every difference found.

    With ``admins_by_email`` (for data migrated with it), legacy admins without
    a ``firebase_uid`` are matched to the ``admin_users`` document with their
    email (Firebase Auth is not called) instead of being counted as bad rows.

    Raises:
        ConfigurationError: when the source is not the legacy bot schema (no
            legacy table, or a required column missing).
    """
    check_batch_size(batch_size)
    source.check_schema()
    progress = progress or Progress(enabled=False)
    report = MigrationReport(source=source.url, target=target_of(store))
    read = TableReader(source, report, batch_size)
    catalog = cat.build_catalog(read, report, by_email=admins_by_email)
    if admins_by_email:
        await resolve_admins(catalog, report, StoredResolver(store))
    result = CheckReport(source=source.url, target=target_of(store))
    await _small(store, result, "owners", (plan_document(o, o.id, create_only=["settings"])
                                           for o in catalog.owners.values()))
    await _small(store, result, "enforced_channels",
                 (plan_document(c, c.id) for c in catalog.channels.values()))
    groups = await _small(store, result, "protected_groups",
                          (plan_document(g, g.id) for g in catalog.groups.values()))
    await _small(store, result, "admin_users",
                 (plan_document(a, a.uid) for a in catalog.admins.values()))
    for table in ("admin_audit_log", "verification_log"):
        if source.has_table(table):
            read.bars[table] = progress.bar(f"check {table}", source.count(LEGACY_TABLES[table]))
    await _streamed(store, result, "admin_audit_log",
                    (plan_document(e, e.id) for e in cat.audit_entries(read, catalog, report)),
                    batch_size)
    await _small(store, result, "admin_config",
                 (plan_document(e, e.key) for e in cat.config_entries(read, report)))
    statuses: Counter[Status] = Counter()
    users = await _events(store, result, counting(cat.verifications(read, report), statuses))
    expected = {**expected_counters(catalog, statuses), "total_users": len(users)}
    await _counters(store, result, expected)
    links = sum(len(data.get("enforced_channels") or []) for data in groups.values())
    result.count("group_channel_links", catalog.links, links)
    for table, outcome in report.tables.items():
        result.bad(table, outcome.bad_rows, outcome.skipped)
    result.bad_row_count = report.bad_row_count
    report.close()
    return result
