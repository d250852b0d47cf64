"""EventSpool: the logger's durable spool (pure SQLite, no emulator)."""

from __future__ import annotations

import ctypes
import json
import os
import queue
import re
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

import firestore_verify as fv
from firestore_verify.spool import SPOOL_VERSION, EventSpool, SpoolError

START = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def event(index: int, **changes: object) -> fv.Verification:
    data: dict[str, object] = {
        "id": f"ev-{index}", "user_id": 100 + index % 7, "group_id": -1001,
        "channel_id": -2001, "status": list(fv.Status)[index % 3],
        "latency_ms": 1.5 + index / 3, "cached": index % 2 == 0,
        "error_type": "TimedOut" if index % 3 == 2 else None,
        "occurred_at": START + timedelta(seconds=index),
    }
    data.update(changes)
    return fv.Verification(**data)


def ids(events: list[fv.Verification]) -> list[str]:
    return [e.id for e in events]


# -- the API --

def test_pending_keeps_append_order_until_acknowledged(tmp_path: Path) -> None:
    events = [event(i) for i in range(10)]
    with EventSpool(tmp_path / "events.spool") as spool:
        assert (len(spool), spool.pending()) == (0, [])
        for e in events:
            spool.append(e)
        assert len(spool) == 10
        assert spool.pending() == events  # every field survives the round trip
        spool.acknowledge(["ev-3", "ev-0", "ev-9", "never-appended"])
        assert ids(spool.pending()) == [f"ev-{i}" for i in (1, 2, 4, 5, 6, 7, 8)]
        spool.acknowledge([])
        spool.acknowledge(e.id for e in events[4:8])  # any iterable, e.g. a generator
        assert ids(spool.pending()) == ["ev-1", "ev-2", "ev-8"]
        assert len(spool) == 3


def test_append_is_idempotent_on_the_event_id(tmp_path: Path) -> None:
    with EventSpool(tmp_path / "events.spool") as spool:
        first = event(1)
        spool.append(first)
        spool.append(event(2))
        # Same id again (a retried record()): no second copy, the first keeps its place.
        spool.append(event(1, status=fv.Status.ERROR, latency_ms=99.0))
        spool.append(first)
        assert spool.pending() == [first, event(2)]
        assert len(spool) == 2


def test_replace_updates_an_entry_in_its_place(tmp_path: Path) -> None:
    """A fold of cache hits is one entry, rewritten as it grows."""
    with EventSpool(tmp_path / "events.spool") as spool:
        spool.append(event(1))
        spool.append(event(2))
        grown = event(1, repeats=4)
        spool.append(grown, replace=True)
        assert spool.pending() == [grown, event(2)]
        spool.append(event(3), replace=True)  # a new id is appended as usual
        assert ids(spool.pending()) == ["ev-1", "ev-2", "ev-3"]


def test_reopening_keeps_what_was_pending(tmp_path: Path) -> None:
    path = tmp_path / "events.spool"
    spool = EventSpool(path)
    for i in range(5):
        spool.append(event(i))
    spool.acknowledge(["ev-1"])
    spool.close()
    spool.close()  # harmless
    assert spool.closed
    with pytest.raises(SpoolError, match="is closed"):
        spool.append(event(9))
    with pytest.raises(SpoolError, match="is closed"):
        spool.pending()
    with EventSpool(str(path)) as again:  # a str path works too
        assert again.pending() == [event(i) for i in (0, 2, 3, 4)]
        again.append(event(5))
    with EventSpool(path) as third:
        assert ids(third.pending()) == ["ev-0", "ev-2", "ev-3", "ev-4", "ev-5"]


def test_an_acknowledged_id_can_be_appended_again(tmp_path: Path) -> None:
    with EventSpool(tmp_path / "events.spool") as spool:
        spool.append(event(1))
        spool.append(event(2))
        spool.acknowledge(["ev-1"])
        spool.append(event(1))  # e.g. replayed: it goes to the back
        assert ids(spool.pending()) == ["ev-2", "ev-1"]


