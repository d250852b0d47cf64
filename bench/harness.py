"""What every benchmark shares: sizes, the emulator, result rows, the table, observers."""

from __future__ import annotations

import contextlib
import math
import os
import signal
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

import anyio

import firestore_verify as fv
from firestore_verify.testing import FirestoreEmulator

# -- sizes --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sizes:
    """How big each benchmark is (the full run, or ``--quick`` for a smoke run)."""

    quick: bool = False
    #: Benchmark 1: events logged by each contender, producers, repetitions (median).
    log_events: int = 5_000
    producers: int = 8
    log_repeats: int = 5
    #: Emulator warm-up: events written before anything is measured (JIT).
    warmup_events: int = 15_000
    #: Benchmarks 2 and 3: the dataset grows through these sizes.
    dataset_sizes: tuple[int, ...] = (1_000, 10_000, 100_000)
    #: Latency samples per figure (median), and fewer for scans of the largest size.
    read_runs: int = 7
    scan_runs: int = 5
    large_scan_runs: int = 3
    #: Benchmark 4: events per second, seconds for the logger, seconds for the baseline.
    watch_rate: float = 10.0
    watch_seconds: float = 20.0
    naive_watch_seconds: float = 10.0
    #: Benchmark 5: events through the logger.
    memory_events: int = 100_000
    #: Benchmarks 6 and 7 (the admin API): events in the dataset, groups protected,
    #: concurrent clients and requests each (after a warm-up), baseline calls (at
    #: most; at least 2, no more once they took the seconds), SSE subscribers
    #: (against 1) and events written while they listen.
    api_events: int = 100_000
    api_groups: int = 200
    api_clients: int = 50
    api_requests: int = 4
    api_baseline_runs: int = 5
    api_baseline_seconds: float = 15.0
    api_subscribers: int = 50
    api_stream_events: int = 5
    #: Benchmarks 8-10 (the dashboard in Chromium, on the same dataset): measured page
    #: loads, then events per second and seconds written under an open page, then
    #: pages open at once (against 1) and events written while they are.
    dashboard_loads: int = 7
    dashboard_rate: float = 10.0
    dashboard_seconds: float = 10.0
    dashboard_pages: int = 20
    dashboard_stream_events: int = 5
    #: Benchmark 11: membership checks timed for each of miss, in-memory hit, Redis hit.
    membership_runs: int = 300
    #: Benchmark 12: loggers in the fleet (each its own process), seconds of traffic and
    #: events per second each.
    fleet_sizes: tuple[int, ...] = (1, 2, 4)
    fleet_seconds: float = 20.0
    fleet_rate: float = 250.0


FULL = Sizes()
QUICK = Sizes(
    quick=True,
    log_events=400,
    log_repeats=1,
    warmup_events=0,
    dataset_sizes=(100, 300, 1_000),
    read_runs=3,
    scan_runs=2,
    large_scan_runs=2,
    watch_seconds=2.0,
    naive_watch_seconds=1.5,
    memory_events=1_000,
    api_events=1_000,
    api_groups=55,
    api_clients=5,
    api_requests=1,
    api_baseline_runs=1,
    api_baseline_seconds=0.0,
    api_subscribers=5,
    api_stream_events=2,
    dashboard_loads=2,
    dashboard_seconds=1.0,
    dashboard_pages=3,
    dashboard_stream_events=2,
    membership_runs=20,
    fleet_sizes=(1, 2),
    fleet_seconds=1.0,
    fleet_rate=200.0,
)

# -- statistics and formatting --------------------------------------------------------


def median(values: Sequence[float]) -> float:
    """The median of ``values`` (at least one)."""
    return percentile(values, 50)


