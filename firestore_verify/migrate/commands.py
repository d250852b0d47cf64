"""``firestore-verify migrate`` and ``firestore-verify check``: arguments and runners."""

from __future__ import annotations

import argparse
import json
import os
import sys
from contextlib import AsyncExitStack
from pathlib import Path

import anyio

from firestore_verify.cli_options import (
    EXIT_BAD_ROWS,
    EXIT_FAILED,
    EXIT_OK,
    add_auth_arguments,
    add_store_arguments,
    authenticator_from,
    connect_from,
)
from firestore_verify.errors import ConfigurationError
from firestore_verify.migrate.check import check
from firestore_verify.migrate.check_report import CheckReport
from firestore_verify.migrate.opening import open_source
from firestore_verify.migrate.progress import Progress
from firestore_verify.migrate.report import MigrationReport
from firestore_verify.migrate.run import (
    DEFAULT_CONCURRENCY,
    check_batch_size,
    check_concurrency,
    migrate,
    target_of,
)

__all__ = ["configure_check", "configure_migrate", "run_check", "run_migrate"]

DEFAULT_REPORT = "migration-report.json"


def _source_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from", dest="source", required=True, metavar="URL",
                        help="the legacy database: sqlite:///bot.db, sqlite:////abs/bot.db or "
                             "postgresql://user@host:5432/db (password from PGPASSWORD or "
                             "~/.pgpass keeps it out of the process list)")
    parser.add_argument("--batch-size", type=int, default=500, metavar="N",
                        help="rows read per fetch and documents per commit, 1-500 "
                             "(default: %(default)s)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars on stderr")
    add_store_arguments(parser)


def configure_migrate(parser: argparse.ArgumentParser) -> None:
    """Add the ``migrate`` arguments."""
    _source_arguments(parser)
    parser.add_argument("--dry-run", action="store_true",
                        help="read both sides and report what would be written; write nothing")
    parser.add_argument("--report", default=DEFAULT_REPORT, metavar="FILE",
                        help="where to write the JSON report with every bad row "
                             "(default: %(default)s)")
    parser.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY, metavar="N",
                        help="verification-log commits in flight at once, 1-32 "
                             "(default: %(default)s)")
    _by_email_argument(parser, "find or create the Firebase Auth user of each legacy admin "
                       "without a firebase_uid by its email, and set its role claim, instead "
                       "of reporting the admin as a bad row (a dry run creates no users)")
    add_auth_arguments(parser)


def _by_email_argument(parser: argparse.ArgumentParser, help: str) -> None:
    parser.add_argument("--resolve-admins-by-email", action="store_true", help=help)


def configure_check(parser: argparse.ArgumentParser) -> None:
    """Add the ``check`` arguments."""
    _source_arguments(parser)
    parser.add_argument("--report", metavar="FILE",
                        help="also write the differences as JSON to FILE")
    _by_email_argument(parser, "for data migrated with --resolve-admins-by-email: match legacy "
                       "admins without a firebase_uid to the admin_users document with their "
                       "email (Firebase Auth is not called)")


def _check_report_path(path: str | None) -> None:
    """Refuse a ``--report`` that cannot be written, before anything is migrated."""
    if path is None:
        return
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    if target.is_dir():
        problem = "is a directory"
    elif not folder.is_dir():
        problem = f"is in {str(folder)!r}, which does not exist"
    elif not os.access(folder, os.W_OK) or (target.exists() and not os.access(target, os.W_OK)):
        problem = "is not writable"
    else:
        return
    raise ConfigurationError(f"--report {path!r} {problem}: pass --report FILE in a "
                             "writable folder.")


async def _migrate(args: argparse.Namespace) -> int:
    check_batch_size(args.batch_size)
    check_concurrency(args.concurrency)
    _check_report_path(args.report)
    with open_source(args.source) as source:
        # The whole source is vetted before Firestore is touched: bad input writes nothing.
        source.check_schema()
        store = await connect_from(args)
        async with store, AsyncExitStack() as stack:
            auth = None
            if args.resolve_admins_by_email:
                auth = await stack.enter_async_context(authenticator_from(args, store))
            report = MigrationReport(source=source.url, target=target_of(store))
            try:
                await migrate(source, store, dry_run=args.dry_run, batch_size=args.batch_size,
                              concurrency=args.concurrency,
                              progress=Progress(enabled=not args.quiet), report=report,
                              admins_by_email=auth)
            except BaseException:
                if not report.tables:
                    raise
                report.finish()
                path = report.write_json(args.report)
                print(f"stopped half way; partial report written to {path}. Running the same "
                      "command again resumes: what landed is left as is.", file=sys.stderr)
                raise
    path = report.write_json(args.report)
    print(report.summary())
    print(f"report: {path}")
    if report.bad_row_count:
        print(f"{report.bad_row_count} bad row(s) were not migrated: fix them in the source "
              f"(reasons in {path}) and run migrate again.")
        report.close()
        return EXIT_BAD_ROWS
    report.close()
    return EXIT_OK


def run_migrate(args: argparse.Namespace) -> int:
    """Run ``migrate``; 0 when every row migrated, 3 when some were reported bad."""
    return anyio.run(_migrate, args, backend="asyncio")


async def _check(args: argparse.Namespace) -> CheckReport:
    check_batch_size(args.batch_size)
    _check_report_path(args.report)
    with open_source(args.source) as source:
        source.check_schema()
        store = await connect_from(args)
        async with store:
            return await check(source, store, batch_size=args.batch_size,
                               progress=Progress(enabled=not args.quiet),
                               admins_by_email=args.resolve_admins_by_email)


def run_check(args: argparse.Namespace) -> int:
    """Run ``check``; 0 when Firestore is in sync with the source, 1 on drift."""
    result: CheckReport = anyio.run(_check, args, backend="asyncio")
    print(result.format())
    if args.report:
        Path(args.report).write_text(json.dumps(result.to_dict(), indent=2, default=str) + "\n",
                                     encoding="utf-8")
        print(f"report: {args.report}")
    return EXIT_OK if result.in_sync else EXIT_FAILED
