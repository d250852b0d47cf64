"""Find, start and stop the official Cloud Firestore emulator.

The emulator is a Java program shipped with the Google Cloud SDK (component
``cloud-firestore-emulator``) and with firebase-tools. ``FirestoreEmulator``
runs it on a free port of ``127.0.0.1`` for as long as a test session (or any
``with`` block) needs it, and always stops it again: on ``stop()``,
when the object is garbage collected, and when the interpreter exits.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

from firestore_verify.errors import ConfigurationError, FirestoreVerifyError

__all__ = [
    "JAR_ENV_VAR",
    "EmulatorError",
    "EmulatorNotFoundError",
    "FirestoreEmulator",
    "JavaNotFoundError",
    "find_emulator_jar",
    "find_java",
]

JAR_ENV_VAR = "FIRESTORE_EMULATOR_JAR"
"""Environment variable naming the emulator jar explicitly; it wins over any search."""

SDK_JAR_PATH = Path("platform", "cloud-firestore-emulator", "cloud-firestore-emulator.jar")
"""Where the jar lives inside a Google Cloud SDK installation."""

SYSTEM_SDK_ROOTS: tuple[Path, ...] = (
    Path("/usr/lib/google-cloud-sdk"),
    Path("/usr/share/google-cloud-sdk"),
    Path("/opt/google-cloud-sdk"),
)
"""Google Cloud SDK roots tried when neither the environment nor ``gcloud`` names one.
(``~/google-cloud-sdk`` is tried too, relative to the current home directory.)
"""

_MAIN_CLASS = "com.google.cloud.datastore.emulator.firestore.CloudFirestore"
_LOCAL_HOST = "127.0.0.1"
_INSTALL_HINT = (
    "Install it with one of: `gcloud components install cloud-firestore-emulator`; "
    "`apt-get install google-cloud-cli-firestore-emulator` (Debian/Ubuntu with the "
    "Google Cloud apt repository); `firebase setup:emulators:firestore` (firebase-tools). "
    f"Or set {JAR_ENV_VAR} to the path of cloud-firestore-emulator.jar."
)


class EmulatorNotFoundError(ConfigurationError):
    """The Cloud Firestore emulator jar is not installed where we can find it."""


class JavaNotFoundError(ConfigurationError):
    """No Java runtime to run the emulator with."""


class EmulatorError(FirestoreVerifyError):
    """The emulator failed to start, died, or refused a request."""


def _home(env: Mapping[str, str]) -> Path | None:
    home = env.get("HOME")
    if home:
        return Path(home)
    try:
        return Path.home()
    except RuntimeError:  # no home directory at all
        return None


def _sdk_root_from_gcloud(env: Mapping[str, str]) -> list[Path]:
    """Guess SDK roots from a ``gcloud`` on ``PATH`` (symlink first, then ``gcloud info``)."""
    gcloud = shutil.which("gcloud", path=env.get("PATH", ""))
    if gcloud is None:
        return []
    # <root>/bin/gcloud, usually reached through a symlink such as /usr/bin/gcloud.
    roots = [Path(gcloud).resolve().parent.parent]
    if (roots[0] / SDK_JAR_PATH).is_file():
        return roots
    try:
        out = subprocess.run(
            [gcloud, "info", "--format=value(installation.sdk_root)"],
            capture_output=True,
            text=True,
            timeout=30,
            env=dict(env),
            check=False,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        out = ""
    if out:
        roots.append(Path(out))
    return roots


def _firebase_tools_jar(home: Path | None) -> Path | None:
    """Return the newest ``cloud-firestore-emulator-v*.jar`` in the firebase-tools cache."""
    if home is None:
        return None
    cache = home / ".cache" / "firebase" / "emulators"
    jars = [p for p in cache.glob("cloud-firestore-emulator-v*.jar") if p.is_file()]
    if not jars:
        return None

    def version(path: Path) -> tuple[int, ...]:
        match = re.search(r"-v(\d+(?:\.\d+)*)\.jar$", path.name)
        return tuple(int(part) for part in match.group(1).split(".")) if match else ()

    return max(jars, key=lambda p: (version(p), p.name))


def find_emulator_jar(env: Mapping[str, str] | None = None) -> Path:
    """Locate ``cloud-firestore-emulator.jar``.

    Looks, in order, at:

    1. ``FIRESTORE_EMULATOR_JAR`` (if set, it must exist: no silent fallback);
    2. a Google Cloud SDK root: ``CLOUDSDK_ROOT_DIR``, ``GCLOUD_SDK_ROOT``, the SDK of
       the ``gcloud`` on ``PATH``, then ``/usr/lib/google-cloud-sdk``,
       ``/usr/share/google-cloud-sdk``, ``/opt/google-cloud-sdk`` and
       ``~/google-cloud-sdk``;
    3. the firebase-tools cache, ``~/.cache/firebase/emulators/cloud-firestore-emulator-v*.jar``
       (the newest version).

    Args:
        env: Environment to read instead of ``os.environ`` (``HOME`` and ``PATH``
            are read from it too).

    Raises:
        EmulatorNotFoundError: when no jar is found; the message says how to install one.

    """
    env = os.environ if env is None else env
    explicit = env.get(JAR_ENV_VAR)
    if explicit:
        path = Path(explicit).expanduser()
        if path.is_file():
            return path
        raise EmulatorNotFoundError(
            f"{JAR_ENV_VAR} is set to {explicit!r}, which is not a file: point it at "
            "cloud-firestore-emulator.jar, or unset it to search the Google Cloud SDK "
            "and the firebase-tools cache."
        )

    home = _home(env)
    roots = [Path(env[var]) for var in ("CLOUDSDK_ROOT_DIR", "GCLOUD_SDK_ROOT") if env.get(var)]
    roots += _sdk_root_from_gcloud(env)
    roots += SYSTEM_SDK_ROOTS
    if home is not None:
        roots.append(home / "google-cloud-sdk")
    for root in roots:
        candidate = root.expanduser() / SDK_JAR_PATH
        if candidate.is_file():
            return candidate

    cached = _firebase_tools_jar(home)
    if cached is not None:
        return cached

    looked = ", ".join(dict.fromkeys(str(r / SDK_JAR_PATH) for r in roots))
    cache = f"{home}/.cache/firebase/emulators/" if home else "~/.cache/firebase/emulators/"
    raise EmulatorNotFoundError(
        f"the Cloud Firestore emulator is not installed (looked at {looked} and "
        f"{cache}cloud-firestore-emulator-v*.jar). {_INSTALL_HINT}"
    )


def find_java(env: Mapping[str, str] | None = None) -> Path:
    """Locate the ``java`` executable: ``$JAVA_HOME/bin/java`` first, then ``PATH``.

    Raises:
        JavaNotFoundError: when there is no Java; the message says what to install.

    """
    env = os.environ if env is None else env
    java_home = env.get("JAVA_HOME")
    if java_home:
        for name in ("java", "java.exe"):
            candidate = Path(java_home) / "bin" / name
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return candidate
    found = shutil.which("java", path=env.get("PATH", ""))
    if found is not None:
        return Path(found)
    where = f"JAVA_HOME={java_home!r} has no bin/java and " if java_home else ""
    raise JavaNotFoundError(
        f"{where}no `java` is on PATH: the Cloud Firestore emulator needs a Java runtime "
        "(11 or newer, 17+ recommended). Install one (e.g. `apt-get install "
        "openjdk-17-jre-headless`, `brew install openjdk@17`) or set JAVA_HOME."
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((_LOCAL_HOST, 0))
        port: int = sock.getsockname()[1]
        return port


# Direct connections only: a proxy from the environment must never see emulator traffic.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _http(method: str, url: str, timeout: float) -> tuple[int, str]:
    request = urllib.request.Request(url, method=method)
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            status: int = response.status
            return status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")


def _is_ready(host: str, timeout: float = 1.0) -> bool:
    try:
        status, body = _http("GET", f"http://{host}/", timeout)
    except (OSError, ValueError):
        return False
    return status == 200 and body.strip() == "Ok"


def _terminate(process: subprocess.Popen[bytes], log_path: Path | None) -> None:
    """Stop ``process`` (TERM, then KILL) and remove its log. Safe to call twice."""
    try:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
    except (OSError, subprocess.SubprocessError):  # already reaped, or unkillable
        pass
    if log_path is not None:
        with contextlib.suppress(OSError):
            log_path.unlink()


def _tail(path: Path | None, lines: int = 40) -> str:
    if path is None:
        return "(no log)"
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(log unreadable)"
    return "\n".join(text.splitlines()[-lines:]) or "(log empty)"


class FirestoreEmulator:
    """A Cloud Firestore emulator process on ``127.0.0.1``.

    Use it as a context manager, or call ``start()`` and ``stop()``. The process
    is stopped by ``stop()``, and also, if that is never called, when this object
    is garbage collected or the interpreter exits.

    Examples:
        ```python
        with FirestoreEmulator() as emulator:
            store = await connect(project="test-1", emulator_host=emulator.host)
        ```

    Args:
        jar: The emulator jar; found with ``find_emulator_jar`` when omitted.
        java: The ``java`` executable; found with ``find_java`` when omitted.
        rules: A ``firestore.rules`` file to load. Without one the emulator allows
            everything (the admin SDK bypasses rules anyway).
        port: Port to listen on; a free one when omitted.
        startup_timeout: Seconds to wait for the emulator to answer before giving up.
        extra_args: More command-line arguments for the emulator.
        env: Environment used to find the jar and Java (``os.environ`` when omitted).

    """

    def __init__(
        self,
        *,
        jar: str | os.PathLike[str] | None = None,
        java: str | os.PathLike[str] | None = None,
        rules: str | os.PathLike[str] | None = None,
        port: int | None = None,
        startup_timeout: float = 60.0,
        extra_args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
    ) -> None:
        self._jar = Path(jar) if jar is not None else None
        self._java = Path(java) if java is not None else None
        self._rules = Path(rules) if rules is not None else None
        self._requested_port = port
        self.startup_timeout = startup_timeout
        self._extra_args = tuple(extra_args)
        self._env = env
        self._host: str | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._log_path: Path | None = None
        self._finalizer: (
            weakref.finalize[[subprocess.Popen[bytes], Path | None], FirestoreEmulator] | None
        ) = None
        self._external = False

    @classmethod
    def attach(cls, host: str, *, timeout: float = 10.0) -> FirestoreEmulator:
        """Use an emulator that is already running at ``host`` (``HOST:PORT``).

        ``stop()`` leaves that emulator running: it is not ours to stop.

        Raises:
            EmulatorError: when nothing answers like an emulator at ``host``.

        """
        emulator = cls()
        emulator._external = True
        deadline = time.monotonic() + timeout
        while not _is_ready(host):
            if time.monotonic() >= deadline:
                raise EmulatorError(
                    f"no Firestore emulator answers at http://{host}/ (waited {timeout:g}s): "
                    "start one (e.g. `gcloud emulators firestore start "
                    f"--host-port={host}`) or drop the option to let the plugin start its own."
                )
            time.sleep(0.1)
        emulator._host = host
        return emulator

    @property
    def running(self) -> bool:
        """Whether the emulator is started (or attached) and its process is alive."""
        if self._external:
            return self._host is not None
        return self._process is not None and self._process.poll() is None

    @property
    def host(self) -> str:
        """``HOST:PORT`` to give ``connect(emulator_host=...)`` or ``FIRESTORE_EMULATOR_HOST``.

        Raises:
            EmulatorError: when the emulator is not started.

        """
        if self._host is None:
            raise EmulatorError("the emulator is not running: call start() first.")
        return self._host

    @property
    def log_path(self) -> Path | None:
        """The file the emulator's output goes to while it runs (removed on stop)."""
        return self._log_path

    @property
    def pid(self) -> int | None:
        """The emulator's process id, or ``None`` when not started by us."""
        return self._process.pid if self._process is not None else None

    def command(self, port: int) -> list[str]:
        """Build the command line that starts the emulator on ``port``.

        Raises:
            EmulatorNotFoundError: when the jar cannot be found.
            JavaNotFoundError: when Java cannot be found.

        """
        jar = self._jar if self._jar is not None else find_emulator_jar(self._env)
        if not jar.is_file():
            raise EmulatorNotFoundError(
                f"emulator jar {str(jar)!r} does not exist. {_INSTALL_HINT}"
            )
        java = self._java if self._java is not None else find_java(self._env)
        cmd = [
            str(java),
            "-Duser.language=en",
            "-cp",
            str(jar),
            _MAIN_CLASS,
            "start",
            f"--host={_LOCAL_HOST}",
            f"--port={port}",
        ]
        if self._rules is not None:
            if not self._rules.is_file():
                raise ConfigurationError(f"rules file {str(self._rules)!r} does not exist.")
            cmd.append(f"--rules={self._rules}")
        cmd += self._extra_args
        return cmd

    def start(self) -> FirestoreEmulator:
        """Start the emulator and wait until it answers (at most ``startup_timeout`` seconds).

        Returns:
            ``self``, running.

        Raises:
            EmulatorNotFoundError: when the jar cannot be found.
            JavaNotFoundError: when Java cannot be found.
            EmulatorError: when the emulator exits or does not answer in time; the
                message ends with the tail of its log.

        """
        if self.running:
            return self
        # An automatically chosen port may be taken between choosing and binding: retry.
        attempts = 1 if self._requested_port is not None else 3
        for attempt in range(attempts):
            port = self._requested_port if self._requested_port is not None else _free_port()
            try:
                self._launch(port)
                return self
            except EmulatorError:
                log = _tail(self._log_path)
                self.stop()
                if attempt + 1 < attempts and "Address already in use" in log:
                    continue
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _launch(self, port: int) -> None:
        cmd = self.command(port)
        fd, log_name = tempfile.mkstemp(prefix="firestore-emulator-", suffix=".log")
        self._log_path = Path(log_name)
        with os.fdopen(fd, "wb") as log:
            try:
                self._process = subprocess.Popen(
                    cmd,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    # Its own session: a Ctrl-C meant for the program that started it
                    # must not kill it before that program has flushed and stopped.
                    start_new_session=True,
                )
            except OSError as exc:
                raise EmulatorError(
                    f"could not run {cmd[0]!r} ({exc}): check that it is a working Java "
                    "runtime, or set JAVA_HOME to one."
                ) from exc
        # Stops the process at stop(), on garbage collection and at interpreter exit.
        self._finalizer = weakref.finalize(self, _terminate, self._process, self._log_path)
        host = f"{_LOCAL_HOST}:{port}"
        deadline = time.monotonic() + self.startup_timeout
        while True:
            code = self._process.poll()
            if code is not None:
                raise EmulatorError(
                    f"the Firestore emulator exited with code {code} before it was ready "
                    f"({' '.join(cmd)}). Last log lines:\n{_tail(self._log_path)}"
                )
            if _is_ready(host, timeout=0.5):
                break
            if time.monotonic() >= deadline:
                raise EmulatorError(
                    f"the Firestore emulator did not answer at http://{host}/ within "
                    f"{self.startup_timeout:g}s ({' '.join(cmd)}). Last log lines:\n"
                    f"{_tail(self._log_path)}"
                )
            time.sleep(0.1)
        self._host = host

    def stop(self) -> None:
        """Stop the emulator (terminate, then kill after 10s). Does nothing if not running."""
        if self._finalizer is not None:
            self._finalizer()  # terminates the process and removes the log
        elif self._log_path is not None:  # the process never started
            with contextlib.suppress(OSError):
                self._log_path.unlink()
        self._finalizer = None
        self._process = None
        self._log_path = None
        self._host = None
        self._external = False

    def wipe(self, project: str, database: str = "(default)") -> None:
        """Delete every document of ``project`` (one database) in the emulator.

        Raises:
            EmulatorError: when the emulator refuses or is not running.

        """
        quoted_project = urllib.parse.quote(project, safe="")
        quoted_database = urllib.parse.quote(database, safe="()")
        url = (
            f"http://{self.host}/emulator/v1/projects/{quoted_project}"
            f"/databases/{quoted_database}/documents"
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                status, body = _http("DELETE", url, timeout=30)
            except OSError as exc:
                raise EmulatorError(
                    f"could not wipe project {project!r} at {url}: {exc}") from exc
            # 409: a transaction abandoned by the test still holds locks (they expire);
            # 499: the emulator was still cancelling the test's listeners. Both pass.
            if status not in (409, 499) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        if status != 200:
            raise EmulatorError(
                f"wiping project {project!r} failed with HTTP {status}: {body.strip()[:500]}"
            )

    def __enter__(self) -> FirestoreEmulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"host={self._host!r}" if self._host else "stopped"
        kind = ", attached" if self._external else ""
        return f"FirestoreEmulator({state}{kind})"
