"""``firestore-verify`` on bad input: one clear line, a non-zero exit, nothing written.

Each case runs the real command in a subprocess (the installed entry point) with
a bounded timeout, against the emulator project of the ``store`` fixture, then
checks that the project is still empty: bad input must lose nothing and write
nothing. Messages must speak the command line's language (``--from``,
``--project``...), never the library's (``connect(project=...)``), and carry
no traceback.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import pytest

import firestore_verify as fv
from firestore_verify.testing import FirestoreEmulator

EXIT_FAILED, EXIT_USAGE = 1, 2
#: Longest any bad-input run may take; a stale emulator must fail well within it.
TIMEOUT = 30.0
#: Library wording that must not leak into the command line's messages.
LIBRARY_TERMS = ("Traceback", "connect(", "project=", "emulator_host=", "credentials_file=",
                 "open_source(", "migrate(")


def _command() -> list[str]:
    entry = Path(sys.executable).with_name("firestore-verify")
    if entry.is_file():
        return [str(entry)]
    return [sys.executable, "-c", "import sys; from firestore_verify.cli import main; "
            "sys.exit(main())"]


def free_port() -> int:
    """A local port with nothing listening (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def legacy_db(path: Path) -> Path:
    """A minimal database of the legacy bot schema: one owner."""
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE owners (user_id BIGINT PRIMARY KEY, username TEXT)")
    conn.execute("INSERT INTO owners VALUES (1001, 'alice_1')")
    conn.commit()
    conn.close()
    return path


def foreign_db(path: Path) -> Path:
    """A valid SQLite database of some other application."""
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, amount REAL)")
    conn.execute("INSERT INTO invoices VALUES (1, 9.5)")
    conn.commit()
    conn.close()
    return path


def half_schema_db(path: Path) -> Path:
    """The bot's tables, one of them without its key columns (an older, foreign variant)."""
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE owners (user_id BIGINT PRIMARY KEY, username TEXT)")
    conn.execute("INSERT INTO owners VALUES (1001, 'alice_1')")
    conn.execute("CREATE TABLE protected_groups (title TEXT)")
    conn.execute("INSERT INTO protected_groups VALUES ('Chat')")
    conn.commit()
    conn.close()
    return path


def empty_file(path: Path) -> Path:
    path.write_bytes(b"")
    return path


def junk_file(path: Path) -> Path:
    path.write_bytes(b"this is not a database, just text\n" * 20)
    return path


def a_directory(path: Path) -> Path:
    path.mkdir()
    return path


@dataclass(frozen=True)
class Case:
    """One bad invocation and what it must answer."""

    #: The ``--from`` URL, built from a scratch folder.
    source: Callable[[Path], str]
    #: Every piece the message must contain (case-insensitive).
    says: tuple[str, ...]
    exit_code: int = EXIT_USAGE
    command: str = "migrate"
    #: Extra arguments, ``{tmp}`` and ``{stale}`` (a HOST:PORT nobody listens on) filled in.
    extra: tuple[str, ...] = ()
    #: What the message must not contain (secrets from the URL).
    hides: tuple[str, ...] = field(default_factory=tuple)
    #: Pass ``--emulator-host`` of the real emulator (off when ``extra`` sets another).
    real_emulator: bool = True


def _sqlite(build: Callable[[Path], Path], name: str = "bot.db") -> Callable[[Path], str]:
    return lambda tmp: f"sqlite:///{build(tmp / name)}"


def _stopped_postgres(tmp: Path) -> str:
    return f"postgresql://bot:s3cret@127.0.0.1:{free_port()}/bot"


CASES: dict[str, Case] = {
    "malformed url": Case(
        lambda tmp: "postgresql://bot:s3cret@[::1/bot", ("not a valid database URL",),
        hides=("s3cret",)),
    "bad port": Case(lambda tmp: "postgresql://bot@localhost:99999/bot",
                     ("not a valid database URL", "port")),
    "unknown scheme": Case(lambda tmp: "mysql://bot:s3cret@localhost/bot",
                           ("sqlite:///", "postgresql://"), hides=("s3cret",)),
    "no scheme": Case(lambda tmp: str(tmp / "bot.db"), ("sqlite:///",)),
    "missing file": Case(lambda tmp: f"sqlite:///{tmp}/missing.db", ("does not exist",)),
    "a directory": Case(_sqlite(a_directory, "data"), ("is a directory",)),
    "empty file": Case(_sqlite(empty_file), ("none of the legacy bot's tables",)),
    "not sqlite": Case(_sqlite(junk_file), ("as a SQLite database",)),
    "another app's database": Case(_sqlite(foreign_db), ("none of the legacy bot's tables",)),
    "half the schema": Case(_sqlite(half_schema_db),
                            ("not the legacy bot schema", "protected_groups lacks group_id")),
    "check: another app's database": Case(_sqlite(foreign_db),
                                          ("none of the legacy bot's tables",), command="check"),
    "stopped postgresql": Case(_stopped_postgres, ("cannot connect", "refused"),
                               hides=("s3cret",)),
    "bad project id": Case(_sqlite(legacy_db), ("--project", "not valid"),
                           extra=("--project", "my/bot")),
    "bad emulator host": Case(_sqlite(legacy_db), ("HOST:PORT",),
                              extra=("--emulator-host", "localhost"), real_emulator=False),
    "report in a directory": Case(_sqlite(legacy_db), ("--report", "is a directory"),
                                  extra=("--report", "{tmp}")),
    "batch size": Case(_sqlite(legacy_db), ("between 1 and 500",), extra=("--batch-size", "0")),
}
#: A stale ``--emulator-host``: nothing listens there. Must fail in time, not hang.
STALE_CASES: dict[str, Case] = {
    "stale emulator: migrate": Case(
        _sqlite(legacy_db), ("{stale}", "did not answer", "--emulator-host"),
        exit_code=EXIT_FAILED, extra=("--emulator-host", "{stale}"), real_emulator=False),
    "stale emulator: check": Case(
        _sqlite(legacy_db), ("{stale}", "did not answer", "--emulator-host"),
        exit_code=EXIT_FAILED, command="check", extra=("--emulator-host", "{stale}"),
        real_emulator=False),
}


