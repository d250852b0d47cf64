"""`FaultProxy`: a TCP proxy in front of the emulator that injects network faults.

The proxy listens on a free port of ``127.0.0.1`` and forwards bytes to an
upstream ``HOST:PORT`` (the Firestore emulator). It works at the byte level: it
does not parse the emulator's HTTP/2, so it fails calls the way a network does.
It runs its own asyncio loop in a background thread, so sync and async tests
drive it alike, and every switch takes effect, for new and existing
connections, before the call that asks for it returns::

    with FaultProxy(firestore_emulator.host) as proxy:
        store = await fv.connect(project=project, emulator_host=proxy.host)
        proxy.refuse()                      # an outage
        ...
        proxy.healthy()                     # and recovery
        await proxy.wait_for_async(lambda: proxy.stats.bytes_up > 0, what="a call went through")

Faults:

- `healthy()`: forward everything.
- `latency()`: delay every chunk by ``seconds`` in each
  direction (a request and its answer take at least twice that).
- `blackhole()`: read and throw away what either side sends,
  answer nothing: a hung network.
- `refuse()`: reset every connection, and every new one as soon
  as it is accepted: an outage.
- `drop_responses_then_reset()`: forward requests, swallow
  the answers, then reset: an *ambiguous* call (the emulator applied it, the
  client never heard back).
- `reset_connections()`: reset every connection once (a drop
  mid-call), then forward everything.

A TCP stream cannot have a hole in it: a connection that lost bytes in a
direction (blackhole, swallowed answers) is reset as soon as a switch would
let bytes flow that way again. Clients see that as a dropped connection and
reconnect.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import enum
import inspect
import logging
import socket
import struct
import threading
import time
from asyncio.base_events import Server
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, fields
from types import TracebackType
from typing import Any, TypeVar

import anyio

__all__ = ["Fault", "FaultProxy", "FaultStats", "refused_host"]

log = logging.getLogger("firestore_verify.testing.faults")

_T = TypeVar("_T")

_LOCAL_HOST = "127.0.0.1"
_CHUNK = 64 * 1024
_QUEUE_CHUNKS = 256
"""Chunks one direction of a connection may hold while they wait out a latency."""
_CONTROL_TIMEOUT = 10.0
"""Longest a switch (or closing) may take on the proxy's loop before it is a bug."""
_LINGER_RESET = struct.pack("ii", 1, 0)
"""SO_LINGER on, timeout 0: closing the socket sends a TCP reset instead of a FIN."""

_UP = 0  # client -> upstream
_DOWN = 1  # upstream -> client


class Fault(str, enum.Enum):
    """What a `FaultProxy` does to traffic right now."""

    HEALTHY = "healthy"
    """Forward everything."""
    LATENCY = "latency"
    """Forward everything, each chunk late by the latency, in each direction."""
    BLACKHOLE = "blackhole"
    """Read and throw away everything, in both directions."""
    REFUSE = "refuse"
    """Reset every connection, existing and new."""
    DROP_RESPONSES = "drop_responses"
    """Forward client bytes, throw away the upstream's answers (until the reset)."""


@dataclass(frozen=True)
class FaultStats:
    """A snapshot of what a `FaultProxy` did since it started."""

    connections_accepted: int = 0
    """Connections the proxy accepted (refused ones included)."""
    connections_open: int = 0
    """Connections open right now (to the client and the upstream)."""
    connections_refused: int = 0
    """Connections reset as soon as they were accepted, by `FaultProxy.refuse()`."""
    resets: int = 0
    """Open connections reset by a fault (refuse, reset_connections, the drop's reset,
    leaving a fault that lost bytes).
    """
    bytes_from_clients: int = 0
    """Bytes the proxy read from clients, whatever became of them."""
    bytes_from_upstream: int = 0
    """Bytes the proxy read from the upstream, whatever became of them."""
    bytes_up: int = 0
    """Client bytes delivered to the upstream."""
    bytes_down: int = 0
    """Upstream bytes delivered to clients."""
    bytes_dropped_up: int = 0
    """Client bytes thrown away (blackhole, or pending when their connection was reset)."""
    bytes_dropped_down: int = 0
    """Upstream bytes thrown away (blackhole, drop_responses, or pending at a reset)."""


