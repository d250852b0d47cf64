"""Move a legacy SQL bot database (PostgreSQL or SQLite) into the Firestore data contract.

Command line: ``firestore-verify migrate --from URL`` and
``firestore-verify check --from URL``. From Python::

    from firestore_verify.migrate import check, migrate, open_source

    with open_source("sqlite:///bot.db") as source:
        report = await migrate(source, store)
        report.write_json("migration-report.json")
        result = await check(source, store)
        assert result.in_sync, result.format()

Modules, one job each: `.schema` (the legacy tables), `.sources`,
`.sqlite`, `.postgres` (reading), `.values` and `.mapping`
(row -> model), `.catalog` (foreign keys, both sides of links),
`.admin_emails` (admins without a Firebase uid, by email),
`.writer` (compare-then-write batches), `.event_import` (the
verification log, exactly once, several commits in flight) and
`.event_writes` (their commits, encoded), `.run` (the migration),
`.report`, `.progress`, `.check` and `.check_report`.
"""

from firestore_verify.migrate.check import check
from firestore_verify.migrate.check_report import CheckReport, Difference
from firestore_verify.migrate.mapping import EVENT_ID_PREFIX, BadRowError
from firestore_verify.migrate.opening import open_source
from firestore_verify.migrate.progress import Progress
from firestore_verify.migrate.report import BadRow, MigrationReport, TableResult
from firestore_verify.migrate.run import migrate
from firestore_verify.migrate.schema import IGNORED_TABLES, LEGACY_TABLES, LegacyTable
from firestore_verify.migrate.sources import LegacySource, redact_url

__all__ = [
    "EVENT_ID_PREFIX",
    "IGNORED_TABLES",
    "LEGACY_TABLES",
    "BadRow",
    "BadRowError",
    "CheckReport",
    "Difference",
    "LegacyTable",
    "MigrationReport",
    "Progress",
    "LegacySource",
    "TableResult",
    "check",
    "migrate",
    "open_source",
    "redact_url",
]
