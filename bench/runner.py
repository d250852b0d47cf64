"""Run the benchmarks against an emulator of their own and print one table."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio

from bench import (
    api,
    dashboard,
    dataset,
    fleet,
    logging_throughput,
    membership_latency,
    memory,
    summary,
    totals,
    watch_latency,
)
from bench.api_server import BackgroundAuthEmulator
from bench.harness import FULL, QUICK, Context, Row, progress, render_table, running_emulator

BENCHMARKS = ("logging", "watch", "reads", "api", "dashboard", "memory", "membership",
              "fleet")
RESULTS = Path(__file__).with_name("results.json")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmarks of firestore-verify against the Cloud Firestore emulator, "
                    "each figure beside its baseline.")
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes: a smoke run that checks every row is produced")
    parser.add_argument("--only", action="append", choices=BENCHMARKS, metavar="NAME",
                        help=f"run only these ({', '.join(BENCHMARKS)}); repeatable")
    parser.add_argument("--sweep", action="store_true",
                        help="compare logger settings for benchmark 1 instead")
    parser.add_argument("--emulator-host", metavar="HOST:PORT",
                        help="use this running emulator instead of starting one")
    parser.add_argument("--auth-emulator-host", metavar="HOST:PORT",
                        help="use this running Auth emulator for the API and dashboard "
                             "benchmarks "
                             "instead of starting one")
    parser.add_argument("--json", type=Path, default=RESULTS, metavar="PATH",
                        help=f"where to write the results (default: {RESULTS})")
    return parser.parse_args(argv)


async def run_all(ctx: Context, selected: Sequence[str], sweep: bool,
                  auth_host: str | None = None) -> list[Row]:
    rows: list[Row] = []
    if ctx.sizes.warmup_events:
        progress(f"warming the emulator up ({ctx.sizes.warmup_events:,} events)")
        await logging_throughput.warm_up(ctx)
    if sweep:
        return await logging_throughput.sweep(ctx)
    if "logging" in selected:
        rows += await logging_throughput.run(ctx)
    if "watch" in selected:
        rows += await watch_latency.run(ctx)
    if {"reads", "api", "dashboard"} & set(selected):
        rows += await _on_dataset(ctx, selected, auth_host)
    if "memory" in selected:
        rows += await memory.run(ctx)
    if "membership" in selected:
        rows += await membership_latency.run(ctx)
    if "fleet" in selected:
        rows += await fleet.run(ctx)
    return rows


async def _on_dataset(ctx: Context, selected: Sequence[str], auth_host: str | None) -> list[Row]:
    """Benchmarks 2 and 3 on a growing dataset, then 6-7 (the API), 8-10 (the dashboard)."""
    rows: list[Row] = []
    async with ctx.project("dataset") as store:
        data = dataset.Dataset(store)
        if "reads" in selected:
            progress("2./3. dashboard totals and 30-day summary on a growing dataset")
            totals_points, summary_points = [], []
            for size in ctx.sizes.dataset_sizes:
                await data.grow_to(size)
                large = size == ctx.sizes.dataset_sizes[-1]
                totals_points.append(await totals.measure(store, size, ctx.sizes.read_runs))
                summary_points.append(await summary.measure(
                    store, size, ctx.sizes.read_runs,
                    ctx.sizes.large_scan_runs if large else ctx.sizes.scan_runs))
            rows += totals.rows(totals_points) + summary.rows(summary_points)
        if "api" in selected and auth_host:
            progress(f"6./7. the admin API on the dataset ({ctx.sizes.api_events:,} events)")
            if data.size < ctx.sizes.api_events:
                await data.grow_to(ctx.sizes.api_events)
            rows += await api.run(ctx, store, auth_host)
        if "dashboard" in selected and auth_host:
            progress(f"8.-10. the dashboard in Chromium on the dataset "
                     f"({ctx.sizes.api_events:,} events)")
            if data.size < ctx.sizes.api_events:
                await data.grow_to(ctx.sizes.api_events)
            rows += await dashboard.run(ctx, store, auth_host)
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = QUICK if args.quick else FULL
    selected = args.only or list(BENCHMARKS)
    started = time.perf_counter()
    with contextlib.ExitStack() as stack:
        # The Auth emulator (benchmarks 6-10) boots meanwhile, before anything is measured.
        auth = (stack.enter_context(BackgroundAuthEmulator(args.auth_emulator_host))
                if {"api", "dashboard"} & set(selected) and not args.sweep else None)
        emulator = stack.enter_context(running_emulator(args.emulator_host))
        progress(f"emulator at {emulator.host} (pid {emulator.pid or 'not ours'})")
        auth_host = auth.host() if auth is not None else None
        ctx = Context(emulator, sizes)
        rows = anyio.run(run_all, ctx, selected, args.sweep, auth_host)
    elapsed = time.perf_counter() - started
    table = render_table(rows)
    print(table)
    missed = [row for row in rows if row.met is False]
    kind = "quick run (sizes far too small for the speed targets)" if sizes.quick else "full run"
    print(f"\n{len(rows)} rows, {len(missed)} targets missed; {kind} took {elapsed:.0f}s "
          f"on {os.cpu_count()} CPUs.")
    results: dict[str, Any] = {
        "quick": sizes.quick,
        "sweep": args.sweep,
        "seconds": elapsed,
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "rows": [{"benchmark": r.benchmark, "figure": r.figure, "baseline": r.baseline,
                  "ratio": r.ratio, "target": r.target, "met": r.met, "values": r.values}
                 for r in rows],
    }
    args.json.write_text(json.dumps(results, indent=2, default=str) + "\n")
    return 0
