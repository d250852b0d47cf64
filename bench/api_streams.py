"""Benchmark 7: what 50 SSE subscribers of ``/stream/dashboard`` cost the server, vs 1.

For 1 and then 50 subscribers, a fresh app is served, every subscriber opens
the dashboard's stream and gets its first state; then the bench notes the
fan-out's open streams (``hub.streams``) and the gRPC listener threads
(``ConsumeBidirectionalStream``), and writes ``api_stream_events`` events one
at a time, each once every subscriber has seen the previous one. Reads are the
document changes delivered to the server's Firestore listeners meanwhile
(what Firestore bills a listener for), counted by wrapping the snapshot
callback of every ``LiveStream`` (observation only). The goal: the same with
50 subscribers as with 1.
"""

from __future__ import annotations

import contextlib
import functools
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import anyio
import httpx

import firestore_verify as fv
from bench.api_server import Api, served
from bench.harness import Row, Sizes, progress, times
from bench.workload import Workload
from firestore_verify.live import LiveStream

PATH = "/api/v1/stream/dashboard"
#: Seconds to let late snapshots arrive once every subscriber is up to date.
SETTLE = 0.3


class SnapshotCounter:
    """Counts the snapshots, and the documents in them, delivered to every ``LiveStream``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.snapshots = 0
        #: Changed documents (added, modified, removed): what a listener is billed for.
        self.changes = 0
        #: Documents in the snapshots (a query's whole result set each time).
        self.documents = 0

    def reset(self) -> None:
        with self._lock:
            self.snapshots = self.changes = self.documents = 0

    def _seen(self, docs: Any, changes: Any) -> None:
        with self._lock:
            self.snapshots += 1
            self.changes += len(changes)
            self.documents += len(docs) if isinstance(docs, list | tuple) else 1

    @contextlib.contextmanager
    def observing(self) -> Iterator[SnapshotCounter]:
        original = LiveStream._callback

        def callback(stream: LiveStream[Any], index: int) -> Callable[..., None]:
            inner = original(stream, index)

            def on_snapshot(docs: Any, changes: Any, read_time: Any) -> None:
                self._seen(docs, changes)
                inner(docs, changes, read_time)

            return on_snapshot

        setattr(LiveStream, "_callback", callback)  # noqa: B010 (restored below)
        try:
            yield self
        finally:
            setattr(LiveStream, "_callback", original)  # noqa: B010


def listener_threads() -> int:
    """gRPC threads of Firestore listeners in this process."""
    return sum(1 for t in threading.enumerate() if "ConsumeBidirectionalStream" in t.name)


@dataclass
class Point:
    """The server's listeners and reads with ``subscribers`` open streams."""

    subscribers: int
    streams: int
    threads: int
    hub_subscribers: int
    snapshots: int
    changes: int
    documents: int
    #: Every subscriber saw every event.
    complete: bool


class Updates:
    """Wakes whoever waits whenever any subscriber got an event."""

    def __init__(self) -> None:
        self._event = anyio.Event()

    def notify(self) -> None:
        self._event.set()
        self._event = anyio.Event()

    async def until(self, check: Callable[[], bool], what: str, within: float = 60) -> None:
        """Wait until ``check()`` holds (re-checked after every event)."""
        try:
            with anyio.fail_after(within):
                while not check():
                    await self._event.wait()
        except TimeoutError:
            raise RuntimeError(f"benchmark 7: no {what} within {within:g} s") from None


async def _subscriber(http: httpx.AsyncClient, api: Api, state: dict[str, Any],
                      updates: Updates) -> None:
    async with http.stream("GET", PATH, headers=api.headers) as response:
        response.raise_for_status()
        name, data = "message", ""
        async for line in response.aiter_lines():
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data += line[5:].strip()
            elif not line and data:
                state[name] = json.loads(data)
                name, data = "message", ""
                updates.notify()


def _pushed(states: list[dict[str, Any]], total: int, event_id: str) -> bool:
    """Every subscriber has the totals up to ``total`` and ``event_id`` atop its feed."""
    return all(s["stats"]["total_verifications"] >= total and bool(s["activity"])
               and s["activity"][0]["id"] == event_id for s in states)


