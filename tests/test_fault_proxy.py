"""FaultProxy: each fault does to real emulator traffic what it claims."""

from __future__ import annotations

import contextlib
import socket
import struct
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import pytest
from google.api_core import exceptions as gexc

import firestore_verify as fv
from firestore_verify.testing.emulator import FirestoreEmulator
from firestore_verify.testing.faults import Fault, FaultProxy

# Direct connections only: an HTTP proxy from the environment must not see this traffic.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@pytest.fixture
def proxy(firestore_emulator: FirestoreEmulator) -> Iterator[FaultProxy]:
    with FaultProxy(firestore_emulator.host) as running:
        yield running


@pytest.fixture
async def proxied(proxy: FaultProxy, firestore_project: str) -> AsyncIterator[fv.Store]:
    """A store on the test's project that reaches the emulator only through ``proxy``."""
    connected = await fv.connect(project=firestore_project, emulator_host=proxy.host)
    try:
        yield connected
    finally:
        proxy.healthy()  # let the store's channel close cleanly
        await connected.close()


async def read_until_ok(doc: Any, *, within: float = 20.0, what: str) -> Any:
    """Read ``doc`` until a read succeeds (the client reconnects after a fault), bounded."""
    last: Exception | None = None
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            with anyio.fail_after(max(0.1, deadline - time.monotonic())):
                return await doc.get()
        except (gexc.GoogleAPICallError, TimeoutError) as exc:
            last = exc
            await anyio.sleep(0.1)
    raise AssertionError(f"{what}: no read succeeded within {within:g}s (last error: {last!r})")


def http_get(host: str, timeout: float) -> str:
    """The emulator's HTTP root (it answers ``Ok``) through ``host``."""
    with _OPENER.open(f"http://{host}/", timeout=timeout) as response:
        body: bytes = response.read()
    return body.decode().strip()


pytestmark = pytest.mark.anyio


async def test_healthy_proxy_forwards_reads_and_writes(
    proxy: FaultProxy, proxied: fv.Store, store: fv.Store
) -> None:
    doc = proxied.collection("probe").document("a")
    await doc.set({"n": 1})
    assert (await doc.get()).to_dict() == {"n": 1}
    assert (await store.collection("probe").document("a").get()).to_dict() == {"n": 1}
    stats = proxy.stats
    assert stats.connections_accepted >= 1
    assert stats.connections_open >= 1
    assert stats.bytes_up > 0
    assert stats.bytes_down > 0
    assert stats.bytes_up == stats.bytes_from_clients
    assert stats.bytes_down == stats.bytes_from_upstream
    assert (stats.resets, stats.bytes_dropped_up, stats.bytes_dropped_down) == (0, 0, 0)
    assert proxy.fault is Fault.HEALTHY


async def test_latency_delays_both_directions(proxy: FaultProxy, proxied: fv.Store) -> None:
    doc = proxied.collection("probe").document("a")
    await doc.set({"n": 1})  # the connection is open: what follows is one round trip
    proxy.latency(0.4)
    assert proxy.fault is Fault.LATENCY
    started = time.monotonic()
    assert (await doc.get()).to_dict() == {"n": 1}
    elapsed = time.monotonic() - started
    # The request waited 0.4 s on its way up, the answer 0.4 s on its way down.
    assert elapsed >= 0.79, f"a read under 0.4 s of latency each way took only {elapsed:.3f}s"
    proxy.healthy()
    assert (await doc.get()).to_dict() == {"n": 1}
    assert proxy.stats.resets == 0  # latency loses nothing, so nothing is reset


async def test_blackhole_answers_nothing_until_healthy(
    proxy: FaultProxy, proxied: fv.Store
) -> None:
    doc = proxied.collection("probe").document("a")
    await doc.set({"n": 1})
    proxy.blackhole()
    before = proxy.stats
    with anyio.move_on_after(1.5) as waited:
        await doc.get()
    assert waited.cancelled_caught, "a read through the blackhole was answered"
    after = proxy.stats
    assert after.bytes_dropped_up > before.bytes_dropped_up, "the read never reached the proxy"
    assert after.bytes_up == before.bytes_up, "the blackhole forwarded client bytes"
    assert after.bytes_down == before.bytes_down, "the blackhole answered"
    proxy.healthy()
    # The connection lost bytes, so it cannot go on: it is reset, and the client reconnects.
    assert proxy.stats.resets == after.resets + 1
    snap = await read_until_ok(doc, what="reading after the blackhole ended")
    assert snap.to_dict() == {"n": 1}
    assert proxy.stats.connections_accepted > after.connections_accepted