def test_synchronous_normal_is_accepted_and_nonsense_is_not(tmp_path: Path) -> None:
    with EventSpool(tmp_path / "normal.spool", synchronous="normal") as spool:
        spool.append(event(1))
        assert len(spool) == 1
    with pytest.raises(fv.ConfigurationError, match="synchronous must be"):
        EventSpool(tmp_path / "x.spool", synchronous="off")  # type: ignore[arg-type]


def test_an_empty_file_becomes_a_spool(tmp_path: Path) -> None:
    path = tmp_path / "made-by-mkstemp"
    path.touch()
    with EventSpool(path) as spool:
        spool.append(event(1))
    with EventSpool(path) as spool:
        assert ids(spool.pending()) == ["ev-1"]


# -- bad paths and files --

def test_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(fv.ConfigurationError, match="is a directory; give a file path"):
        EventSpool(tmp_path)


def test_a_missing_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(fv.ConfigurationError, match="does not exist; create it first"):
        EventSpool(tmp_path / "nope" / "events.spool")
    assert not (tmp_path / "nope").exists()


def test_a_file_that_is_not_sqlite_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    garbage = b"not a database\n" * 500
    path.write_bytes(garbage)
    with pytest.raises(fv.ConfigurationError, match="is not an event spool"):
        EventSpool(path)
    assert path.read_bytes() == garbage
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_another_sqlite_database_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
        db.execute("INSERT INTO users (name) VALUES ('alice')")
    before = path.read_bytes()
    refused = re.escape("is an SQLite database but not an event spool (tables: users)")
    with pytest.raises(fv.ConfigurationError, match=refused):
        EventSpool(path)
    assert path.read_bytes() == before  # not switched to WAL, no table added
    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    finally:
        db.close()


def test_another_format_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "events.spool"
    with EventSpool(path) as spool:
        spool.append(event(1))
    db = sqlite3.connect(path)
    try:
        with db:
            db.execute("UPDATE spool_meta SET value = ? WHERE key = 'version'",
                       (str(SPOOL_VERSION + 1),))
    finally:
        db.close()
    with pytest.raises(fv.ConfigurationError,
                       match=re.escape(f"has format version '{SPOOL_VERSION + 1}'; this "
                                 f"firestore-verify reads version {SPOOL_VERSION}.")):
        EventSpool(path)


def test_a_spool_is_used_by_one_logger_at_a_time(tmp_path: Path) -> None:
    path = tmp_path / "events.spool"
    with EventSpool(path) as first:
        first.append(event(1))
        with pytest.raises(fv.ConfigurationError, match="is in use by another logger"):
            EventSpool(path)
        first.append(event(2))  # the refused open did not disturb the owner
    with EventSpool(path) as second:
        assert ids(second.pending()) == ["ev-1", "ev-2"]


_OPEN_CHILD = textwrap.dedent("""
    import json, sys
    from firestore_verify.spool import EventSpool
    try:
        EventSpool(sys.argv[1]).close()
    except Exception as exc:
        print(json.dumps([type(exc).__name__, str(exc)]))
    else:
        print(json.dumps(["opened", ""]))
""")


