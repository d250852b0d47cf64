"""Migrate a legacy SQL bot database into Firestore from Python, then check it.

The command line does the same (``firestore-verify migrate`` / ``check``); use
the API to run a migration from your own deployment tooling:

    FIRESTORE_EMULATOR_HOST=127.0.0.1:8080 python docs/examples/migrate_from_sql.py sqlite:///bot.db
"""

from __future__ import annotations

import sys

import anyio

import firestore_verify as fv
from firestore_verify.migrate import Progress, check, migrate, open_source


# --8<-- [start:migrate]
async def migrate_then_check(store: fv.Store, url: str, report_path: str) -> bool:
    with open_source(url) as source:  # read-only: the legacy database is never written
        report = await migrate(source, store, progress=Progress())
        report.write_json(report_path)  # every bad row: table, key, reason
        print(report.summary())

        result = await check(source, store)  # bad rows are left out the same way
        print(result.format())
        return result.in_sync


# --8<-- [end:migrate]


async def run(url: str) -> None:
    async with await fv.connect(project="my-bot") as store:
        in_sync = await migrate_then_check(store, url, "migration-report.json")
    sys.exit(0 if in_sync else 1)


if __name__ == "__main__":
    anyio.run(run, sys.argv[1])
