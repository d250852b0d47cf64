"""Benchmark: migrate a legacy SQL database with 100k verification rows into the emulator.

    .venv/bin/python -m bench.migrate_sql                    # 100k rows, SQLite then PostgreSQL
    .venv/bin/python -m bench.migrate_sql --rows 20000,100000 --tracemalloc
    .venv/bin/python -m bench.migrate_sql --source sqlite    # or --postgres: one source only
    .venv/bin/python -m bench.migrate_sql --concurrency 1 --ceiling-concurrency 1,4

Builds the legacy schema of ``tests/migrate/legacy_schema.py`` (the same data
generator the tests use, bad rows included) in SQLite and in a throwaway
PostgreSQL. Each source is measured on a fresh Firestore emulator (its heap
fills up and slows it down; ``FIRESTORE_VERIFY_EMULATOR_HOST`` reuses one
instead), warmed up with bare creates and a small migration, then, in the
same run:

* the **ceiling**: rows per second of bare batched creates, as many
  verification documents as the log has rows, ``batch.create`` 500 per commit
  with as many commits in flight as the migration uses; measured before and
  after the migration, whose figures are given as a ratio to their mean (the
  machine's load changes; a ceiling of the same run moves with it);
* the migration: rows per second of the whole first run (catalog and the
  final counter recount included) and of its verification-log phase; a
  re-run (it must write nothing); ``check``;
* CPU per row, of this process and of the emulator: what load does not change;
* memory: peak RSS of this process sampled every 50 ms during the migration
  (and, with ``--tracemalloc``, the peak of Python allocations). Memory that does
  not grow with the row count is the point: rows stream through in batches.

``--encoded-ceiling`` also measures creates encoded straight to protobuf (as the
event writers do), which is what the emulator itself can take.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import anyio

import firestore_verify as fv
from firestore_verify._encode import create_write
from firestore_verify.migrate import Progress, check, migrate, open_source
from firestore_verify.migrate import run as migrate_run
from firestore_verify.repositories.stats import StatsRepository
from firestore_verify.testing import FirestoreEmulator

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "migrate"))
import legacy_schema  # noqa: E402
import pg_server  # noqa: E402

#: Documents per commit of the ceiling (Firestore's limit, the migration's default batch).
CEILING_BATCH = 500
SOURCES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}


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


def _wipe(host: str, project: str) -> None:
    """Drop what a measurement left in the emulator, so the next one starts as lean."""
    with contextlib.suppress(Exception):
        FirestoreEmulator.attach(host).wipe(project)


# -- the ceiling ----------------------------------------------------------------------------


def _ceiling_events(start: int, count: int) -> list[fv.Verification]:
    """Verification events shaped like the migrated ones (built per batch: memory stays flat)."""
    base = datetime(2024, 5, 1, tzinfo=timezone.utc)
    return [fv.Verification(id=f"legacy-{i}", user_id=1 + i % 5000,
                            group_id=-1001000000000 - i % 60, channel_id=-1002000000000,
                            status=fv.Status.SUCCESS, latency_ms=float(i % 900), cached=False,
                            occurred_at=base + timedelta(seconds=i))
            for i in range(start, start + count)]


async def _ceiling(host: str, rows: int, concurrency: int, *, encoded: bool) -> float:
    """Rows per second of bare batched creates: ``rows`` documents, ``concurrency`` in flight."""
    project = f"ceiling-{uuid.uuid4().hex[:8]}"
    store = await fv.connect(project=project, emulator_host=host)
    limit = anyio.Semaphore(concurrency)
    async with store:
        collection = store.collection(fv.Verification.collection)
        prefix = collection.document("x")._document_path.rsplit("/", 1)[0]

        async def commit(start: int, count: int) -> None:
            try:
                batch = store.client.batch()
                events = _ceiling_events(start, count)
                if encoded:
                    batch._add_write_pbs([create_write(f"{prefix}/{e.id}", e.to_document())
                                          for e in events])
                else:
                    for event in events:
                        batch.create(collection.document(event.id), event.to_document())
                await batch.commit(**store.calls.options)
            finally:
                limit.release()

        began = time.perf_counter()
        async with anyio.create_task_group() as group:
            for start in range(0, rows, CEILING_BATCH):
                await limit.acquire()
                group.start_soon(commit, start, min(CEILING_BATCH, rows - start))
        seconds = time.perf_counter() - began
    _wipe(host, project)
    return rows / seconds


def run_ceiling(rows: int, concurrency: int, host: str, *, encoded: bool = False) -> float:
    """Rows per second of ``rows`` bare ``batch.create`` commits, ``concurrency`` at once.

    With ``encoded`` the documents are encoded straight to protobuf instead of
    through ``batch.create`` (the client's proto-plus path).
    """
    rate: float = anyio.run(lambda: _ceiling(host, rows, concurrency, encoded=encoded),
                            backend="asyncio")
    return rate


# -- the migration --------------------------------------------------------------------------


def _timed(owner: Any, name: str, seconds: list[float]) -> Callable[[], None]:
    """Time every call of the coroutine function ``owner.name`` into ``seconds``; undo function."""
    original = getattr(owner, name)

    async def timed(*args: Any, **options: Any) -> Any:
        began = time.perf_counter()
        try:
            return await original(*args, **options)
        finally:
            seconds.append(time.perf_counter() - began)

    setattr(owner, name, timed)
    return lambda: setattr(owner, name, original)


async def _measure(url: str, host: str, batch_size: int, concurrency: int | None,
                   emulator_pid: int | None) -> dict[str, Any]:
    project = f"bench-{uuid.uuid4().hex[:8]}"
    store = await fv.connect(project=project, emulator_host=host)
    options: dict[str, Any] = {"batch_size": batch_size}
    if concurrency is not None:
        options["concurrency"] = concurrency
    events_s: list[float] = []
    recount_s: list[float] = []
    async with store:
        with open_source(url) as source:
            undo = [_timed(migrate_run, "_write_events", events_s),
                    _timed(StatsRepository, "reconcile", recount_s)]
            try:
                cpu_before = _cpu(emulator_pid)
                start = time.perf_counter()
                first = await migrate(source, store, progress=Progress(), **options)
                first_s = time.perf_counter() - start
                cpu_after = _cpu(emulator_pid)
            finally:
                for step in undo:
                    step()
            start = time.perf_counter()
            again = await migrate(source, store, progress=Progress(), **options)
            again_s = time.perf_counter() - start
            start = time.perf_counter()
            result = await check(source, store, batch_size=batch_size)
            check_s = time.perf_counter() - start
    _wipe(host, project)
    log = first.tables["verification_log"]
    return {"first": first, "first_s": first_s, "events_s": events_s[0],
            "recount_s": sum(recount_s), "again": again,
            "again_s": again_s, "check_s": check_s, "in_sync": result.in_sync,
            "events": log.created, "cpu": (cpu_before, cpu_after)}


def run_one(rows: int, args: argparse.Namespace, host: str, *,
            emulator_pid: int | None = None) -> dict[str, Any]:
    """Build a legacy database with ``rows`` verification rows and measure its migration.

    ``args`` needs ``users``, ``days``, ``batch_size``, ``tracemalloc`` and
    ``postgres`` (the source); ``concurrency`` is optional (the migration's default).
    With ``emulator_pid``, the emulator's CPU time is measured too.
    """
    build = _postgres if args.postgres else _sqlite
    concurrency: int | None = getattr(args, "concurrency", None)
    with build(rows, args.users, args.days) as url:
        if args.tracemalloc:
            tracemalloc.start()
        rss_before = _rss()
        with RssSampler() as sampler:
            out: dict[str, Any] = anyio.run(_measure, url, host, args.batch_size, concurrency,
                                            emulator_pid, backend="asyncio")
        if args.tracemalloc:
            out["heap_peak"] = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        out.update(rows=rows, rss_before=rss_before, rss_peak=sampler.peak)
        return out


def _percent(rate: float, ceiling: float) -> str:
    return f"{100 * rate / ceiling:4.0f} % of the ceiling"


def _print_migration(r: dict[str, Any], ceiling: float) -> None:
    rows, mb = r["rows"], 1024 * 1024
    first, events = rows / r["first_s"], rows / r["events_s"]
    print(f"  first run   {first:8,.0f} rows/s  {_percent(first, ceiling)}  {r['first_s']:.1f} s, "
          "the whole migration (catalog and final recount included)")
    print(f"    log phase {events:8,.0f} rows/s  {_percent(events, ceiling)}  "
          f"{r['events_s']:.1f} s, the verification log alone")
    print(f"              the final recount (stats.reconcile) took {r['recount_s']:.1f} s of the "
          "first run")
    print(f"              {_cpu_line(rows, *r['cpu'])} (the whole first run)")
    created = sum(t.created for t in r["again"].tables.values())
    updated = sum(t.updated for t in r["again"].tables.values())
    print(f"  re-run      {rows / r['again_s']:8,.0f} rows/s  {r['again_s']:.1f} s, created "
          f"{created}, updated {updated}")
    print(f"  check       {r['check_s']:8.1f} s   in sync: {r['in_sync']}")
    growth = (r["rss_peak"] - r["rss_before"]) / mb
    print(f"  peak RSS    {r['rss_peak'] / mb:8.0f} MB  before the migration "
          f"{r['rss_before'] / mb:.0f} MB, growth {growth:.0f} MB")
    if "heap_peak" in r:
        print(f"  peak heap   {r['heap_peak'] / mb:8.1f} MB  Python allocations (tracemalloc)")


def _cpu(emulator_pid: int | None) -> tuple[float, float | None]:
    """CPU seconds used so far by this process and by the emulator (``None``: not ours)."""
    mine = time.process_time()
    if emulator_pid is None:
        return mine, None
    try:
        with open(f"/proc/{emulator_pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return mine, (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return mine, None


def _cpu_line(rows: int, before: tuple[float, float | None],
              after: tuple[float, float | None]) -> str:
    mine = 1e6 * (after[0] - before[0]) / rows
    line = f"CPU per row: this process {mine:.0f} us"
    if before[1] is not None and after[1] is not None:
        line += f", the emulator {1e6 * (after[1] - before[1]) / rows:.0f} us"
    return line


@contextlib.contextmanager
def _emulator(attach: str | None) -> Iterator[FirestoreEmulator]:
    """The emulator to measure on: ``attach`` if given, else a fresh one, stopped after."""
    if attach:
        yield FirestoreEmulator.attach(attach)
        return
    emulator = FirestoreEmulator().start()
    try:
        yield emulator
    finally:
        emulator.stop()


def _warm_up(host: str, args: argparse.Namespace) -> None:
    """Bare creates and a small migration, so no figure pays for the emulator's JIT alone."""
    run_ceiling(20_000, args.in_flight, host)
    warm = argparse.Namespace(**{**vars(args), "postgres": False, "tracemalloc": False})
    run_one(10_000, warm, host)


def _measure_source(rows: int, source: str, args: argparse.Namespace,
                    attach: str | None) -> None:
    options = argparse.Namespace(**{**vars(args), "postgres": source == "postgresql"})
    with _emulator(attach) as emulator:
        pid = emulator.pid
        _warm_up(emulator.host, args)

        def ceiling(concurrency: int, encoded: bool = False) -> tuple[float, str]:
            before = _cpu(pid)
            rate = run_ceiling(rows, concurrency, emulator.host, encoded=encoded)
            return rate, _cpu_line(rows, before, _cpu(pid))

        before = {c: ceiling(c) for c in args.ceilings}
        r = run_one(rows, options, emulator.host, emulator_pid=pid)
        assert r["events"] == rows, r
        assert r["in_sync"], "check found drift after the migration"
        for name, table in r["again"].tables.items():
            assert table.created == table.updated == 0, f"the re-run wrote {name}"
        after = {c: ceiling(c) for c in args.ceilings}
        encoded = ceiling(args.in_flight, True) if args.encoded_ceiling else None
    mean = {c: statistics.fmean((before[c][0], after[c][0])) for c in args.ceilings}
    print(f"\nmigrate {rows:,} verification rows from {SOURCES[source]} ({args.users:,} users, "
          f"60 groups, {args.days} days), batch {args.batch_size}, {args.in_flight} commit(s) "
          f"in flight; {'attached' if attach else 'fresh'} emulator, warmed up")
    for c in args.ceilings:
        print(f"  ceiling     {mean[c]:8,.0f} rows/s  bare batch.create of {rows:,} documents, "
              f"{CEILING_BATCH} per commit, {c} in flight (before {before[c][0]:,.0f}, "
              f"after {after[c][0]:,.0f})")
        print(f"              {before[c][1]}")
    if encoded is not None:
        print(f"  encoded     {encoded[0]:8,.0f} rows/s  the same creates encoded straight to "
              "protobuf (what the emulator takes when the client is not the limit)")
        print(f"              {encoded[1]}")
    reference = mean[args.in_flight] if args.in_flight in mean else mean[args.ceilings[0]]
    _print_migration(r, reference)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print one block per row count and source."""
    parser = argparse.ArgumentParser(prog="python -m bench.migrate_sql", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", default="100000",
                        help="verification rows, comma-separated sizes (default: 100000)")
    parser.add_argument("--users", type=int, default=5000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=None,
                        help="commits in flight (default: the migration's default)")
    parser.add_argument("--ceiling-concurrency", default=None, metavar="N[,N...]",
                        help="commits in flight for the ceiling (default: the migration's); the "
                             "first one is the reference when the migration's is not listed")
    parser.add_argument("--source", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--postgres", action="store_true", help="PostgreSQL only")
    parser.add_argument("--encoded-ceiling", action="store_true",
                        help="also measure creates encoded straight to protobuf")
    parser.add_argument("--tracemalloc", action="store_true",
                        help="also trace Python allocations (slower)")
    parser.add_argument("--build", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.build:
        _build_here(args.build, int(args.rows), args.users, args.days)
        return 0
    if args.postgres:
        args.source = "postgresql"
    sources = ["sqlite", "postgresql"] if args.source == "both" else [args.source]
    args.in_flight = args.concurrency or getattr(migrate_run, "DEFAULT_CONCURRENCY", 1)
    args.ceilings = ([int(c) for c in args.ceiling_concurrency.split(",")]
                     if args.ceiling_concurrency else [args.in_flight])
    # A fresh emulator for each measurement (its heap fills up and slows it down),
    # unless one is given: FIRESTORE_VERIFY_EMULATOR_HOST.
    attach = os.environ.get("FIRESTORE_VERIFY_EMULATOR_HOST")
    for rows in (int(r) for r in args.rows.split(",")):
        for source in sources:
            _measure_source(rows, source, args, attach)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
