"""Benchmarks 8-10: the dashboard (``examples/dashboard``) in Chromium, on the dataset of 2-3.

The runner hands over the dataset's store (``api_events`` events) and the Auth
emulator. An owner is signed up; the app is served on a real uvicorn in the
bench's loop and driven by headless Debian Chromium (``bench.dashboard_browser``).

8. Page load: ``dashboard_loads`` loads of ``/`` by the signed-in owner, each
   in a fresh browser context (empty cache), after one unmeasured load (the
   cold one, in the progress line; the fan-out's streams then linger, as they
   do while anyone watches). Rendered with data = the later of the load
   event's end (``performance.getEntriesByType("navigation")[0].loadEventEnd``)
   and the first ``stats`` and ``activity`` SSE swaps (the cards and the feed),
   from navigation start; the success-rate card must then show the dataset's
   total. The target is the seed's: 300 ms (ratio target / measured).
9. Verification to DOM: with one dashboard open, events are written one at a
   time through ``store.verifications.write_many`` at about ``dashboard_rate``
   per second (fewer if a write takes longer) for ``dashboard_seconds``; a
   ``MutationObserver`` in the page stamps (``Date.now()``) each event's feed
   row when it appears, against ``time.time()`` just before its write (one
   machine, one clock). Target 500 ms.
10. Fan-out: 1, then ``dashboard_pages`` dashboards open (``PAGES_PER_CONTEXT``
    per browser context) on a fresh app; the fan-out's streams
    (``hub.streams``), the gRPC listener threads, and the documents delivered to
    the server's listeners while ``dashboard_stream_events`` events are written,
    each once every page shows the previous one (counted as in
    ``bench.api_streams``). The goal: the same with many pages as with 1.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import anyio
from playwright.async_api import Page

import firestore_verify as fv
from bench.api_streams import SETTLE, Point, SnapshotCounter, listener_threads
from bench.dashboard_browser import (
    ARRIVALS,
    PAGES_PER_CONTEXT,
    TIMINGS,
    WATCH_FEED,
    Dashboard,
    add_owner,
    browser,
    chromium,
    served,
)
from bench.harness import Context, Row, Sizes, count_label, ms, percentile, progress, times
from bench.workload import Workload
from firestore_verify.testing import AuthEmulator

TARGET_LOAD = 0.300
TARGET_PUSH = 0.500
#: Seconds to wait for the last events' rows once the writes are done.
DRAIN = 10.0


@dataclass
class Loads:
    """Benchmark 8: seconds from navigation start, per measured load."""

    rendered: list[float] = field(default_factory=list)
    load_event: list[float] = field(default_factory=list)
    #: The HTML's first byte, and DOMContentLoaded's end.
    first_byte: list[float] = field(default_factory=list)
    dom_ready: list[float] = field(default_factory=list)
    cold: float = math.nan
    #: Every load's success-rate card showed the dataset's total.
    figures_right: bool = True


@dataclass
class Pushes:
    """Benchmark 9: write-to-DOM seconds per event that showed, and how many never did."""

    seconds: list[float]
    events: int
    missing: int
    #: Events per second actually written (below the aim when writes take longer).
    rate: float

    def p(self, pct: float) -> float:
        return percentile(self.seconds, pct) if self.seconds else math.inf


async def _load_once(dash: Dashboard, expected: str) -> dict[str, Any]:
    async with dash.context() as context:
        page = await dash.open(context)
        got: dict[str, Any] = await page.evaluate(TIMINGS)
    got["rendered"] = max(got["load"], got["cards"], got["feed"])
    got["right"] = expected in got["rate_card"]
    return got


async def measure_loads(dash: Dashboard, store: fv.Store, sizes: Sizes) -> Loads:
    """One cold load, then ``dashboard_loads`` measured ones, one at a time."""
    total = (await store.stats.get()).total_verifications
    expected = f"of {total:,} checks"
    loads = Loads()
    cold = await _load_once(dash, expected)
    loads.cold, loads.figures_right = cold["rendered"] / 1000, cold["right"]
    for _ in range(sizes.dashboard_loads):
        got = await _load_once(dash, expected)
        loads.rendered.append(got["rendered"] / 1000)
        loads.load_event.append(got["load"] / 1000)
        loads.first_byte.append(got["ttfb"] / 1000)
        loads.dom_ready.append(got["dom"] / 1000)
        loads.figures_right = loads.figures_right and got["right"]
    progress(f"  8. page load: rendered with data p50 {ms(percentile(loads.rendered, 50))}, "
             f"p95 {ms(percentile(loads.rendered, 95))}; p50 first byte "
             f"{ms(percentile(loads.first_byte, 50))}, DOMContentLoaded "
             f"{ms(percentile(loads.dom_ready, 50))}, load event "
             f"{ms(percentile(loads.load_event, 50))}; cold first load {ms(loads.cold)}; "
             f"cards show {total:,} checks: {loads.figures_right}")
    return loads


async def measure_pushes(dash: Dashboard, store: fv.Store, sizes: Sizes) -> Pushes:
    """Events at about ``dashboard_rate``/s under one open page; each row's arrival."""
    workload = Workload(80)
    sent: dict[str, float] = {}
    async with dash.context() as context:
        page = await dash.open(context)
        await page.evaluate(WATCH_FEED)
        start = time.monotonic()
        n = 0  # as many as fit in ``dashboard_seconds`` (when writes are slow, fewer); >= 3
        while n < 3 or time.monotonic() - start < sizes.dashboard_seconds:
            await anyio.sleep(max(0.0, start + n / sizes.dashboard_rate - time.monotonic()))
            event = workload.event()  # stamped now: the top of the feed
            sent[event.id] = time.time()
            await store.verifications.write_many([event])
            n += 1
        wrote = time.monotonic() - start
        arrivals: dict[str, float] = {}
        deadline = time.monotonic() + DRAIN
        while len(arrivals) < n and time.monotonic() < deadline:
            await anyio.sleep(0.1)
            arrivals = {k: v for k, v in (await page.evaluate(ARRIVALS)).items() if k in sent}
    seconds = [arrivals[k] / 1000 - sent[k] for k in sent if k in arrivals]
    pushes = Pushes(seconds, n, n - len(seconds), n / wrote)
    progress(f"  9. {n} events in {wrote:.1f} s: write to "
             f"DOM p50 {ms(pushes.p(50))}, p95 {ms(pushes.p(95))}, {pushes.missing} missing")
    return pushes