class _Counters:
    """The live counters behind `FaultStats`; written on the loop, read anywhere."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values = {f.name: 0 for f in fields(FaultStats)}

    def add(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self._values[name] += amount

    def snapshot(self) -> FaultStats:
        with self._lock:
            return FaultStats(**self._values)


def _parse_host(host: str) -> tuple[str, int]:
    name, sep, port = host.rpartition(":")
    if not sep or not name or not port.isdigit():
        raise ValueError(f"upstream must be HOST:PORT, e.g. 127.0.0.1:8080, not {host!r}")
    return name.strip("[]"), int(port)


def _abort(writer: asyncio.StreamWriter, *, reset: bool) -> None:
    """Close ``writer``'s socket at once; with ``reset``, the peer gets a TCP RST."""
    transport = writer.transport
    if reset:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
    transport.abort()


class _Link:
    """One proxied connection: a client socket, its upstream socket and four pumps."""

    def __init__(
        self,
        proxy: FaultProxy,
        client: tuple[asyncio.StreamReader, asyncio.StreamWriter],
        upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    ) -> None:
        self._proxy = proxy
        self._readers = (client[0], upstream[0])
        # Bytes read from the client go to the upstream's writer, and the reverse.
        self._writers = (upstream[1], client[1])
        self._queues: tuple[asyncio.Queue[tuple[float, bytes, bool] | None], ...] = (
            asyncio.Queue(_QUEUE_CHUNKS),
            asyncio.Queue(_QUEUE_CHUNKS),
        )
        self._last_due = [0.0, 0.0]
        self._in_hand = [0, 0]
        """Size of the chunk each writer holds while it waits out the latency."""
        self.lost: set[int] = set()
        """Directions in which this connection threw bytes away."""
        self._pumps: list[asyncio.Task[None]] = []
        self._closed = False

    async def run(self) -> None:
        """Pump both directions until both ends are done, one fails, or a fault resets it."""
        self._pumps = [
            asyncio.ensure_future(pump(direction))
            for direction in (_UP, _DOWN)
            for pump in (self._read, self._write)
        ]
        try:
            await asyncio.wait(self._pumps, return_when=asyncio.FIRST_EXCEPTION)
        finally:
            for pump_task in self._pumps:
                pump_task.cancel()
            # Retrieve every outcome: a peer resetting its end is normal here.
            outcomes = await asyncio.gather(*self._pumps, return_exceptions=True)
            for outcome in outcomes:
                if isinstance(outcome, Exception) and not isinstance(outcome, OSError):
                    log.warning("fault proxy connection failed: %r", outcome)
            self.close(reset=any(t.cancelled() or t.exception() for t in self._pumps))

    async def _read(self, direction: int) -> None:
        reader, queue = self._readers[direction], self._queues[direction]
        loop = asyncio.get_running_loop()
        while True:
            data = await reader.read(_CHUNK)
            if not data:
                await queue.put(None)
                return
            self._proxy._counters.add(
                "bytes_from_clients" if direction == _UP else "bytes_from_upstream", len(data))
            forced = b""
            if self._proxy._blocks(direction):
                forced, data = self._proxy._allowance(direction, data)
                if data:
                    self._drop(direction, len(data))
                if not forced:
                    continue
                data = forced
            due = max(loop.time() + self._proxy._latency, self._last_due[direction])
            self._last_due[direction] = due
            await queue.put((due, data, bool(forced)))

    async def _write(self, direction: int) -> None:
        writer, queue = self._writers[direction], self._queues[direction]
        loop = asyncio.get_running_loop()
        while True:
            item = await queue.get()
            if item is None:
                if writer.can_write_eof() and not writer.transport.is_closing():
                    writer.write_eof()
                return
            due, data, forced = item
            self._in_hand[direction] = len(data)
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            self._in_hand[direction] = 0
            if not forced and self._proxy._blocks(direction):
                # The fault changed while this chunk waited out its latency.
                self._drop(direction, len(data))
                continue
            writer.write(data)
            await writer.drain()
            self._proxy._counters.add("bytes_up" if direction == _UP else "bytes_down", len(data))

    def _drop(self, direction: int, size: int) -> None:
        self.lost.add(direction)
        name = "bytes_dropped_up" if direction == _UP else "bytes_dropped_down"
        self._proxy._counters.add(name, size)

    def close(self, *, reset: bool) -> bool:
        """Close both sockets (``reset``: with a TCP RST) and stop the pumps.

        Returns whether this call closed it (``False``: it was closed already).
        """
        if self._closed:
            return False
        self._closed = True
        self._proxy._counters.add("connections_open", -1)
        for direction, queue in enumerate(self._queues):
            pending, self._in_hand[direction] = self._in_hand[direction], 0
            while not queue.empty():
                item = queue.get_nowait()
                if item is not None:
                    pending += len(item[1])
            if pending:
                self._drop(direction, pending)
        for writer in self._writers:
            if reset:
                _abort(writer, reset=True)
            else:
                writer.close()
        for pump_task in self._pumps:
            pump_task.cancel()
        return True


