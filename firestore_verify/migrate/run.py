"""``migrate``: the legacy SQL database into the Firestore data contract, safely re-runnable.

Order: the catalog (owners, channels, groups with their links, admins) is
validated in memory and written; the audit log, the config and the
verification log are streamed ``batch_size`` rows at a time. Verification
events go through `EventImporter`,
which writes each event with its counter increments and rollups in one atomic
batch, ``concurrency`` batches in flight, and skips ids already stored: ids are
``legacy-<id>``, so a second run counts nothing twice. Last, the group and
channel counters are recounted from the collections
(`reconcile()`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from firestore_verify.errors import InvalidInputError
from firestore_verify.events import MAX_WRITES_PER_COMMIT
from firestore_verify.migrate import catalog as cat
from firestore_verify.migrate.admin_emails import AuthResolver, StoredResolver, resolve_admins
from firestore_verify.migrate.event_import import (
    DEFAULT_CONCURRENCY,
    EventImporter,
    check_concurrency,
)
from firestore_verify.migrate.progress import Progress, ProgressBar
from firestore_verify.migrate.report import MigrationReport
from firestore_verify.migrate.schema import IGNORED_TABLES, LEGACY_TABLES, LegacyTable
from firestore_verify.migrate.sources import LegacySource, batched
from firestore_verify.migrate.writer import DocPlan, DocumentWriter, plan_document
from firestore_verify.models import Status, Verification

if TYPE_CHECKING:
    from firestore_verify.auth import Authenticator
    from firestore_verify.store import Store

__all__ = ["DEFAULT_CONCURRENCY", "TableReader", "batched", "check_batch_size",
           "check_concurrency", "counting", "expected_counters", "migrate", "target_of"]

ABSENT = "not in the source (older deployment): nothing to migrate"


def target_of(store: Store) -> dict[str, Any]:
    """Where a store writes, for reports."""
    return {"project": store.project, "database": store.database, "prefix": store.prefix,
            "emulator": store.settings.emulator_host}


def check_batch_size(batch_size: int) -> None:
    """Raise `InvalidInputError` unless ``1 <= batch_size <= 500``."""
    if not 1 <= batch_size <= MAX_WRITES_PER_COMMIT:
        raise InvalidInputError(
            f"batch size must be between 1 and {MAX_WRITES_PER_COMMIT} (Firestore's limit of "
            f"writes per commit), not {batch_size}."
        )


class TableReader:
    """Reads legacy tables for `.catalog`; marks absent tables skipped in the report.

    ``bars`` maps table names to progress bars advanced as rows are read.
    """

    def __init__(self, source: LegacySource, report: MigrationReport, batch_size: int) -> None:
        self.source = source
        self.report = report
        self.batch_size = batch_size
        self.bars: dict[str, ProgressBar] = {}

    def __call__(self, spec: LegacyTable) -> Iterable[dict[str, Any]]:
        """The rows of ``spec`` (none when the table is absent)."""
        if not self.source.has_table(spec.name):
            self.report.table(spec.name, spec.target).skipped = ABSENT
            return ()
        rows = self.source.rows(spec, self.batch_size)
        bar = self.bars.get(spec.name)
        return bar.track(rows) if bar is not None else rows


def expected_counters(catalog: cat.Catalog, statuses: Counter[Status]) -> dict[str, int]:
    """The counters the migrated data must show."""
    return {
        "total_groups": sum(1 for g in catalog.groups.values() if g.enabled),
        "total_channels": len(catalog.channels),
        "total_verifications": sum(statuses.values()),
        "success_count": statuses[Status.SUCCESS],
        "failed_count": statuses[Status.FAILED],
        "error_count": statuses[Status.ERROR],
    }


async def _write_documents(store: Store, report: MigrationReport, progress: Progress,
                           table: str, plans: Sequence[DocPlan] | Iterable[DocPlan],
                           *, batch_size: int, total: int | None) -> None:
    spec = LEGACY_TABLES[table]
    result = report.table(table, spec.target)
    if result.skipped:
        return
    writer = DocumentWriter(store, spec.target, table=table, result=result, report=report,
                            dry_run=report.dry_run)
    bar = progress.bar(table, total)
    try:
        for chunk in batched(plans, batch_size):
            await writer.write(chunk)
            bar.advance(len(chunk))
    finally:
        bar.done()


def counting(events: Iterable[Verification], statuses: Counter[Status]) -> Iterator[Verification]:
    """Yield ``events``, counting them by status into ``statuses``."""
    for event in events:
        statuses[event.status] += 1
        yield event


async def _write_events(store: Store, report: MigrationReport, events: Iterable[Verification],
                        batch_size: int, concurrency: int) -> None:
    """Write events exactly once, ``concurrency`` commits in flight; re-runs skip what is stored."""
    result = report.table("verification_log", LEGACY_TABLES["verification_log"].target)
    importer = EventImporter(store, result, concurrency=concurrency, batch_size=batch_size,
                             dry_run=report.dry_run)
    await importer.run(events)


async def migrate(
    source: LegacySource,
    store: Store,
    *,
    dry_run: bool = False,
    batch_size: int = 500,
    concurrency: int = DEFAULT_CONCURRENCY,
    progress: Progress | None = None,
    report: MigrationReport | None = None,
    admins_by_email: Authenticator | None = None,
) -> MigrationReport:
    """Migrate ``source`` into ``store``; return the report (also when rows were bad).

    Running it again changes nothing and counts nothing twice. Verification
    events are committed ``concurrency`` batches at a time (users dealt so that
    no two batches in flight touch the same user document). With
    ``dry_run`` Firestore is read (to say what would be created, updated or
    left as is) but never written. Pass ``report`` to keep what was done so
    far when the run fails half way (a re-run resumes: what landed is skipped).

    With ``admins_by_email`` (an authenticator of the store's project), legacy
    admins without a ``firebase_uid`` are resolved by email instead of being
    bad rows: the Firebase user is found or created and gets the role claim
    (`.admin_emails`). A dry run creates no users: it only looks for
    ``admin_users`` documents with those emails.

    Raises:
        ConfigurationError: when the source is not the legacy bot schema (no
            legacy table, or a required column missing); nothing is written.
        InvalidInputError: for a batch size outside 1..500, or a concurrency
            outside 1..32.
    """
    check_batch_size(batch_size)
    check_concurrency(concurrency)
    source.check_schema()
    progress = progress or Progress(enabled=False)
    if report is None:
        report = MigrationReport(source=source.url, target=target_of(store))
    report.dry_run = dry_run
    report.ignored = {t: why for t, why in IGNORED_TABLES.items() if source.has_table(t)}
    read = TableReader(source, report, batch_size)
    catalog = cat.build_catalog(read, report, by_email=admins_by_email is not None)
    if admins_by_email is not None:
        await resolve_admins(catalog, report, StoredResolver(store) if dry_run
                             else AuthResolver(admins_by_email))

    async def documents(table: str, plans: list[DocPlan]) -> None:
        await _write_documents(store, report, progress, table, plans,
                               batch_size=batch_size, total=len(plans))

    await documents("owners", [plan_document(o, o.id, create_only=["settings"])
                               for o in catalog.owners.values()])
    await documents("enforced_channels", [plan_document(c, c.id)
                                          for c in catalog.channels.values()])
    await documents("protected_groups", [plan_document(g, g.id)
                                         for g in catalog.groups.values()])
    legacy_ids = {uid: legacy for legacy, uid in catalog.admin_uids.items()}
    await documents("admin_users", [plan_document(a, legacy_ids[a.uid])
                                    for a in catalog.admins.values()])

    for table, stream in (
        ("admin_audit_log", lambda r: cat.audit_entries(r, catalog, report)),
        ("admin_config", lambda r: cat.config_entries(r, report)),
    ):
        spec = LEGACY_TABLES[table]
        if source.has_table(table):
            read.bars[table] = progress.bar(table, source.count(spec))
        plans = (plan_document(entry, entry.document_id()) for entry in stream(read))
        await _write_documents(store, report, Progress(enabled=False), table, plans,
                               batch_size=batch_size, total=None)

    statuses: Counter[Status] = Counter()
    log_spec = LEGACY_TABLES["verification_log"]
    if source.has_table(log_spec.name):
        read.bars[log_spec.name] = progress.bar(log_spec.name, source.count(log_spec))
    events = counting(cat.verifications(read, report), statuses)
    await _write_events(store, report, events, batch_size, concurrency)

    report.counters["expected"] = expected_counters(catalog, statuses)
    if not dry_run:
        drift = await store.stats.reconcile()
        await store.stats.refresh_success_rate()
        report.counters["before_reconcile"] = drift.before.model_dump(mode="json")
        report.counters["after"] = drift.after.model_dump(mode="json")
        report.counters["repaired"] = dict(drift.fixed)
    report.finish()
    return report