async def _shows(page: Page, event_id: str) -> None:
    await page.wait_for_selector(f"#feed [data-event-id='{event_id}']", state="attached")


async def _every_page_shows(pages: list[Page], event_id: str) -> None:
    async with anyio.create_task_group() as tasks:
        for page in pages:
            tasks.start_soon(_shows, page, event_id)


async def measure_fan_out(store: fv.Store, auth: fv.Authenticator, signed_in: Dashboard,
                          n_pages: int, events: int, counter: SnapshotCounter) -> Point:
    """``n_pages`` dashboards open on a fresh app, then ``events`` events one by one."""
    workload = Workload(90 + n_pages)
    started = time.perf_counter()
    before = listener_threads()
    async with served(store, auth, signed_in.browser, signed_in.state) as dash:
        pages: list[Page] = []

        async def open_context(count: int) -> None:
            async with dash.context() as context:
                for _ in range(count):
                    pages.append(await dash.open(context))
                await done.wait()

        done = anyio.Event()
        async with anyio.create_task_group() as tasks:
            for first in range(0, n_pages, PAGES_PER_CONTEXT):
                tasks.start_soon(open_context, min(PAGES_PER_CONTEXT, n_pages - first))
            with anyio.fail_after(180):
                while len(pages) < n_pages:  # noqa: ASYNC110 (pages open in their tasks)
                    await anyio.sleep(0.05)
            opened = time.perf_counter() - started
            streams, threads = dash.hub.streams, listener_threads() - before
            hub_subscribers = dash.hub.subscribers()
            total = (await store.stats.get()).total_verifications
            counter.reset()
            for _ in range(events):
                event = workload.event()
                await store.verifications.write_many([event])
                with anyio.fail_after(60):
                    await _every_page_shows(pages, event.id)
            await anyio.sleep(SETTLE)
            point = Point(n_pages, streams, threads, hub_subscribers, counter.snapshots,
                          counter.changes, counter.documents, False)
            expected = f"of {total + events:,} checks"
            cards = [await p.inner_text("#card-rate .sub") for p in pages]
            point.complete = all(expected in text for text in cards)
            done.set()
    progress(f"  10. {n_pages} page(s): {streams} streams, {threads} listener threads, "
             f"{hub_subscribers} subscribers, {point.changes} docs read in {point.snapshots} "
             f"snapshots ({point.documents} result-set docs) for {events} events "
             f"(pages open in {opened:.1f} s, {time.perf_counter() - started:.1f} s in all)")
    return point