async def test_refuse_fails_calls_until_healthy(proxy: FaultProxy, proxied: fv.Store) -> None:
    doc = proxied.collection("probe").document("a")
    await doc.set({"n": 1})
    assert proxy.stats.connections_open == 1
    proxy.refuse()
    # Existing connections are reset at once...
    assert proxy.stats.resets == 1
    assert proxy.stats.connections_open == 0
    delivered = proxy.stats.bytes_up
    # ...and new ones as soon as they are accepted: calls fail instead of answering.
    # (retry=None: google's default retry would keep trying for a minute.)
    with anyio.fail_after(10), pytest.raises(gexc.ServiceUnavailable):
        await doc.get(retry=None)
    with anyio.fail_after(10), pytest.raises(gexc.ServiceUnavailable):
        await doc.set({"n": 2}, retry=None)
    assert proxy.stats.connections_refused >= 1
    assert proxy.stats.bytes_up == delivered, "bytes reached the emulator during the outage"
    proxy.healthy()
    snap = await read_until_ok(doc, what="reading after the outage ended")
    assert snap.to_dict() == {"n": 1}, "a write made during the outage landed"


async def test_reset_connections_drops_a_call_in_flight(
    proxy: FaultProxy, proxied: fv.Store
) -> None:
    doc = proxied.collection("probe").document("a")
    await doc.set({"n": 1})
    proxy.latency(30)  # the next request sits in the proxy
    before = proxy.stats
    outcome: dict[str, object] = {}

    async def read() -> None:
        try:
            outcome["snapshot"] = await doc.get(retry=None)  # see the drop, not a retry
        except gexc.GoogleAPICallError as exc:
            outcome["error"] = exc

    with anyio.fail_after(15):
        async with anyio.create_task_group() as tg:
            tg.start_soon(read)
            await proxy.wait_for_async(
                lambda: proxy.stats.bytes_from_clients > before.bytes_from_clients,
                what="the read reaching the proxy",
            )
            assert proxy.reset_connections() == 1
    assert proxy.fault is Fault.HEALTHY
    # grpc reports a connection lost mid-call as UNAVAILABLE (or UNKNOWN "stream removed").
    assert isinstance(outcome.get("error"), (gexc.ServiceUnavailable, gexc.Unknown)), outcome
    after = proxy.stats
    assert after.resets == before.resets + 1
    assert after.bytes_dropped_up > 0, "the request reached the emulator before the reset"
    assert after.bytes_up == before.bytes_up
    # Healthy again: the client reconnects on its own.
    snap = await read_until_ok(doc, what="reading after the reset")
    assert snap.to_dict() == {"n": 1}
    assert proxy.stats.connections_accepted > before.connections_accepted


async def test_dropped_response_makes_an_ambiguous_commit(
    proxy: FaultProxy, proxied: fv.Store, store: fv.Store
) -> None:
    """The emulator applies the create, the client never hears of it, then the reset."""
    await proxied.collection("probe").document("warm").set({})
    direct = store.collection("probe").document("ambiguous")
    proxy.drop_responses_then_reset(after=None)
    outcome: dict[str, object] = {}

    async def create() -> None:
        try:
            await proxied.collection("probe").document("ambiguous").create({"n": 1})
            outcome["created"] = True
        except gexc.GoogleAPICallError as exc:
            outcome["error"] = exc

    async def landed() -> bool:
        return bool((await direct.get()).exists)

    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            tg.start_soon(create)
            await proxy.wait_for_async(landed, what="the proxied create landing in the emulator")
            assert not outcome, "the client heard back although its answer was swallowed"
            await proxy.wait_for_async(lambda: proxy.stats.bytes_dropped_down > 0,
                                       what="the emulator's answer being swallowed")
            proxy.reset_connections()
    # The client's own retry of the create met the document its first attempt wrote.
    assert isinstance(outcome.get("error"), gexc.AlreadyExists), outcome
    assert (await direct.get()).to_dict() == {"n": 1}


async def test_drop_responses_resets_after_the_delay(
    proxy: FaultProxy, proxied: fv.Store
) -> None:
    doc = proxied.collection("probe").document("a")
    await doc.set({"n": 1})
    before = proxy.stats
    proxy.drop_responses_then_reset(after=1.0)
    assert proxy.fault is Fault.DROP_RESPONSES
    started = time.monotonic()
    with anyio.fail_after(15), pytest.raises(gexc.ServiceUnavailable):
        await doc.set({"n": 2}, retry=None)
    elapsed = time.monotonic() - started
    assert elapsed >= 0.99, f"the call failed after {elapsed:.3f}s, before the reset was due"
    assert proxy.fault.value == "healthy"  # the timer switched it back
    assert proxy.stats.resets == before.resets + 1
    assert proxy.stats.bytes_up > before.bytes_up  # the request was forwarded
    snap = await read_until_ok(doc, what="reading after the reset")
    assert snap.exists


