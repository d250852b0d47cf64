"""Benchmark 6: three admin pages through the API, 50 clients at once, vs the legacy way.

For each endpoint, after one warm-up request, every client (its own httpx
connection to uvicorn, the admin's bearer ID token) opens its connection
(``GET /health``), then all of them at once make ``api_requests`` requests
each, one after the other; p50 and p95 of those.
The baseline (``bench.api_baselines``) computes the same answer from the raw
collections in-process, with no HTTP and no token check, one call at a time
(``api_baseline_runs`` calls, fewer once they took ``api_baseline_seconds``,
at least 2): far less contended than the API's 50 clients, so each ratio
(baseline / API) understates the API's lead. The 1-client latency through the
API is shown beside the 50-client one. The answers must be equal (the API's
JSON and the baseline's).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anyio
import httpx

import firestore_verify as fv
from bench import api_baselines
from bench.api_server import Api
from bench.harness import Row, Sizes, Stopwatch, count_label, ms, percentile, progress, times


@dataclass
class Endpoint:
    """One page: its request, its baseline, how the baseline works, and the answers' key."""

    path: str
    baseline: Callable[[fv.Store], Awaitable[Any]]
    how: str
    #: What of the API's JSON the baseline computes.
    answer: Callable[[Any], Any] = lambda body: body


ENDPOINTS = (
    Endpoint("/api/v1/dashboard/stats", api_baselines.dashboard,
             f"{api_baselines.DASHBOARD_COUNTS} count()"),
    Endpoint("/api/v1/groups", api_baselines.groups_page, "list all groups",
             lambda body: [item["id"] for item in body["items"]]),
    Endpoint("/api/v1/analytics/verifications?period=30d", api_baselines.analytics,
             "scan 60 days of events"),
)


@dataclass
class Result:
    """Latencies of one endpoint through the API and of its baseline."""

    endpoint: Endpoint
    #: Through the API, ``api_clients`` clients at once, and one client alone.
    api: list[float]
    alone: list[float]
    baseline: list[float]
    equal: bool


async def _through_api(api: Api, path: str, clients: int, requests: int
                       ) -> tuple[list[float], list[Any]]:
    samples: list[float] = []
    bodies: list[Any] = []
    warmed = 0
    go = anyio.Event()

    async def client() -> None:
        nonlocal warmed
        async with httpx.AsyncClient(base_url=api.base_url, headers=api.headers,
                                     timeout=300, trust_env=False) as http:
            (await http.get("/health")).raise_for_status()  # the connection, opened
            warmed += 1
            if warmed == clients:
                go.set()
            await go.wait()
            for _ in range(requests):
                with Stopwatch() as sw:
                    response = await http.get(path)
                response.raise_for_status()
                samples.append(sw.seconds)
            bodies.append(response.json())

    async with httpx.AsyncClient(base_url=api.base_url, headers=api.headers,
                                 timeout=300, trust_env=False) as http:
        (await http.get(path)).raise_for_status()  # the endpoint, warmed up
    async with anyio.create_task_group() as tasks:
        for _ in range(clients):
            tasks.start_soon(client)
    return samples, bodies


async def _baseline(store: fv.Store, endpoint: Endpoint, sizes: Sizes
                    ) -> tuple[list[float], Any]:
    """Up to ``api_baseline_runs`` calls; no more once they took ``api_baseline_seconds``."""
    samples: list[float] = []
    answer = None
    while len(samples) < sizes.api_baseline_runs and (
            len(samples) < 2 or sum(samples) < sizes.api_baseline_seconds):
        with Stopwatch() as sw:
            answer = await endpoint.baseline(store)
        samples.append(sw.seconds)
    return samples, answer


async def measure(api: Api, store: fv.Store, sizes: Sizes) -> list[Result]:
    """Every endpoint through the API (50 clients, then 1), then its baseline."""
    results = []
    for endpoint in ENDPOINTS:
        with Stopwatch() as sw:
            samples, bodies = await _through_api(api, endpoint.path, sizes.api_clients,
                                                 sizes.api_requests)
            alone, _ = await _through_api(api, endpoint.path, 1, sizes.api_baseline_runs)
            baseline, expected = await _baseline(store, endpoint, sizes)
        equal = all(endpoint.answer(body) == expected for body in bodies)
        results.append(Result(endpoint, samples, alone, baseline, equal))
        progress(f"  6. {endpoint.path}: p50 {ms(percentile(samples, 50))}, p95 "
                 f"{ms(percentile(samples, 95))} ({len(samples)} requests; 1 client: p50 "
                 f"{ms(percentile(alone, 50))}); baseline p50 {ms(percentile(baseline, 50))}; "
                 f"answers equal: {equal} ({sw.seconds:.1f} s)")
    return results


def _calls(n: int) -> str:
    return "1 call" if n == 1 else f"{n} calls, 1 at a time"


def rows(results: list[Result], sizes: Sizes) -> list[Row]:
    """Two rows per endpoint: p50 and p95, each beside the baseline's."""
    out = []
    events = count_label(sizes.api_events)
    for result in results:
        path = result.endpoint.path.removeprefix("/api/v1")
        for pct in (50, 95):
            api, base = percentile(result.api, pct), percentile(result.baseline, pct)
            alone = percentile(result.alone, pct)
            out.append(Row(
                f"6. API GET {path} @ {events} events, {sizes.api_clients} clients: p{pct}",
                f"{ms(api)} (1 client: {ms(alone)})",
                f"{ms(base)} ({result.endpoint.how}; {_calls(len(result.baseline))})",
                times(base / api), "answers equal", result.equal,
                values={"endpoint": result.endpoint.path, "percentile": pct,
                        "api_seconds": api, "api_one_client_seconds": alone,
                        "baseline_seconds": base, "ratio": base / api,
                        "requests": len(result.api), "clients": sizes.api_clients,
                        "baseline_runs": len(result.baseline), "answers_equal": result.equal}))
    return out