def percentile(values: Sequence[float], pct: float) -> float:
    """The ``pct`` percentile of ``values``, linearly interpolated (at least one value)."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def count_label(n: int) -> str:
    """``1000`` -> ``1k``, ``100000`` -> ``100k``, ``300`` -> ``300``."""
    return f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else str(n)


def ms(seconds: float) -> str:
    """Seconds as milliseconds, with sensible precision."""
    value = seconds * 1000
    if value >= 1000:
        return f"{seconds:.2f} s"
    return f"{value:.2f} ms" if value < 10 else f"{value:.0f} ms"


def rate(events_per_second: float) -> str:
    """Events per second."""
    return f"{events_per_second:,.0f} ev/s"


def mib(n_bytes: float) -> str:
    """Bytes as MiB."""
    return f"{n_bytes / 2**20:.1f} MiB"


def times(ratio: float) -> str:
    """A ratio as ``12.3x``."""
    if ratio < 1:
        return f"{ratio:.2f}x"
    return f"{ratio:.1f}x" if ratio < 100 else f"{ratio:,.0f}x"


# -- results ---------------------------------------------------------------------------


@dataclass
class Row:
    """One line of the table; ``values`` are the raw numbers, for the JSON file."""

    benchmark: str
    figure: str
    baseline: str = "-"
    ratio: str = "-"
    target: str = "-"
    #: ``True``/``False`` when there is a target, ``None`` when the row is informational.
    met: bool | None = None
    values: dict[str, Any] = field(default_factory=dict)

    @property
    def met_label(self) -> str:
        """``yes``, ``MISSED`` or ``-``."""
        return "-" if self.met is None else ("yes" if self.met else "MISSED")

    def cells(self) -> list[str]:
        """The row's cells, in the table's column order."""
        return [self.benchmark, self.figure, self.baseline, self.ratio, self.target,
                self.met_label]


COLUMNS = ["benchmark", "figure", "baseline", "ratio", "target", "met?"]


def render_table(rows: Sequence[Row]) -> str:
    """The rows as an aligned markdown table."""
    cells = [COLUMNS, *(row.cells() for row in rows)]
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]

    def line(values: Sequence[str]) -> str:
        return "| " + " | ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(COLUMNS), rule, *(line(c) for c in cells[1:])])


def progress(message: str) -> None:
    """A progress line on stderr (the table goes to stdout)."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


class Stopwatch:
    """``with Stopwatch() as sw: ...`` then ``sw.seconds``."""

    def __init__(self) -> None:
        self.start = 0.0
        self.seconds = 0.0

    def __enter__(self) -> Stopwatch:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start


def _emulator_cpu(pid: int | None) -> float | None:
    """CPU seconds the emulator process has used, when we know its pid (Linux)."""
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU seconds used meanwhile by this process (all threads) and by the emulator."""

    def __init__(self, emulator_pid: int | None) -> None:
        self._pid = emulator_pid
        self._client = 0.0
        self._emulator: float | None = None
        self.client = 0.0
        self.emulator: float | None = None

    def __enter__(self) -> CpuMeter:
        clock = os.times()
        self._client = clock.user + clock.system
        self._emulator = _emulator_cpu(self._pid)
        return self

    def __exit__(self, *exc: object) -> None:
        clock = os.times()
        self.client = clock.user + clock.system - self._client
        after = _emulator_cpu(self._pid)
        if after is not None and self._emulator is not None:
            self.emulator = after - self._emulator


async def timed_runs(runs: int, action: Callable[[], Any]) -> list[float]:
    """Seconds taken by ``await action()``, ``runs`` times."""
    samples = []
    for _ in range(runs):
        with Stopwatch() as sw:
            await action()
        samples.append(sw.seconds)
    return samples


# -- the emulator and projects --------------------------------------------------------


def _as_ctrl_c(_signum: int, _frame: FrameType | None) -> None:
    signal.raise_signal(signal.SIGINT)


@contextlib.contextmanager
def running_emulator(host: str | None = None) -> Iterator[FirestoreEmulator]:
    """Start an emulator (or attach to ``host``); stop it again whatever happens.

    Meanwhile SIGTERM and SIGHUP act like Ctrl-C (which works even where a shell
    started the bench with SIGINT ignored): the event loop cancels the benchmark,
    and the emulator is stopped on the way out.
    """
    if host:
        yield FirestoreEmulator.attach(host)
        return
    previous = {sig: signal.signal(sig, handler) for sig, handler in (
        (signal.SIGINT, signal.default_int_handler),
        (signal.SIGTERM, _as_ctrl_c),
        (signal.SIGHUP, _as_ctrl_c),
    )}
    emulator = FirestoreEmulator()
    try:
        emulator.start()
        yield emulator
    finally:
        emulator.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@dataclass
class Context:
    """The emulator, the sizes and this run's id (every project name carries it)."""

    emulator: FirestoreEmulator
    sizes: Sizes
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])

    def project_id(self, name: str) -> str:
        """A project of this run (projects isolate benchmarks from each other).

        ``demo-``: the Auth emulator's tokens are only trusted for such projects
        (benchmarks 6 and 7 serve the admin API on the dataset's project).
        """
        return f"demo-bench-{name}-{self.run_id}"

    async def connect(self, name: str) -> fv.Store:
        """A store on project ``name`` of this run."""
        return await fv.connect(project=self.project_id(name), emulator_host=self.emulator.host)

    @contextlib.asynccontextmanager
    async def project(self, name: str) -> AsyncIterator[fv.Store]:
        """A store on a fresh project, closed and wiped afterwards."""
        store = await self.connect(name)
        try:
            yield store
        finally:
            await store.close()
            with contextlib.suppress(Exception):
                await anyio.to_thread.run_sync(self.emulator.wipe, self.project_id(name))


