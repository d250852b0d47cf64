"""Reliability: a deadline on every call, typed errors, the logger's health and spool."""

import socket
import tempfile
from pathlib import Path

import firestore_verify as fv


# --8<-- [start:deadline]
async def try_connect(host: str) -> str:
    """Connect with a 5 s budget per call, checking up front that Firestore answers."""
    try:
        store = await fv.connect(project="demo-reliability", emulator_host=host,
                                 timeout=5, check=True)
    except fv.UnavailableError as exc:  # within seconds, naming the host
        return f"unavailable: {exc.host}"
    await store.close()
    return "connected"
# --8<-- [end:deadline]


# --8<-- [start:spool]
async def record_durably(store: fv.Store, spool: Path) -> fv.LoggerHealth:
    """Each event is on disk before record() returns; the next start replays the rest."""
    async with store.verifications.logger(spool=spool) as log:
        log.record(fv.Verification(user_id=7, group_id=-1001234567890,
                                   status=fv.Status.SUCCESS))
        await log.flush()
        return log.health  # ok / retrying (and the last error) / failed
# --8<-- [end:spool]


async def main(store: fv.Store) -> tuple[str, str, fv.LoggerHealth]:
    with socket.socket() as probe:  # a port nothing listens on: a stale emulator host
        probe.bind(("127.0.0.1", 0))
        stale = f"127.0.0.1:{probe.getsockname()[1]}"
    outcome = await try_connect(stale)
    print(outcome.replace(stale, "127.0.0.1:<a closed port>"))  # the port changes every run
    with tempfile.TemporaryDirectory() as folder:
        health = await record_durably(store, Path(folder) / "events.spool")
    print(f"logger: {health.status}, {health.pending} pending, "
          f"{health.consecutive_errors} consecutive errors")
    return outcome, stale, health
