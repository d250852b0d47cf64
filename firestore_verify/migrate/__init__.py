"""Move a legacy SQL bot database (PostgreSQL or SQLite) into the Firestore data contract.

Command line: ``firestore-verify migrate --from URL`` and
``firestore-verify check --from URL``. From Python::

    from firestore_verify.migrate import check, migrate, open_source

    with open_source("sqlite:///bot.db") as source:
        report = await migrate(source, store)
        report.write_json("migration-report.json")
        result = await check(source, store)
        assert result.in_sync, result.format()

Modules, one job each: :mod:`.schema` (the legacy tables), :mod:`.sources`,
:mod:`.sqlite`, :mod:`.postgres` (reading), :mod:`.values` and :mod:`.mapping`
(row -> model), :mod:`.catalog` (foreign keys, both sides of links),
:mod:`.admin_emails` (admins without a Firebase uid, by email),
:mod:`.writer` (compare-then-write batches), :mod:`.event_import` (the
verification log, exactly once, several commits in flight) and
:mod:`.event_writes` (their commits, encoded), :mod:`.run` (the migration),
:mod:`.report`, :mod:`.progress`, :mod:`.check` and :mod:`.check_result`.
"""

from firestore_verify.migrate.check import check
from firestore_verify.migrate.check_result import CheckResult, Difference
from firestore_verify.migrate.mapping import EVENT_ID_PREFIX, BadRowError
from firestore_verify.migrate.opening import open_source
from firestore_verify.migrate.progress import Progress
from firestore_verify.migrate.report import BadRow, MigrationReport, TableResult
from firestore_verify.migrate.run import migrate
from firestore_verify.migrate.schema import IGNORED_TABLES, LEGACY_TABLES, LegacyTable
from firestore_verify.migrate.sources import Source, redact_url

__all__ = [
    "EVENT_ID_PREFIX",
    "IGNORED_TABLES",
    "LEGACY_TABLES",
    "BadRow",
    "BadRowError",
    "CheckResult",
    "Difference",
    "LegacyTable",
    "MigrationReport",
    "Progress",
    "Source",
    "TableResult",
    "check",
    "migrate",
    "open_source",
    "redact_url",
]