def _without_root_file_access() -> None:
    """In the child, before exec: drop the capabilities that let root ignore permissions."""
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(24, capability, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def open_elsewhere(path: Path) -> tuple[str, str]:
    """Open ``path`` as a spool in a child process that file permissions apply to.

    Root ignores permissions, so as root the child gives up the capabilities that
    let it (it stays root: the interpreter under /root stays readable).
    """
    as_root = os.geteuid() == 0
    if as_root and not sys.platform.startswith("linux"):
        pytest.skip("needs Linux capabilities to make root obey file permissions")
    child = subprocess.run(
        [sys.executable, "-c", _OPEN_CHILD, str(path)], capture_output=True, text=True,
        timeout=60, preexec_fn=_without_root_file_access if as_root else None)
    assert child.returncode == 0, child.stderr
    kind, message = json.loads(child.stdout)
    return str(kind), str(message)


def test_an_unwritable_directory_is_refused(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        assert open_elsewhere(locked / "events.spool") == (
            "ConfigurationError",
            f"the event spool {str(locked / 'events.spool')!r} is not writable (its directory "
            f"{str(locked)!r} is read-only for this process); fix its permissions or choose "
            "another path.")
    finally:
        locked.chmod(0o755)
    assert list(locked.iterdir()) == []


def test_a_read_only_spool_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "events.spool"
    with EventSpool(path) as spool:
        spool.append(event(1))
    path.chmod(0o444)
    try:
        kind, message = open_elsewhere(path)
    finally:
        path.chmod(0o644)
    assert kind == "ConfigurationError"
    assert message.startswith(f"the event spool {str(path)!r} is not writable (its file ")
    with EventSpool(path) as spool:
        assert ids(spool.pending()) == ["ev-1"]


# -- crash safety --

_CRASH_CHILD = textwrap.dedent("""
    import sys
    from datetime import datetime, timezone
    import firestore_verify as fv
    from firestore_verify.spool import EventSpool

    spool = EventSpool(sys.argv[1])
    print("ready", flush=True)
    unacked = []
    index = 0
    while True:
        event = fv.Verification(id=f"crash-{index}", user_id=1 + index % 50, group_id=-1001,
                                status=fv.Status.SUCCESS, occurred_at=datetime.now(timezone.utc))
        spool.append(event)
        print("appended", event.id, flush=True)  # only once append() has returned
        unacked.append(event.id)
        if index % 7 == 6:  # like the logger: acknowledge a committed batch now and then
            batch, unacked = unacked[:4], unacked[4:]
            print("acknowledging", ",".join(batch), flush=True)
            spool.acknowledge(batch)
            print("acknowledged", ",".join(batch), flush=True)
        index += 1
""")


def test_every_append_that_returned_survives_sigkill(tmp_path: Path) -> None:
    path = tmp_path / "events.spool"
    child = subprocess.Popen([sys.executable, "-c", _CRASH_CHILD, str(path)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        assert child.stdout is not None
        for line in child.stdout:
            if line.endswith("\n"):  # a line cut by the kill proves nothing
                lines.put(line.rstrip("\n"))
        lines.put(None)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    seen: list[str] = []
    appended_before_kill = 0
    try:
        deadline = time.monotonic() + 60
        # Kill it mid-stream, while it is appending as fast as it can.
        while appended_before_kill < 400:
            remaining = deadline - time.monotonic()
            assert remaining > 0, (
                f"the child appended only {appended_before_kill} events in 60 s; stderr: "
                f"{child.stderr.read() if child.poll() is not None and child.stderr else ''}")
            try:
                line = lines.get(timeout=remaining)
            except queue.Empty:
                continue
            assert line is not None, (
                f"the child exited early ({child.wait()}): "
                f"{child.stderr.read() if child.stderr else ''}")
            seen.append(line)
            appended_before_kill += line.startswith("appended ")
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
        reader.join(timeout=30)
        assert not reader.is_alive(), "the child's stdout did not close after SIGKILL"
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    while (line := lines.get_nowait()) is not None:  # printed before the kill, still piped
        seen.append(line)

    assert seen[0] == "ready"
    appended = [line.split()[1] for line in seen if line.startswith("appended ")]
    acknowledged = {i for line in seen if line.startswith("acknowledged ")
                    for i in line.split()[1].split(",")}
    # Killed between "acknowledging" and "acknowledged": those may or may not be gone.
    in_doubt = {i for line in seen if line.startswith("acknowledging ")
                for i in line.split()[1].split(",")} - acknowledged
    with EventSpool(path) as spool:
        pending = ids(spool.pending())
    owed = [i for i in appended if i not in acknowledged and i not in in_doubt]
    missing = [i for i in owed if i not in pending]
    assert not missing, f"{len(missing)} events whose append() returned were lost: {missing[:10]}"
    assert not acknowledged & set(pending), "acknowledged events came back"
    # At most the one append that committed but was killed before it could print.
    extra = [i for i in pending if i not in appended]
    assert extra in ([], [f"crash-{len(appended)}"]), extra
    assert pending == sorted(pending, key=lambda i: int(i.split("-")[1])), "order was lost"
    assert len(appended) >= 400