def _http_exchange(sock: socket.socket) -> bytes:
    """One keep-alive HTTP/1.1 request on ``sock`` and the start of its answer."""
    sock.sendall(b"GET / HTTP/1.1\r\nHost: emulator\r\n\r\n")
    return sock.recv(4096)


def test_only_connections_that_lost_bytes_are_reset(firestore_emulator: FirestoreEmulator) -> None:
    with FaultProxy(firestore_emulator.host) as proxy, socket.create_connection(
        ("127.0.0.1", proxy.port), timeout=10
    ) as client:
        assert _http_exchange(client).startswith(b"HTTP/1.1 200")
        proxy.blackhole()
        proxy.latency(0.01)  # nothing was sent meanwhile, so nothing was lost
        proxy.healthy()
        assert proxy.stats.resets == 0
        assert _http_exchange(client).startswith(b"HTTP/1.1 200")
        proxy.blackhole()
        client.sendall(b"GET / HTTP/1.1\r\nHost: emulator\r\n\r\n")
        proxy.wait_for(lambda: proxy.stats.bytes_dropped_up > 0, what="the request being lost")
        proxy.healthy()
        assert proxy.stats.resets == 1
        with pytest.raises(ConnectionResetError):
            client.recv(4096)


async def test_a_client_resetting_its_connection_does_not_hurt_the_proxy(
    proxy: FaultProxy, proxied: fv.Store
) -> None:
    doc = proxied.collection("probe").document("a")
    await doc.set({"n": 1})
    for _ in range(5):
        rude = socket.create_connection(("127.0.0.1", proxy.port))
        rude.sendall(b"PRI * HTTP/2.0\r\n\r\nnot quite a preface")
        rude.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        rude.close()
    await proxy.wait_for_async(lambda: proxy.stats.connections_open == 1,
                               what="the proxy closing the connections its clients reset")
    assert (await doc.get()).to_dict() == {"n": 1}
    assert proxy.stats.resets == 0


def test_a_sync_client_sees_every_fault(firestore_emulator: FirestoreEmulator) -> None:
    """No event loop in the test: the proxy's own thread does the work."""
    with FaultProxy(firestore_emulator.host) as proxy:
        assert http_get(proxy.host, timeout=10) == "Ok"
        proxy.latency(0.3)
        started = time.monotonic()
        assert http_get(proxy.host, timeout=10) == "Ok"
        assert time.monotonic() - started >= 0.59
        proxy.blackhole()
        with pytest.raises((TimeoutError, urllib.error.URLError)):
            http_get(proxy.host, timeout=0.5)
        proxy.refuse()
        with pytest.raises((ConnectionError, urllib.error.URLError)):
            http_get(proxy.host, timeout=5)
        assert proxy.stats.connections_refused >= 1
        proxy.healthy()
        assert http_get(proxy.host, timeout=10) == "Ok"
        proxy.wait_for(lambda: proxy.stats.connections_open == 0, timeout=10,
                       what="the HTTP/1.1 connections closing after their answer")
    assert not proxy.running


def test_wait_for_says_what_did_not_happen(firestore_emulator: FirestoreEmulator) -> None:
    with FaultProxy(firestore_emulator.host) as proxy, pytest.raises(
        AssertionError, match=r"^a miracle: did not happen within 0\.05s"
    ):
        proxy.wait_for(lambda: False, timeout=0.05, what="a miracle")


def test_closing_closes_every_socket_and_the_thread(
    firestore_emulator: FirestoreEmulator,
) -> None:
    proxy = FaultProxy(firestore_emulator.host).start()
    client = socket.create_connection(("127.0.0.1", proxy.port), timeout=5)
    proxy.wait_for(lambda: proxy.stats.connections_open == 1, what="the connection opening")
    port = proxy.port
    proxy.close()
    proxy.close()  # idempotent
    assert not proxy.running
    # Closed with a reset (or a FIN): either way, not left open.
    with client, contextlib.suppress(ConnectionResetError):
        assert client.recv(10) == b"", "the proxy kept the client's connection open"
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    with pytest.raises(RuntimeError, match="not running"):
        proxy.refuse()