async def run_cli(args: list[str], cwd: Path) -> tuple[int, str, str, float]:
    """Run ``firestore-verify ARGS``; exit code, stdout, stderr and seconds taken."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("PG", "GOOGLE_", "FIREBASE_", "GCLOUD_"))}
    start = time.monotonic()
    # TIMEOUT + slack: the case must finish by itself; this only stops a hung run.
    with anyio.fail_after(TIMEOUT + 15):
        done = await anyio.run_process([*_command(), *args], cwd=cwd, env=env, check=False)
    return (done.returncode, done.stdout.decode(), done.stderr.decode(),
            time.monotonic() - start)


async def collections_of(store: fv.Store) -> list[str]:
    """Every root collection of the store's project (empty: nothing was written)."""
    return [ref.id async for ref in store.client.collections()]


async def check_case(case: Case, store: fv.Store, emulator_host: str, tmp_path: Path) -> None:
    stale = f"127.0.0.1:{free_port()}"
    fill = {"tmp": str(tmp_path), "stale": stale}
    extra = [part.format(**fill) for part in case.extra]
    args = [case.command, "--from", case.source(tmp_path), "--quiet"]
    if "--project" not in extra:
        args += ["--project", store.project]
    if case.real_emulator:
        args += ["--emulator-host", emulator_host]
    if case.command == "migrate" and "--report" not in extra:
        args += ["--report", str(tmp_path / "report.json")]
    args += extra

    code, out, err, seconds = await run_cli(args, cwd=tmp_path)

    shown = f"exit {code} after {seconds:.1f}s\nstdout: {out!r}\nstderr: {err!r}"
    assert code == case.exit_code, shown
    assert seconds < TIMEOUT, shown
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"not one line on stderr:\n{shown}"
    message = lines[0]
    assert message.startswith(f"firestore-verify {case.command}: "), shown
    for piece in case.says:
        assert piece.format(**fill).lower() in message.lower(), f"no {piece!r}:\n{shown}"
    for term in (*LIBRARY_TERMS, *case.hides):
        assert term not in err + out, f"{term!r} in the output:\n{shown}"
    assert out == "", shown
    assert not (tmp_path / "report.json").exists(), "a report was written for a run that failed"
    assert await collections_of(store) == [], "bad input wrote to Firestore"


@pytest.mark.anyio
@pytest.mark.parametrize("name", sorted(CASES))
async def test_bad_input(name: str, store: fv.Store, firestore_emulator: FirestoreEmulator,
                         tmp_path: Path) -> None:
    await check_case(CASES[name], store, firestore_emulator.host, tmp_path)


@pytest.mark.anyio
@pytest.mark.parametrize("name", sorted(STALE_CASES))
async def test_stale_emulator_fails_in_time(name: str, store: fv.Store,
                                            firestore_emulator: FirestoreEmulator,
                                            tmp_path: Path) -> None:
    await check_case(STALE_CASES[name], store, firestore_emulator.host, tmp_path)


@pytest.mark.anyio
async def test_good_input_still_migrates(store: fv.Store, firestore_emulator: FirestoreEmulator,
                                         tmp_path: Path) -> None:
    """The checks above refuse bad input only: the minimal legacy database migrates."""
    db = legacy_db(tmp_path / "bot.db")
    code, out, err, _ = await run_cli(
        ["migrate", "--from", f"sqlite:///{db}", "--project", store.project,
         "--emulator-host", firestore_emulator.host,
         "--quiet", "--report", str(tmp_path / "report.json")], cwd=tmp_path)
    assert code == 0, (out, err)
    owner = await store.owners.get(1001)
    assert owner.username == "alice_1"