async def measure_one(store: fv.Store, auth: fv.Authenticator, headers: dict[str, str],
                      subscribers: int, events: int, counter: SnapshotCounter) -> Point:
    """Open ``subscribers`` streams, then write ``events`` events one by one."""
    workload = Workload(70 + subscribers)
    started = time.perf_counter()
    before = listener_threads()
    states: list[dict[str, Any]] = [{} for _ in range(subscribers)]
    updates = Updates()
    limits = httpx.Limits(max_connections=subscribers + 5)
    async with served(store, auth, headers) as api, httpx.AsyncClient(
            base_url=api.base_url, timeout=120, limits=limits, trust_env=False) as http, \
            anyio.create_task_group() as tasks:
        for state in states:
            tasks.start_soon(_subscriber, http, api, state, updates)
        await updates.until(lambda: all({"stats", "activity"} <= set(s) for s in states),
                            "first state")
        first_state = time.perf_counter() - started
        streams, threads = api.hub.streams, listener_threads() - before
        hub_subscribers = api.hub.subscribers()
        total = states[0]["stats"]["total_verifications"]
        counter.reset()
        for i in range(1, events + 1):
            event = workload.event()  # stamped now: today's rollup, top of the feed
            await store.verifications.write_many([event])
            await updates.until(functools.partial(_pushed, states, total + i, event.id),
                                f"event {i} pushed")
        await anyio.sleep(SETTLE)
        complete = all(s["stats"]["total_verifications"] == total + events for s in states)
        point = Point(subscribers, streams, threads, hub_subscribers, counter.snapshots,
                      counter.changes, counter.documents, complete)
        tasks.cancel_scope.cancel()
    progress(f"  7. {subscribers} subscriber(s): {streams} streams, {threads} listener threads, "
             f"{point.changes} docs read in {point.snapshots} snapshots "
             f"({point.documents} result-set docs) for {events} events "
             f"(first state in {first_state:.1f} s, {time.perf_counter() - started:.1f} s "
             "in all)")
    return point


async def measure(store: fv.Store, auth: fv.Authenticator, headers: dict[str, str],
                  sizes: Sizes) -> tuple[Point, Point]:
    """1 subscriber, then ``api_subscribers``."""
    counter = SnapshotCounter()
    with counter.observing():
        one = await measure_one(store, auth, headers, 1, sizes.api_stream_events, counter)
        many = await measure_one(store, auth, headers, sizes.api_subscribers,
                                 sizes.api_stream_events, counter)
    return one, many


def rows(one: Point, many: Point, sizes: Sizes) -> list[Row]:
    """Listeners, then reads: ``api_subscribers`` subscribers beside 1."""
    label = f"7. API SSE /stream/dashboard, {many.subscribers} subscribers vs 1"
    listeners = many.threads / one.threads if one.threads else float("inf")
    reads = many.changes / one.changes if one.changes else float("inf")
    return [
        Row(f"{label}: Firestore listeners",
            f"{many.streams} streams, {many.threads} listener threads",
            f"{one.streams} streams, {one.threads} threads", times(listeners), "the same",
            many.streams == one.streams and many.threads == one.threads,
            values={"streams": [one.streams, many.streams],
                    "listener_threads": [one.threads, many.threads],
                    "hub_subscribers": [one.hub_subscribers, many.hub_subscribers],
                    "ratio": listeners}),
        Row(f"{label}: docs read while {sizes.api_stream_events} events are written",
            f"{many.changes} docs ({many.snapshots} snapshots)",
            f"{one.changes} docs ({one.snapshots} snapshots)", times(reads), "~1.0x (0.9-1.1)",
            0.9 <= reads <= 1.1 and one.complete and many.complete,
            values={"changes": [one.changes, many.changes],
                    "snapshots": [one.snapshots, many.snapshots],
                    "result_set_documents": [one.documents, many.documents],
                    "every_event_seen": one.complete and many.complete, "ratio": reads}),
    ]