# -- observing writes ---------------------------------------------------------------------


@dataclass(frozen=True)
class Commit:
    """One successful commit: when it was sent, when it returned, which documents."""

    sent: float
    done: float
    documents: tuple[str, ...]


def _document_path(write: Any) -> str | None:
    pb = type(write).pb(write)
    operation = pb.WhichOneof("operation")
    if operation == "update":
        name = str(pb.update.name)
    elif operation == "delete":
        name = str(pb.delete)
    elif operation == "transform":
        name = str(pb.transform.document)
    else:
        return None
    return name.split("/documents/", 1)[-1]


#: Documents every commit of a logger may touch: counter shards and rollups.
HOT_PREFIXES = ("_metadata/stats", "rollups_daily/", "rollups_group_daily/")


class WriteObserver:
    """Records every commit made through a store's client, and which documents it wrote.

    Observation only: it wraps ``client.batch()`` so each batch notes its writes
    when committed (plain ``add``/``set``/``update`` calls commit a batch too);
    nothing about the writes changes. Use as a context manager.
    """

    def __init__(self, store: fv.Store) -> None:
        self._client = store.client
        self.commits: list[Commit] = []

    def __enter__(self) -> WriteObserver:
        original = self._client.batch

        def batch() -> Any:
            created: Any = original()
            commit = created.commit

            async def observed_commit(*args: Any, **kwargs: Any) -> Any:
                paths = tuple(p for p in map(_document_path, created._write_pbs) if p)
                sent = time.perf_counter()
                result = await commit(*args, **kwargs)
                self.commits.append(Commit(sent, time.perf_counter(), paths))
                return result

            created.commit = observed_commit
            return created

        setattr(self._client, "batch", batch)  # noqa: B010 (an instance attribute, on purpose)
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(AttributeError):
            delattr(self._client, "batch")

    def writes_by_collection(self) -> dict[str, int]:
        """Documents written per top-level collection (``_metadata`` for the counters)."""
        counts: dict[str, int] = defaultdict(int)
        for commit in self.commits:
            for path in commit.documents:
                counts[path.split("/", 1)[0]] += 1
        return dict(sorted(counts.items()))

    def hot_writes(self, *, hot_only: bool = True, window: float = 1.0) -> HotWrites:
        """The busiest document: most commits within any ``window`` seconds, closest two.

        Counted by the time each commit was sent (received by Firestore a few
        milliseconds later). ``hot_only`` looks at counter shards and rollups only.
        """
        by_document: dict[str, list[float]] = defaultdict(list)
        for commit in self.commits:
            for path in set(commit.documents):
                if not hot_only or path.startswith(HOT_PREFIXES):
                    by_document[path].append(commit.sent)
        return busiest(by_document, window=window)


def busiest(by_document: dict[str, list[float]], *, window: float = 1.0) -> HotWrites:
    """The document with the most writes within any ``window`` seconds, and the closest two.

    ``by_document``: each document's write times, in seconds on one clock.
    """
    best, best_path = 0, "-"
    gap, gap_path = math.inf, "-"
    for path, unsorted in by_document.items():
        stamps = sorted(unsorted)
        low = 0
        for high, stamp in enumerate(stamps):
            while stamp - stamps[low] >= window:
                low += 1
            if high - low + 1 > best:
                best, best_path = high - low + 1, path
            if high and stamp - stamps[high - 1] < gap:
                gap, gap_path = stamp - stamps[high - 1], path
    return HotWrites(best, best_path, gap, gap_path)


@dataclass(frozen=True)
class HotWrites:
    """How hard the busiest document was written."""

    #: Most writes one document received within any one second, and which document.
    peak: int
    document: str
    #: The shortest time between two writes of one document (inf: none written twice).
    min_gap: float
    gap_document: str

    def describe(self) -> str:
        gap = f"{self.min_gap:.2f}s" if math.isfinite(self.min_gap) else "-"
        return f"{self.peak}/s, closest 2 writes {gap} apart ({self.document})"