async def run(ctx: Context, store: fv.Store, auth_host: str) -> list[Row]:
    """Rows of benchmarks 8-10 on ``store`` (the dataset); none without Chromium."""
    sizes = ctx.sizes
    if chromium() is None:
        progress("no Chromium (apt-get install chromium), so no benchmarks 8-10")
        return []
    emulator = AuthEmulator.attach(auth_host)
    await add_owner(emulator, store)
    authenticator = fv.Authenticator(store, emulator_host=emulator.host)
    counter = SnapshotCounter()
    try:
        async with browser() as chromium_:
            progress(f"8./9. dashboard page load ({sizes.dashboard_loads} loads) and write to "
                     f"DOM (~{sizes.dashboard_rate:g} ev/s for {sizes.dashboard_seconds:g} s)")
            async with served(store, authenticator, chromium_) as dash:
                loads = await measure_loads(dash, store, sizes)
                pushes = await measure_pushes(dash, store, sizes)
            progress(f"10. dashboard fan-out: 1 vs {sizes.dashboard_pages} pages")
            with counter.observing():
                one = await measure_fan_out(store, authenticator, dash, 1,
                                            sizes.dashboard_stream_events, counter)
                many = await measure_fan_out(store, authenticator, dash,
                                             sizes.dashboard_pages,
                                             sizes.dashboard_stream_events, counter)
    finally:
        with anyio.CancelScope(shield=True):
            await authenticator.close()
    return rows(loads, pushes, one, many, sizes)


def rows(loads: Loads, pushes: Pushes, one: Point, many: Point, sizes: Sizes) -> list[Row]:
    """Page load p50/p95, write-to-DOM p50/p95, then listeners and reads, many pages vs 1."""
    out = []
    events = count_label(sizes.api_events)
    for pct in (50, 95):
        rendered = percentile(loads.rendered, pct)
        load_event = percentile(loads.load_event, pct)
        first_byte = percentile(loads.first_byte, pct)
        out.append(Row(
            f"8. dashboard page load @ {events} events, signed-in owner: p{pct}",
            f"{ms(rendered)} to cards + feed from SSE (first byte {ms(first_byte)}, load "
            f"event {ms(load_event)})",
            f"{ms(TARGET_LOAD)} (target)", times(TARGET_LOAD / rendered),
            f"<= {ms(TARGET_LOAD)}", rendered <= TARGET_LOAD and loads.figures_right,
            values={"percentile": pct, "rendered_seconds": rendered,
                    "load_event_seconds": load_event, "first_byte_seconds": first_byte,
                    "dom_content_loaded_seconds": percentile(loads.dom_ready, pct),
                    "cold_first_load_seconds": loads.cold,
                    "loads": len(loads.rendered), "figures_right": loads.figures_right,
                    "rendered_samples": loads.rendered, "ratio": TARGET_LOAD / rendered}))
    label = (f"9. verification to dashboard DOM @ ~{sizes.dashboard_rate:g} ev/s for "
             f"{sizes.dashboard_seconds:g} s")
    for pct in (50, 95):
        seconds = pushes.p(pct)
        out.append(Row(
            f"{label}: p{pct}",
            f"{ms(seconds)} ({pushes.events - pushes.missing}/{pushes.events} rows, written "
            f"at {pushes.rate:.1f} ev/s)",
            f"{ms(TARGET_PUSH)} (target)", times(TARGET_PUSH / seconds),
            f"<= {ms(TARGET_PUSH)}", seconds <= TARGET_PUSH and not pushes.missing,
            values={"percentile": pct, "seconds": seconds, "events": pushes.events,
                    "missing": pushes.missing, "written_per_second": pushes.rate,
                    "ratio": TARGET_PUSH / seconds,
                    **({"samples": pushes.seconds} if pct == 95 else {})}))
    label = f"10. dashboard, {many.subscribers} pages open vs 1"
    listeners = many.threads / one.threads if one.threads else math.inf
    reads = many.changes / one.changes if one.changes else math.inf
    out += [
        Row(f"{label}: Firestore listeners",
            f"{many.streams} streams, {many.threads} listener threads",
            f"{one.streams} streams, {one.threads} threads", times(listeners), "the same",
            many.streams == one.streams and many.threads == one.threads,
            values={"streams": [one.streams, many.streams],
                    "listener_threads": [one.threads, many.threads],
                    "hub_subscribers": [one.hub_subscribers, many.hub_subscribers],
                    "ratio": listeners}),
        Row(f"{label}: docs read while {sizes.dashboard_stream_events} events are written",
            f"{many.changes} docs ({many.snapshots} snapshots)",
            f"{one.changes} docs ({one.snapshots} snapshots)", times(reads), "~1.0x (0.9-1.1)",
            0.9 <= reads <= 1.1 and one.complete and many.complete,
            values={"changes": [one.changes, many.changes],
                    "snapshots": [one.snapshots, many.snapshots],
                    "result_set_documents": [one.documents, many.documents],
                    "every_page_up_to_date": one.complete and many.complete,
                    "ratio": reads}),
    ]
    return out
