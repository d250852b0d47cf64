"""Prometheus metrics, and the small HTTP server that serves ``/metrics`` and ``/health``.

Each :class:`Metrics` has its own registry, so several bots (tests, the simulator)
can live in one process without their numbers mixing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

import firestore_verify as fv

__all__ = ["Metrics", "MetricsServer"]

#: Seconds: from a cache hit (~0) to a slow Telegram answer.
_LATENCY_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


# --8<-- [start:metrics]
class Metrics:
    """Every metric the bot exports, on one registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.verifications = Counter(
            "fsv_verifications", "Membership checks by outcome.", ["status"], registry=r
        )
        self.check_latency = Histogram(
            "fsv_check_latency_seconds",
            "Time to learn one user's membership of one channel.",
            ["cached"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.cache_hits = Counter("fsv_cache_hits", "Membership cache hits.", registry=r)
        self.cache_misses = Counter("fsv_cache_misses", "Membership cache misses.", registry=r)
        self.api_errors = Counter(
            "fsv_telegram_api_errors", "Telegram API errors.", ["method", "error_type"], registry=r
        )
        self.actions = Counter(
            "fsv_moderation_actions", "Deletes, mutes, unmutes, warnings.", ["action"], registry=r
        )
        self.protected_groups = Gauge(
            "fsv_protected_groups", "Protected groups in the live configuration.", registry=r
        )
        self.updates_handled = Counter(
            "fsv_updates_handled", "Telegram updates whose handlers have all finished.",
            registry=r,
        )
        self.events_pending = Gauge(
            "fsv_events_pending", "Verification events not yet committed.", registry=r
        )
# --8<-- [end:metrics]

    def watch(self, protected_groups: Callable[[], int], pending: Callable[[], int]) -> None:
        """Read the two gauges from callbacks at scrape time."""
        self.protected_groups.set_function(lambda: float(protected_groups()))
        self.events_pending.set_function(lambda: float(pending()))

    def watch_cache(self, stats: Callable[[], fv.CacheStats]) -> None:
        """Export the membership cache's size, and its Redis state, read at scrape time."""
        self.registry.register(_CacheCollector(stats))

    def render(self) -> bytes:
        """The exposition text Prometheus scrapes."""
        return bytes(generate_latest(self.registry))


class _CacheCollector:
    """``fsv_cache_entries``, ``fsv_cache_degraded`` and ``fsv_cache_redis_errors_total``."""

    def __init__(self, stats: Callable[[], fv.CacheStats]) -> None:
        self._stats = stats

    def collect(self) -> Iterable[Metric]:
        """One snapshot of the cache's stats, as three metrics."""
        stats = self._stats()
        shared = stats if isinstance(stats, fv.RedisCacheStats) else None
        yield GaugeMetricFamily("fsv_cache_entries",
                                "Membership answers held in this process's memory.",
                                value=stats.size)
        yield GaugeMetricFamily(
            "fsv_cache_degraded",
            "1 while the shared (Redis) membership cache works from this process's memory.",
            value=int(shared is not None and shared.degraded))
        yield CounterMetricFamily("fsv_cache_redis_errors",
                                  "Redis calls of the membership cache that failed.",
                                  value=shared.redis_errors if shared is not None else 0)


class MetricsServer:
    """``GET /metrics`` (Prometheus) and ``GET /health`` (JSON) on ``host:port``.

    ``health`` returns ``(healthy, details)``; unhealthy answers 503.
    """

    def __init__(
        self,
        metrics: Metrics,
        health: Callable[[], tuple[bool, dict[str, Any]]],
        *,
        host: str = "127.0.0.1",
        port: int = 9090,
    ) -> None:
        self._metrics = metrics
        self._health = health
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None
        #: The port actually bound (useful with ``port=0``).
        self.port = port

    async def _serve_metrics(self, request: web.Request) -> web.Response:
        return web.Response(body=self._metrics.render(),
                            headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _serve_health(self, request: web.Request) -> web.Response:
        healthy, details = self._health()
        body = {"status": "ok" if healthy else "unavailable", **details}
        return web.json_response(body, status=200 if healthy else 503)

    async def start(self) -> None:
        """Start listening."""
        app = web.Application()
        app.router.add_get("/metrics", self._serve_metrics)
        app.router.add_get("/health", self._serve_health)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
