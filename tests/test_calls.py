"""Deadlines: an unreachable or silent Firestore is a typed error within seconds.

The hosts here are real sockets: a port nothing listens on (refused at once)
and a listening socket that never answers (a silent network).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import anyio
import pytest
from google.api_core import exceptions as gexc
from helpers_events import assert_counters_match_events, make_events

import firestore_verify as fv

pytestmark = pytest.mark.anyio


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture
def silent_host() -> Iterator[str]:
    """A host that accepts connections and never says a word."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield f"127.0.0.1:{listener.getsockname()[1]}"


async def test_connect_check_names_the_stale_host() -> None:
    host = f"127.0.0.1:{free_port()}"
    with anyio.fail_after(15):
        with pytest.raises(fv.UnavailableError) as caught:
            await fv.connect(project="demo-calls", emulator_host=host, check=True)
    assert caught.value.host == host
    assert host in str(caught.value)
    assert "FIRESTORE_EMULATOR_HOST" in str(caught.value)


async def test_a_silent_host_fails_within_the_timeout(silent_host: str) -> None:
    store = await fv.connect(project="demo-calls", emulator_host=silent_host,
                             timeout=2, attempt_timeout=0.5)
    try:
        started = anyio.current_time()
        with anyio.fail_after(15):
            with pytest.raises(fv.UnavailableError, match="did not answer within 2s"):
                await store.stats.get()
            with pytest.raises(fv.UnavailableError):
                await store.groups.list()
        # Two calls of a 2 s budget each: bounded, not the client's 300 s default.
        assert anyio.current_time() - started < 9
    finally:
        await store.close()


async def test_a_transaction_against_a_refusing_host_fails_within_the_timeout() -> None:
    # Refused, not silent: a gRPC call cancelled in flight would complete after this
    # test's event loop is gone, and fail the next test's loop.
    store = await fv.connect(project="demo-calls", emulator_host=f"127.0.0.1:{free_port()}",
                             timeout=2, attempt_timeout=0.5)
    try:
        with anyio.fail_after(10), pytest.raises(fv.UnavailableError, match="within 2s"):
            await store.groups.enable(-1001)
    finally:
        await store.close()


async def test_bad_timeouts_are_configuration_errors() -> None:
    with pytest.raises(fv.ConfigurationError, match="positive"):
        await fv.connect(project="demo-calls", emulator_host="127.0.0.1:1", timeout=0)


async def test_policy_options_bound_every_attempt() -> None:
    policy = fv.CallPolicy(timeout=7, attempt_timeout=3)
    options = policy.options
    assert options["timeout"] == 3
    assert options["retry"].timeout == 7
    assert policy.attempt == {"retry": None, "timeout": 3}
    waits = policy.backoff(maximum=1.0)
    assert all(0 <= next(waits) <= 1.0 for _ in range(20))


async def test_logger_settings_out_of_range_is_invalid_input() -> None:
    with pytest.raises(fv.InvalidInputError, match="shards"):
        fv.LoggerSettings(shards=0)


async def test_record_before_entering_says_so(store: fv.Store) -> None:
    log = store.verifications.logger()
    with pytest.raises(fv.LoggerClosedError, match="not started"):
        log.record(make_events(1)[0])
    assert log.health.status == "stopped"


async def test_health_reports_commits(store: fv.Store) -> None:
    async with store.verifications.logger() as log:
        assert log.health.status == "ok"
        assert log.health.last_commit_at is None
        for event in make_events(5):
            log.record(event)
        await log.flush()
        health = log.health
    assert (health.status, health.pending, health.consecutive_errors) == ("ok", 0, 0)
    assert health.last_commit_at is not None
    assert log.health.status == "stopped"


class RefusingWriter(fv.EventWriter):
    """Firestore refusing every commit as the security rules would: no retry fixes it."""

    async def write(self, *args: object, **kwargs: object) -> fv.WriteOutcome:
        raise gexc.PermissionDenied("Missing or insufficient permissions.")


async def test_an_error_no_retry_fixes_stops_the_logger_and_keeps_the_events(
        store: fv.Store) -> None:
    events = make_events(20)
    logger = fv.VerificationLogger(store, fv.LoggerSettings(), writer=RefusingWriter(store))
    async def run() -> None:
        async with logger as log:
            log.record(events[0])
            with anyio.fail_after(10), pytest.raises(fv.LoggerFailedError):
                await log.flush()  # raises as soon as the commit fails for good
            assert log.health.status == "failed"
            assert "PermissionDenied" in (log.health.last_error or "")
            with pytest.raises(fv.LoggerFailedError):
                log.record(events[1])

    with pytest.raises(fv.LoggerFailedError) as caught:
        await run()
    # Nothing lost: the accepted event is handed back, and writes once the cause is fixed.
    assert [e.id for e in caught.value.unwritten] == [events[0].id]
    assert isinstance(caught.value.__cause__, gexc.PermissionDenied)
    outcome = await store.verifications.write_many(caught.value.unwritten)
    assert outcome.written == 1
    await assert_counters_match_events(store)
