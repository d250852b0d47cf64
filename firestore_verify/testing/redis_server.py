"""Start and stop a throwaway ``redis-server`` for tests: a free port, no persistence.

``RedisServer`` runs the real server (Debian's ``redis-server`` package, or any
``redis-server`` on ``PATH``) on ``127.0.0.1`` with snapshots and the append-only
file turned off, in a temporary directory. `RedisServer.stop()` and
`RedisServer.start()` return only once the server is gone or answers ``PING``,
so a test can take Redis away and bring it back on the same port deterministically::

    with RedisServer() as redis:
        cache = RedisMembershipCache.from_url(redis.url)
        ...
        redis.stop()     # refused from now on
        redis.start()    # the same port, empty, answering
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import weakref
from pathlib import Path
from types import TracebackType

from firestore_verify.errors import ConfigurationError, FirestoreVerifyError

__all__ = ["BINARY_ENV_VAR", "RedisNotFoundError", "RedisServer", "RedisServerError",
           "find_redis_server"]

BINARY_ENV_VAR = "FIRESTORE_VERIFY_REDIS_SERVER"
"""Environment variable naming the ``redis-server`` binary explicitly."""

_HOST = "127.0.0.1"
_FALLBACK_PATHS = (Path("/usr/bin/redis-server"), Path("/usr/local/bin/redis-server"))


class RedisNotFoundError(ConfigurationError):
    """No ``redis-server`` binary to run."""


class RedisServerError(FirestoreVerifyError):
    """``redis-server`` failed to start or to stop."""


def find_redis_server(env: dict[str, str] | None = None) -> Path:
    """The ``redis-server`` to run: ``FIRESTORE_VERIFY_REDIS_SERVER``, ``PATH``, then /usr/bin."""
    env = dict(os.environ) if env is None else env
    explicit = env.get(BINARY_ENV_VAR, "").strip()
    if explicit:
        path = Path(explicit)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise RedisNotFoundError(f"{BINARY_ENV_VAR}={explicit} is not an executable file")
        return path
    found = shutil.which("redis-server", path=env.get("PATH"))
    if found:
        return Path(found)
    for path in _FALLBACK_PATHS:
        if path.is_file() and os.access(path, os.X_OK):
            return path
    raise RedisNotFoundError(
        "redis-server is not installed: `apt-get install redis-server` (Debian/Ubuntu; "
        f"`make test` does it), `brew install redis`, or set {BINARY_ENV_VAR}")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((_HOST, 0))
        return int(probe.getsockname()[1])


def _answers_ping(port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((_HOST, port), timeout=timeout) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def _terminate(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)


class RedisServer:
    """A ``redis-server`` on ``127.0.0.1``, started by `start()`, stopped by `stop()`.

    Args:
        port: The port to listen on; a free one by default. It stays the same across
            `stop()` and `start()`, so clients reconnect to the same URL.
        binary: The ``redis-server`` to run (default: `find_redis_server()`).
        timeout: Seconds to wait for the server to answer ``PING`` or to exit.

    The server is killed when the object is garbage collected or the interpreter
    exits, should the caller forget `stop()`.
    """

    def __init__(self, *, port: int | None = None, binary: str | os.PathLike[str] | None = None,
                 timeout: float = 10.0) -> None:
        self.binary = Path(binary) if binary is not None else find_redis_server()
        """The ``redis-server`` executable."""
        self.port = port or _free_port()
        """The port the server listens on."""
        self.host = _HOST
        """``127.0.0.1``."""
        self.timeout = timeout
        """Seconds `start()` and `stop()` wait for the server."""
        self._process: subprocess.Popen[bytes] | None = None
        self._directory: tempfile.TemporaryDirectory[str] | None = None
        self._finalizer: weakref.finalize[[subprocess.Popen[bytes]], RedisServer] | None = None

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0``."""
        return f"redis://{self.host}:{self.port}/0"

    @property
    def running(self) -> bool:
        """The server process is alive."""
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs."""
        return self._process.pid if self.running and self._process is not None else None

    def start(self) -> RedisServer:
        """Start the server and wait until it answers ``PING`` (returns ``self``).

        Raises `RedisServerError`, with the server's log, if it exits or does
        not answer within ``timeout``.
        """
        if self.running:
            raise RedisServerError(f"redis-server is already running on port {self.port}")
        self._directory = tempfile.TemporaryDirectory(prefix="fv-redis-")
        folder = Path(self._directory.name)
        log_path = folder / "redis.log"
        self._process = subprocess.Popen(
            [str(self.binary), "--port", str(self.port), "--bind", self.host,
             "--save", "", "--appendonly", "no", "--dir", str(folder),
             "--logfile", str(log_path), "--daemonize", "no"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        self._finalizer = weakref.finalize(self, _terminate, self._process)
        deadline = time.monotonic() + self.timeout
        while not _answers_ping(self.port):
            if self._process.poll() is not None or time.monotonic() > deadline:
                log = log_path.read_text(errors="replace")[-4000:] if log_path.exists() else ""
                self.stop()
                raise RedisServerError(
                    f"redis-server did not answer PING on {self.host}:{self.port} within "
                    f"{self.timeout} s (port taken?); its log:\n{log}")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Stop the server and wait until it has exited (connections are refused then)."""
        process, self._process = self._process, None
        if process is not None:
            _terminate(process, self.timeout)
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        if self._directory is not None:
            self._directory.cleanup()
            self._directory = None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()
