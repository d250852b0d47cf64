"""Prometheus metrics of the API: request latency by route, open streams, listeners."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["ApiMetrics"]

_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ApiMetrics:
    """Every metric the API exports, on one registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        #: Time to answer, by method, route template and status (streams excluded).
        self.latency = Histogram("fsv_api_request_seconds", "Time to answer a request.",
                                 ["method", "route", "status"], buckets=_BUCKETS, registry=r)
        #: Server-Sent Event streams open now.
        self.open_streams = Gauge("fsv_api_open_streams", "SSE streams open now.", registry=r)
        #: Firestore listeners (fan-out streams) open now.
        self.listeners = Gauge("fsv_api_listeners", "Firestore listeners open now.", registry=r)
        #: Subscribers dropped for reading too slowly.
        self.dropped = Counter("fsv_api_stream_dropped", "Slow stream subscribers dropped.",
                               registry=r)

    def watch(self, listeners: Callable[[], int]) -> None:
        """Read the listener gauge from a callback at scrape time."""
        self.listeners.set_function(lambda: float(listeners()))

    def render(self) -> bytes:
        """The exposition text Prometheus scrapes."""
        return bytes(generate_latest(self.registry))
