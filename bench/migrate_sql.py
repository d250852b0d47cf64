"""Benchmark: migrate a legacy SQL database with 100k verification rows into the emulator.

    .venv/bin/python -m bench.migrate_sql                    # 100k rows, SQLite
    .venv/bin/python -m bench.migrate_sql --rows 20000,100000 --tracemalloc
    .venv/bin/python -m bench.migrate_sql --postgres         # from a throwaway PostgreSQL

Builds the legacy schema of ``tests/migrate/legacy_schema.py`` (the same data
generator the tests use, bad rows included), starts the Firestore emulator
(or reuses ``FIRESTORE_VERIFY_EMULATOR_HOST``), then measures the first
migration (rows per second of the verification log), a re-run (nothing
written), ``check``, and memory: peak RSS of this process sampled every 50 ms
(and, with ``--tracemalloc``, the peak of Python allocations). Memory that
does not grow with the row count is the point: rows stream through in batches.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio

import firestore_verify as fv
from firestore_verify.migrate import Progress, check, migrate, open_source
from firestore_verify.testing import FirestoreEmulator

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "migrate"))
import legacy_schema  # noqa: E402
import pg_server  # noqa: E402


def _rss() -> int:
    """Resident set size of this process, in bytes (Linux; 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return 0


class RssSampler:
    """Samples the RSS in a thread; ``peak`` is the largest value seen."""

    def __init__(self, every: float = 0.05) -> None:
        self.every, self.peak, self._stop = every, _rss(), threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.peak = max(self.peak, _rss())

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss())


def _build(url: str, rows: int, users: int, days: int) -> None:
    """Fill the legacy database at ``url``, in a child process: its memory is not ours."""
    subprocess.run([sys.executable, "-m", "bench.migrate_sql", "--build", url, "--rows",
                    str(rows), "--users", str(users), "--days", str(days)], cwd=ROOT, check=True)


def _build_here(url: str, rows: int, users: int, days: int) -> None:
    if url.startswith("sqlite"):
        conn: Any = sqlite3.connect(url.removeprefix("sqlite:///"))
        legacy_schema.build(conn, "sqlite", events=rows, users=users, days=days)
        conn.close()
        return
    import psycopg

    with psycopg.connect(url) as conn:
        legacy_schema.build(conn, "postgresql", events=rows, users=users, days=days)


@contextlib.contextmanager
def _sqlite(rows: int, users: int, days: int) -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="fv-bench-") as folder:
        url = f"sqlite:///{Path(folder) / 'legacy.db'}"
        _build(url, rows, users, days)
        yield url


@contextlib.contextmanager
def _postgres(rows: int, users: int, days: int) -> Iterator[str]:
    server = pg_server.start()
    try:
        _build(server.url(), rows, users, days)
        yield server.url()
    finally:
        server.stop()


async def _measure(url: str, host: str, batch_size: int) -> dict[str, Any]:
    store = await fv.connect(project=f"bench-{uuid.uuid4().hex[:8]}", emulator_host=host)
    async with store:
        with open_source(url) as source:
            start = time.perf_counter()
            first = await migrate(source, store, batch_size=batch_size, progress=Progress())
            first_s = time.perf_counter() - start
            start = time.perf_counter()
            again = await migrate(source, store, batch_size=batch_size, progress=Progress())
            again_s = time.perf_counter() - start
            start = time.perf_counter()
            result = await check(source, store, batch_size=batch_size)
            check_s = time.perf_counter() - start
    log = first.tables["verification_log"]
    return {"first": first, "first_s": first_s, "again": again, "again_s": again_s,
            "check_s": check_s, "in_sync": result.in_sync, "events": log.created}


def run_one(rows: int, args: argparse.Namespace, host: str) -> dict[str, Any]:
    """Build a legacy database with ``rows`` verification rows and measure its migration."""
    build = _postgres if args.postgres else _sqlite
    with build(rows, args.users, args.days) as url:
        if args.tracemalloc:
            tracemalloc.start()
        rss_before = _rss()
        with RssSampler() as sampler:
            out: dict[str, Any] = anyio.run(_measure, url, host, args.batch_size,
                                            backend="asyncio")
        if args.tracemalloc:
            out["heap_peak"] = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        out.update(rows=rows, rss_before=rss_before, rss_peak=sampler.peak)
        return out


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print one block per row count."""
    parser = argparse.ArgumentParser(prog="python -m bench.migrate_sql", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", default="100000",
                        help="verification rows, comma-separated sizes (default: 100000)")
    parser.add_argument("--users", type=int, default=5000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--postgres", action="store_true", help="read from PostgreSQL")
    parser.add_argument("--tracemalloc", action="store_true",
                        help="also trace Python allocations (slower)")
    parser.add_argument("--build", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.build:
        _build_here(args.build, int(args.rows), args.users, args.days)
        return 0
    attach = os.environ.get("FIRESTORE_VERIFY_EMULATOR_HOST")
    emulator = FirestoreEmulator.attach(attach) if attach else FirestoreEmulator().start()
    mb = 1024 * 1024
    try:
        for rows in (int(r) for r in args.rows.split(",")):
            r = run_one(rows, args, emulator.host)
            assert r["events"] == rows, r
            assert r["in_sync"], "check found drift after the migration"
            source = "PostgreSQL" if args.postgres else "SQLite"
            print(f"\nmigrate {rows:,} verification rows from {source} ({args.users:,} users, "
                  f"60 groups, {args.days} days), batch {args.batch_size}")
            print(f"  first run   {r['first_s']:8.1f} s   {rows / r['first_s']:8,.0f} rows/s "
                  "(whole migration, catalog included)")
            print(f"  re-run      {r['again_s']:8.1f} s   {rows / r['again_s']:8,.0f} rows/s "
                  f"(created {sum(t.created for t in r['again'].tables.values())}, "
                  f"updated {sum(t.updated for t in r['again'].tables.values())})")
            print(f"  check       {r['check_s']:8.1f} s   in sync: {r['in_sync']}")
            growth = (r["rss_peak"] - r["rss_before"]) / mb
            print(f"  peak RSS    {r['rss_peak'] / mb:8.0f} MB  (before the migration "
                  f"{r['rss_before'] / mb:.0f} MB, growth {growth:.0f} MB)")
            if "heap_peak" in r:
                print(f"  peak heap   {r['heap_peak'] / mb:8.1f} MB  (tracemalloc)")
    finally:
        if not attach:
            emulator.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