class FaultProxy:
    """A byte-level TCP proxy on ``127.0.0.1`` that injects faults into one upstream.

    Use it as a context manager (or call `start()` and `close()`);
    `host` is the ``HOST:PORT`` to give clients instead of the
    upstream's. It starts healthy. Every fault switch may be called from any
    thread but the proxy's own, and has taken effect when it returns (it
    blocks the caller only while the proxy's loop applies it).

    Args:
        upstream: ``HOST:PORT`` to forward to, e.g. ``firestore_emulator.host``.

    """

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self._upstream_addr = _parse_host(upstream)
        self._counters = _Counters()
        self._fault = Fault.HEALTHY
        self._latency = 0.0
        self._forward_left = 0
        """Upstream bytes the current drop still forwards (``forward_first``)."""
        self._links: set[_Link] = set()
        self._drop_timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: Server | None = None
        self._port: int | None = None
        self._closing = False

    # -- lifecycle ----------------------------------------------------------------------
    def start(self) -> FaultProxy:
        """Start listening on a free port of ``127.0.0.1``; returns ``self``.

        Raises:
            RuntimeError: when the proxy was started before.
            OSError: when no port could be bound.

        """
        if self._thread is not None:
            raise RuntimeError("this FaultProxy was started already; make a new one.")
        ready: concurrent.futures.Future[int] = concurrent.futures.Future()
        self._thread = threading.Thread(
            target=self._main, args=(ready,), name=f"FaultProxy->{self.upstream}", daemon=True
        )
        self._thread.start()
        self._port = ready.result(timeout=_CONTROL_TIMEOUT)
        log.debug("fault proxy %s -> %s started", self.host, self.upstream)
        return self

    def _main(self, ready: concurrent.futures.Future[int]) -> None:
        loop = asyncio.new_event_loop()
        try:
            try:
                self._server = loop.run_until_complete(
                    asyncio.start_server(self._serve, _LOCAL_HOST, 0)
                )
            except BaseException as exc:
                ready.set_exception(exc)
                return
            self._loop = loop
            ready.set_result(self._server.sockets[0].getsockname()[1])
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def close(self) -> None:
        """Close every connection and the listening socket, and stop the thread.

        Idempotent. Clients see their connections reset.
        """
        loop, thread = self._loop, self._thread
        if loop is None or thread is None or self._closing:
            return
        try:
            self._call(self._shutdown())
        finally:
            self._closing = True
            loop.call_soon_threadsafe(loop.stop)
            thread.join(_CONTROL_TIMEOUT)
            if thread.is_alive():  # pragma: no cover - a bug in the proxy itself
                raise RuntimeError(f"the {thread.name} thread did not stop")

    async def _shutdown(self) -> None:
        self._closing = True
        self._cancel_drop_timer()
        server = self._server
        assert server is not None
        server.close()
        for link in list(self._links):
            link.close(reset=True)
        current = asyncio.current_task()
        # Handlers of connections accepted a moment ago see _closing and end at once.
        others = [t for t in asyncio.all_tasks() if t is not current]
        if others:
            _, stuck = await asyncio.wait(others, timeout=_CONTROL_TIMEOUT / 2)
            for task in stuck:
                task.cancel()
            await asyncio.gather(*others, return_exceptions=True)
        await server.wait_closed()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- what clients and tests see -----------------------------------------------------
    @property
    def port(self) -> int:
        """The port the proxy listens on (``127.0.0.1``)."""
        if self._port is None:
            raise RuntimeError("the FaultProxy is not started: use `with FaultProxy(...)`.")
        return self._port

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``: give it to clients in place of the upstream's host."""
        return f"{_LOCAL_HOST}:{self.port}"

    @property
    def running(self) -> bool:
        """Whether the proxy is started and not closed (its thread is alive)."""
        return (self._thread is not None and self._thread.is_alive()
                and self._loop is not None and not self._closing)

    @property
    def fault(self) -> Fault:
        """The fault in effect now."""
        return self._fault

    @property
    def stats(self) -> FaultStats:
        """A consistent snapshot of the counters."""
        return self._counters.snapshot()

    def __repr__(self) -> str:
        where = self.host if self._port is not None else "not started"
        return f"FaultProxy({where} -> {self.upstream}, {self._fault.value})"

    # -- faults -------------------------------------------------------------------------
    def healthy(self) -> None:
        """Forward everything, at once (connections that lost bytes are reset)."""
        self._switch(Fault.HEALTHY)

    def latency(self, seconds: float) -> None:
        """Delay every chunk by ``seconds`` in each direction (order is kept).

        A request and its answer take at least ``2 * seconds``. Chunks already
        waiting keep their delivery time.
        """
        if seconds < 0:
            raise ValueError(f"latency must be >= 0 seconds, not {seconds}")
        self._switch(Fault.LATENCY, latency=seconds)

    def blackhole(self) -> None:
        """Read what either side sends and throw it away; answer nothing (a hung network)."""
        self._switch(Fault.BLACKHOLE)

    def refuse(self) -> None:
        """Reset every connection now, and every new one as soon as it is accepted."""
        self._switch(Fault.REFUSE)

    def drop_responses_then_reset(self, after: float | None = 1.0, *,
                                  forward_first: int = 0) -> None:
        """Forward client bytes, swallow the upstream's, and reset everything ``after`` seconds.

        This makes an *ambiguous* call: the upstream receives and applies it,
        the client never hears back. After the reset the proxy is healthy again
        and a retrying client reconnects. With ``after=None`` nothing is reset
        until the test calls `reset_connections()` (or switches to another
        fault), e.g. once it has seen the write land upstream.

        ``forward_first`` lets that many upstream bytes through before the
        swallowing starts: a streamed answer (a ``get_all``, a query) then
        breaks *mid-stream*, after its first messages arrived.
        """
        if after is not None and after <= 0:
            raise ValueError(f"after must be > 0 seconds or None, not {after}")
        if forward_first < 0:
            raise ValueError(f"forward_first must be >= 0 bytes, not {forward_first}")
        self._switch(Fault.DROP_RESPONSES, drop_after=after, forward_first=forward_first)

    def reset_connections(self) -> int:
        """Reset every open connection once, then forward everything; returns how many."""
        return self._call(self._async(self._reset_all_then_heal))

    # -- waiting ------------------------------------------------------------------------
    def wait_for(
        self,
        condition: Callable[[], object],
        *,
        timeout: float = 10.0,
        what: str,
        interval: float = 0.01,
    ) -> None:
        """Block until ``condition()`` is true, for at most ``timeout`` seconds.

        Blocks the calling thread: in an async test, whose client needs its
        event loop to make progress, use `wait_for_async()`.

        Raises:
            AssertionError: ``condition()`` stayed false; the message starts with ``what``.

        """
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() >= deadline:
                raise AssertionError(self._timeout_message(what, timeout))
            time.sleep(interval)

    async def wait_for_async(
        self,
        condition: Callable[[], object],
        *,
        timeout: float = 10.0,  # noqa: ASYNC109 - the same signature as wait_for()
        what: str,
        interval: float = 0.01,
    ) -> None:
        """Like `wait_for()`, but sleeps without blocking the event loop.

        ``condition`` may also be an async function (e.g. one that reads the
        upstream directly); each call is awaited.
        """
        deadline = time.monotonic() + timeout
        while True:
            result = condition()
            if inspect.isawaitable(result):
                result = await result
            if result:
                return
            if time.monotonic() >= deadline:
                raise AssertionError(self._timeout_message(what, timeout))
            await anyio.sleep(interval)

    def _timeout_message(self, what: str, timeout: float) -> str:
        return f"{what}: did not happen within {timeout:g}s ({self!r}, {self.stats})"

    # -- on the proxy's loop ------------------------------------------------------------
    def _call(self, coro: Coroutine[Any, Any, _T]) -> _T:
        loop = self._loop
        if loop is None or self._closing:
            coro.close()
            raise RuntimeError("the FaultProxy is not running: use `with FaultProxy(...)`.")
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("FaultProxy switches block: call them from outside its thread.")
        return asyncio.run_coroutine_threadsafe(coro, loop).result(_CONTROL_TIMEOUT)

    @staticmethod
    async def _async(function: Callable[[], _T]) -> _T:
        return function()

    def _switch(self, fault: Fault, *, latency: float = 0.0,
                drop_after: float | None = None, forward_first: int = 0) -> None:
        def apply() -> None:
            self._cancel_drop_timer()
            self._fault = fault
            self._latency = latency
            self._forward_left = forward_first
            if fault is Fault.REFUSE:
                self._reset(list(self._links))
            else:
                self._reset([link for link in self._links
                             if any(not self._blocks(d) for d in link.lost)])
            if drop_after is not None:
                loop = asyncio.get_running_loop()
                self._drop_timer = loop.call_later(drop_after, self._reset_all_then_heal)
            log.debug("fault proxy %s: %s (latency %.3fs)", self._port, fault.value, latency)

        self._call(self._async(apply))

    def _blocks(self, direction: int) -> bool:
        """Whether bytes going ``direction`` are thrown away under the current fault."""
        fault = self._fault
        return fault is Fault.BLACKHOLE or (fault is Fault.DROP_RESPONSES and direction == _DOWN)

    def _allowance(self, direction: int, data: bytes) -> tuple[bytes, bytes]:
        """Split ``data`` (about to be dropped) into what ``forward_first`` passes and the rest."""
        if direction != _DOWN or self._forward_left <= 0:
            return b"", data
        passed, rest = data[:self._forward_left], data[self._forward_left:]
        self._forward_left -= len(passed)
        return passed, rest

    def _reset(self, links: list[_Link]) -> int:
        done = sum(link.close(reset=True) for link in links)
        if done:
            self._counters.add("resets", done)
        return done

    def _reset_all_then_heal(self) -> int:
        self._cancel_drop_timer()
        self._fault = Fault.HEALTHY
        self._latency = 0.0
        return self._reset(list(self._links))

    def _cancel_drop_timer(self) -> None:
        if self._drop_timer is not None:
            self._drop_timer.cancel()
            self._drop_timer = None

    def _refusing(self) -> bool:
        """Whether a connection accepted now must be reset at once (counted when refused)."""
        if self._closing:
            return True
        if self._fault is Fault.REFUSE:
            self._counters.add("connections_refused")
            return True
        return False

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._counters.add("connections_accepted")
        if self._refusing():
            _abort(writer, reset=True)
            return
        try:
            upstream = await asyncio.open_connection(*self._upstream_addr)
        except OSError as exc:
            log.debug("fault proxy %s: upstream %s: %s", self._port, self.upstream, exc)
            _abort(writer, reset=True)
            return
        if self._refusing():  # the fault changed while the upstream connection was made
            _abort(upstream[1], reset=True)
            _abort(writer, reset=True)
            return
        link = _Link(self, (reader, writer), upstream)
        self._links.add(link)
        self._counters.add("connections_open")
        try:
            await link.run()
        finally:
            link.close(reset=True)  # a no-op unless the handler itself was cancelled
            self._links.discard(link)


def refused_host() -> str:
    """A ``HOST:PORT`` on ``127.0.0.1`` where nothing listens: every call is refused at once.

    For tests of what a client does when Firestore is unreachable (a stale
    ``FIRESTORE_EMULATOR_HOST``): connect a store to it with a short ``timeout``.
    The port was free a moment ago; another process could take it meanwhile, which
    a test run on one machine makes unlikely.
    """
    with socket.socket() as probe:
        probe.bind((_LOCAL_HOST, 0))
        port = probe.getsockname()[1]
    return f"{_LOCAL_HOST}:{port}"
