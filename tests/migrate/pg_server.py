"""A throwaway PostgreSQL server for the migration tests.

``initdb`` into a temporary folder, ``postgres`` on a free port of 127.0.0.1
with its socket in that folder, stopped (and the folder removed) at the end,
also when the tests fail or the interpreter exits. PostgreSQL refuses to run
as root, so when the tests run as root (CI containers) the server runs as an
unprivileged user: ``nobody``, or a ``fv-postgres`` system user created with
``useradd`` when ``nobody`` does not exist.

Binaries: ``FIRESTORE_VERIFY_PG_BIN``, else ``pg_config --bindir``, else the
newest ``/usr/lib/postgresql/*/bin``, else ``initdb`` on ``PATH``.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

PG_BIN_ENV = "FIRESTORE_VERIFY_PG_BIN"
SERVICE_USER = "fv-postgres"


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL binaries (or no way to run them) on this machine."""


def find_bindir() -> Path:
    """The folder holding ``initdb`` and ``postgres``."""
    candidates: list[str] = []
    if os.environ.get(PG_BIN_ENV):
        candidates.append(os.environ[PG_BIN_ENV])
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True,
                                 check=True, timeout=10)
            candidates.append(out.stdout.strip())

    def version(path: str) -> tuple[int, ...]:
        digits = Path(path).parent.name
        return tuple(int(p) for p in digits.split(".") if p.isdigit())

    candidates.extend(sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True))
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(str(Path(initdb).parent))
    for folder in candidates:
        if (Path(folder) / "initdb").is_file() and (Path(folder) / "postgres").is_file():
            return Path(folder)
    raise PostgresUnavailable(
        "PostgreSQL server binaries (initdb, postgres) not found: install postgresql "
        f"(e.g. apt-get install postgresql) or set {PG_BIN_ENV} to their folder."
    )


def _service_account() -> pwd.struct_passwd | None:
    """The user to run PostgreSQL as (``None``: the current user, when not root)."""
    if os.geteuid() != 0:
        return None
    for name in ("nobody", SERVICE_USER):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    useradd = shutil.which("useradd")
    if useradd:
        subprocess.run([useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                        SERVICE_USER], capture_output=True, check=False)
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(SERVICE_USER)
    raise PostgresUnavailable(
        "running as root, and no unprivileged user to run PostgreSQL as (no 'nobody', "
        "and useradd failed): create one, or run the tests as a normal user."
    )


def _base_dir(account: pwd.struct_passwd | None) -> str | None:
    """A temp folder the server's user can reach (every ancestor searchable by others)."""
    if account is None:
        return None
    for candidate in (tempfile.gettempdir(), "/tmp", "/var/tmp", "/dev/shm"):
        path = Path(candidate).resolve()
        if path.is_dir() and all(p.stat().st_mode & 0o001 for p in (path, *path.parents)):
            return str(path)
    raise PostgresUnavailable(
        "no temporary folder that an unprivileged user can reach (TMPDIR and /tmp are "
        "private): set TMPDIR to a world-searchable folder."
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PostgresServer:
    """A running throwaway server; :meth:`stop` ends it and removes its files."""

    bindir: Path
    root: Path
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    def url(self, database: str = "postgres") -> str:
        """A ``postgresql://`` URL for ``database`` (user ``postgres``, trust auth)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        """Fast shutdown (SIGINT), killed after 15 s; then remove the data folder."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        shutil.rmtree(self.root, ignore_errors=True)


def start(timeout: float = 30.0) -> PostgresServer:
    """initdb + start a server; raises :class:`PostgresUnavailable` when it cannot."""
    bindir = find_bindir()
    account = _service_account()
    root = Path(tempfile.mkdtemp(prefix="fv-pg-", dir=_base_dir(account)))
    as_user: dict[str, object] = {}
    if account is not None:
        os.chown(root, account.pw_uid, account.pw_gid)
        as_user = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "TZ": "UTC",
           "HOME": str(root)}
    data = root / "data"
    init = subprocess.run(
        [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
         "--no-sync"],
        capture_output=True, text=True, env=env, cwd=root, check=False, **as_user,  # type: ignore[call-overload]
    )
    if init.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        raise PostgresUnavailable(f"initdb failed ({init.returncode}): {init.stderr.strip()}")
    port = _free_port()
    log = root / "postgres.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [str(bindir / "postgres"), "-D", str(data), "-p", str(port), "-k", str(root),
             "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
             "-c", "synchronous_commit=off", "-c", "full_page_writes=off"],
            stdout=out, stderr=subprocess.STDOUT, env=env, cwd=root,
            start_new_session=True, **as_user,  # type: ignore[call-overload]
        )
    server = PostgresServer(bindir=bindir, root=root, port=port, process=process, log=log)
    atexit.register(server.stop)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            server.stop()
            raise RuntimeError(f"postgres exited ({process.returncode}): {log.read_text()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            ready = subprocess.run([str(bindir / "pg_isready"), "-h", "127.0.0.1", "-p",
                                    str(port)], capture_output=True, check=False)
            if ready.returncode == 0:
                return server
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"postgres did not become ready in {timeout}s: {log.read_text()}")
