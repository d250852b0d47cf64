"""Find, start and stop the Firebase Auth emulator, and drive it from tests.

The Auth emulator ships with npm ``firebase-tools`` and runs on Node.js (no
Java). `AuthEmulator` starts it on a free port of ``127.0.0.1`` with a
generated ``firebase.json`` in a temporary directory, waits until it answers,
and always stops it again (its whole process group): on ``stop()``, when the
object is garbage collected, and when the interpreter exits.

Its test helpers (``sign_up``, ``sign_in``, ``oob_codes``...) call the
emulator's REST API the way a browser's Firebase JS SDK would, so tests get
real ID tokens without a browser. Every project id must start with ``demo-``:
the emulator's tokens are unsigned, and `Authenticator`
only trusts them for ``demo-`` projects.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.parse
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from firestore_verify.errors import ConfigurationError
from firestore_verify.testing.emulator import EmulatorError, _free_port, _tail

__all__ = [
    "API_KEY",
    "FIREBASE_BIN_ENV_VAR",
    "AuthEmulator",
    "FirebaseToolsNotFoundError",
    "OobCode",
    "find_firebase_bin",
]

FIREBASE_BIN_ENV_VAR = "FIRESTORE_VERIFY_FIREBASE_BIN"
"""Environment variable naming the ``firebase`` executable explicitly; it wins over any search."""

API_KEY = "fake-api-key"
"""The API key the helpers send; the emulator accepts any key."""

_LOCAL_HOST = "127.0.0.1"
_OWNER_TOKEN = "owner"
"""The bearer token the emulator treats as an admin (what firebase-admin sends to it)."""
_TOOLKIT = "/identitytoolkit.googleapis.com/v1"
_INSTALL_HINT = (
    "Install firebase-tools with `npm install --save-dev firebase-tools` (it needs "
    f"Node.js 20 or newer), or set {FIREBASE_BIN_ENV_VAR} to the path of the "
    "`firebase` executable."
)
_PORT_TAKEN = ("is not open on", "EADDRINUSE", "already in use")
"""What firebase-tools logs when a port it wants is taken (retried with other ports)."""


class FirebaseToolsNotFoundError(ConfigurationError):
    """The ``firebase`` command of firebase-tools (or the Node.js it needs) is missing."""


@dataclass(frozen=True)
class OobCode:
    """An out-of-band code the emulator "sent" (password reset, email verification...)."""

    email: str
    """Who it was sent to."""
    request_type: str
    """``PASSWORD_RESET``, ``VERIFY_EMAIL``, ``EMAIL_SIGNIN`` or ``VERIFY_AND_CHANGE_EMAIL``."""
    code: str
    """The code itself, as the link carries it (``oobCode=...``)."""
    link: str
    """The link the email would contain."""


def _needs_node(path: Path) -> bool:
    """Whether ``path`` is a script run by ``node`` (its shebang names node)."""
    try:
        with path.open("rb") as file:
            first = file.readline(200)
    except OSError:
        return False
    return first.startswith(b"#!") and b"node" in first


def find_firebase_bin(
    env: Mapping[str, str] | None = None, *, cwd: str | os.PathLike[str] | None = None
) -> Path:
    """Locate the ``firebase`` executable of firebase-tools.

    Looks, in order, at:

    1. ``FIRESTORE_VERIFY_FIREBASE_BIN`` (if set, it must exist: no silent fallback);
    2. ``node_modules/.bin/firebase`` in ``cwd`` and each of its parents (a
       project-local ``npm install --save-dev firebase-tools``);
    3. ``firebase`` on ``PATH``.

    When the executable is a Node.js script, ``node`` must be on ``PATH`` too.

    Args:
        env: Environment to read instead of ``os.environ`` (``PATH`` is read from it too).
        cwd: Where the upward search starts (the current directory when omitted).

    Raises:
        FirebaseToolsNotFoundError: when nothing is found, or Node.js is missing; the
            message says how to install them.

    """
    env = os.environ if env is None else env
    path_var = env.get("PATH", "")
    explicit = env.get(FIREBASE_BIN_ENV_VAR)
    found: Path | None = None
    if explicit:
        found = Path(explicit).expanduser()
        if not (found.is_file() and os.access(found, os.X_OK)):
            raise FirebaseToolsNotFoundError(
                f"{FIREBASE_BIN_ENV_VAR} is set to {explicit!r}, which is not an executable "
                "file: point it at firebase-tools' `firebase`, or unset it to search "
                "node_modules/.bin and PATH."
            )
    else:
        start = Path(cwd if cwd is not None else Path.cwd()).resolve()
        for directory in (start, *start.parents):
            candidate = directory / "node_modules" / ".bin" / "firebase"
            if candidate.is_file() and os.access(candidate, os.X_OK):
                found = candidate
                break
        if found is None:
            on_path = shutil.which("firebase", path=path_var)
            found = Path(on_path) if on_path is not None else None
    if found is None:
        raise FirebaseToolsNotFoundError(
            "firebase-tools is not installed (looked for node_modules/.bin/firebase from "
            f"the current directory upwards, and for `firebase` on PATH). {_INSTALL_HINT}"
        )
    if _needs_node(found.resolve()) and shutil.which("node", path=path_var) is None:
        raise FirebaseToolsNotFoundError(
            f"{str(found)!r} is a Node.js script but no `node` is on PATH: install "
            "Node.js 20 or newer (e.g. from https://nodejs.org or `apt-get install nodejs`)."
        )
    return found


def _terminate(process: subprocess.Popen[bytes], workdir: Path | None) -> None:
    """Stop ``process`` and its whole group (TERM, then KILL), remove ``workdir``. Idempotent."""
    # Started with start_new_session=True: the process leads a group of the same id.
    pgid = process.pid
    try:
        if process.poll() is None:
            os.killpg(pgid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
    except (OSError, subprocess.SubprocessError):  # already gone, or unkillable
        pass
    # Anything firebase-tools started in its group goes too (ESRCH when none is left).
    with contextlib.suppress(OSError):
        os.killpg(pgid, signal.SIGKILL)
    if workdir is not None:
        shutil.rmtree(workdir, ignore_errors=True)


def _b64(data: Mapping[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class AuthEmulator:
    """A Firebase Auth emulator (firebase-tools) on ``127.0.0.1``.

    Use it as a context manager, or call ``start()`` and ``stop()``. The
    emulator accepts any number of ``demo-*`` projects at once (it runs with
    ``singleProjectMode: false``); each helper takes the project it works on.

    Examples:
        ```python
        with AuthEmulator() as emulator:
            uid, id_token = emulator.sign_up("demo-app", "ada@example.com", "secret-pw")
        ```

    Args:
        firebase_bin: The ``firebase`` executable; found with ``find_firebase_bin``
            when omitted.
        project: The emulator's default project (must start with ``demo-``).
        port: Port to listen on; a free one when omitted.
        startup_timeout: Seconds to wait for the emulator to answer before giving up.
        extra_args: More command-line arguments for ``firebase emulators:start``.
        env: Environment used to find and run firebase-tools (``os.environ`` when omitted).

    Raises:
        ConfigurationError: when ``project`` does not start with ``demo-``.

    """

    def __init__(
        self,
        *,
        firebase_bin: str | os.PathLike[str] | None = None,
        project: str = "demo-firestore-verify",
        port: int | None = None,
        startup_timeout: float = 90.0,
        extra_args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
    ) -> None:
        _require_demo(project)
        self._bin = Path(firebase_bin) if firebase_bin is not None else None
        self.project = project
        """The emulator's default project."""
        self._requested_port = port
        self.startup_timeout = startup_timeout
        """Seconds ``start()`` waits for the emulator to answer."""
        self._extra_args = tuple(extra_args)
        self._env = env
        self._host: str | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._workdir: Path | None = None
        self._finalizer: (
            weakref.finalize[[subprocess.Popen[bytes], Path | None], AuthEmulator] | None
        ) = None
        self._external = False
        self._http: httpx.Client | None = None

    @classmethod
    def attach(cls, host: str, *, timeout: float = 10.0) -> AuthEmulator:
        """Use an Auth emulator that is already running at ``host`` (``HOST:PORT``).

        ``stop()`` leaves that emulator running: it is not ours to stop.

        Raises:
            EmulatorError: when nothing answers like an Auth emulator at ``host``.

        """
        emulator = cls()
        deadline = time.monotonic() + timeout
        while not _is_ready(host):
            if time.monotonic() >= deadline:
                raise EmulatorError(
                    f"no Firebase Auth emulator answers at http://{host}/ (waited "
                    f"{timeout:g}s): start one (`firebase emulators:start --only auth`) or "
                    "drop the option to let the plugin start its own."
                )
            time.sleep(0.1)
        emulator._external = True
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
        """``HOST:PORT``, for ``Authenticator(emulator_host=...)`` or the environment.

        Raises:
            EmulatorError: when the emulator is not started.

        """
        if self._host is None:
            raise EmulatorError("the Auth emulator is not running: call start() first.")
        return self._host

    @property
    def pid(self) -> int | None:
        """The process id of ``firebase emulators:start``, or ``None`` when not started by us."""
        return self._process.pid if self._process is not None else None

    @property
    def log_path(self) -> Path | None:
        """The file the emulator's output goes to while it runs (removed on stop)."""
        return self._workdir / "emulator.log" if self._workdir is not None else None

    def config(self, port: int, hub_port: int, logging_port: int) -> dict[str, Any]:
        """The ``firebase.json`` the emulator is started with."""
        return {
            "emulators": {
                # Accept requests for every project id, not only the default one.
                "singleProjectMode": False,
                "auth": {"host": _LOCAL_HOST, "port": port},
                "hub": {"host": _LOCAL_HOST, "port": hub_port},
                "logging": {"host": _LOCAL_HOST, "port": logging_port},
                "ui": {"enabled": False},
            }
        }

    def _firebase_bin(self) -> Path:
        firebase = self._bin if self._bin is not None else find_firebase_bin(self._env)
        if not firebase.is_file():
            raise FirebaseToolsNotFoundError(
                f"firebase executable {str(firebase)!r} does not exist. {_INSTALL_HINT}"
            )
        return firebase

    def command(self, config_path: Path) -> list[str]:
        """Build the command line that starts the emulator with ``config_path``.

        Raises:
            FirebaseToolsNotFoundError: when firebase-tools cannot be found.

        """
        firebase = self._firebase_bin()
        return [
            str(firebase),
            "emulators:start",
            "--only",
            "auth",
            "--project",
            self.project,
            "--config",
            str(config_path),
            *self._extra_args,
        ]

    def start(self) -> AuthEmulator:
        """Start the emulator and wait until it answers (at most ``startup_timeout`` seconds).

        Returns:
            ``self``, running.

        Raises:
            FirebaseToolsNotFoundError: when firebase-tools (or Node.js) cannot be found.
            EmulatorError: when the emulator exits or does not answer in time; the
                message ends with the tail of its log.

        """
        if self.running:
            return self
        # Automatically chosen ports may be taken between choosing and binding: retry.
        attempts = 1 if self._requested_port is not None else 3
        for attempt in range(attempts):
            try:
                self._launch()
                return self
            except EmulatorError:
                log = _tail(self.log_path)
                self.stop()
                if attempt + 1 < attempts and any(sign in log for sign in _PORT_TAKEN):
                    continue
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _launch(self) -> None:
        self._firebase_bin()  # fail before creating anything
        port = self._requested_port if self._requested_port is not None else _free_port()
        workdir = Path(tempfile.mkdtemp(prefix="firebase-auth-emulator-"))
        self._workdir = workdir
        config_path = workdir / "firebase.json"
        config = self.config(port, _free_port(), _free_port())
        config_path.write_text(json.dumps(config, indent=2), encoding="utf-8")
        cmd = self.command(config_path)
        child_env = dict(os.environ if self._env is None else self._env)
        # The hub's locator file and other scratch files land in the work directory.
        child_env.update({"TMPDIR": str(workdir), "NO_UPDATE_NOTIFIER": "1"})
        with (workdir / "emulator.log").open("wb") as log:
            try:
                self._process = subprocess.Popen(
                    cmd,
                    cwd=workdir,  # firebase-debug.log goes here
                    env=child_env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    # Its own session: a Ctrl-C meant for the program that started it must
                    # not kill it early, and stop() can end the whole group at once.
                    start_new_session=True,
                )
            except OSError as exc:
                raise EmulatorError(
                    f"could not run {cmd[0]!r} ({exc}): check that firebase-tools and "
                    f"Node.js work (`{cmd[0]} --version`)."
                ) from exc
        self._finalizer = weakref.finalize(self, _terminate, self._process, workdir)
        host = f"{_LOCAL_HOST}:{port}"
        deadline = time.monotonic() + self.startup_timeout
        while True:
            code = self._process.poll()
            if code is not None:
                raise EmulatorError(
                    f"the Firebase Auth emulator exited with code {code} before it answered "
                    f"at http://{host}/ ({' '.join(cmd)}). Last log lines:\n"
                    f"{_tail(self.log_path)}"
                )
            if _is_ready(host, timeout=0.5):
                break
            if time.monotonic() >= deadline:
                raise EmulatorError(
                    f"the Firebase Auth emulator did not answer at http://{host}/ within "
                    f"{self.startup_timeout:g}s ({' '.join(cmd)}). Last log lines:\n"
                    f"{_tail(self.log_path)}"
                )
            time.sleep(0.1)
        self._host = host

    def stop(self) -> None:
        """Stop the emulator and its process group; remove its files. Safe to call twice."""
        if self._http is not None:
            self._http.close()
            self._http = None
        if self._finalizer is not None:
            self._finalizer()  # terminates the process group and removes the work dir
        elif self._workdir is not None:  # the process never started
            shutil.rmtree(self._workdir, ignore_errors=True)
        self._finalizer = None
        self._process = None
        self._workdir = None
        self._host = None
        self._external = False

    # -- REST helpers -------------------------------------------------------------

    def _client(self) -> httpx.Client:
        if self._http is None:
            self._http = httpx.Client(
                base_url=f"http://{self.host}",
                # Direct connections only: a proxy must never see emulator traffic.
                trust_env=False,
                timeout=30.0,
                headers={"Authorization": f"Bearer {_OWNER_TOKEN}"},
            )
        return self._http

    def _request(self, method: str, path: str, what: str, **kwargs: Any) -> Any:
        try:
            response = self._client().request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise EmulatorError(f"{what}: the Auth emulator at {self.host} failed ({exc})") from exc
        if response.status_code != 200:
            try:
                message = response.json()["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = response.text.strip()[:500]
            raise EmulatorError(f"{what} failed with HTTP {response.status_code}: {message}")
        return response.json() if response.content else None

    def _toolkit(self, operation: str, project: str, what: str, body: Mapping[str, Any]) -> Any:
        _require_demo(project)
        return self._request(
            "POST",
            f"{_TOOLKIT}/{operation}",
            what,
            params={"key": API_KEY},
            json={**body, "targetProjectId": project},
        )

    def sign_up(self, project: str, email: str, password: str) -> tuple[str, str]:
        """Create an email/password user and sign it in, as a browser would.

        Returns:
            ``(uid, id_token)``.

        Raises:
            EmulatorError: when the emulator refuses (e.g. ``EMAIL_EXISTS``).

        """
        body = self._toolkit(
            "accounts:signUp",
            project,
            f"signing up {email!r}",
            {"email": email, "password": password},
        )
        # Requests naming their project are admin requests: they return no token.
        return str(body["localId"]), self.sign_in(project, email, password)

    def sign_in(self, project: str, email: str, password: str) -> str:
        """Sign in with email and password, as a browser would, and return a fresh ID token.

        Raises:
            EmulatorError: when the emulator refuses (wrong password, disabled user...).

        """
        body = self._toolkit(
            "accounts:signInWithPassword",
            project,
            f"signing in {email!r}",
            {"email": email, "password": password, "returnSecureToken": True},
        )
        return str(body["idToken"])

    def disable_user(self, project: str, uid: str, *, disabled: bool = True) -> None:
        """Disable (or, with ``disabled=False``, enable again) the user ``uid``.

        Raises:
            EmulatorError: when the emulator refuses (e.g. no such user).

        """
        self._toolkit(
            "accounts:update",
            project,
            f"{'disabling' if disabled else 'enabling'} user {uid!r}",
            {"localId": uid, "disableUser": disabled},
        )

    def set_custom_claims(self, project: str, uid: str, claims: Mapping[str, Any]) -> None:
        """Replace the custom claims of ``uid`` (as another admin tool might have set them).

        Raises:
            EmulatorError: when the emulator refuses (e.g. no such user).

        """
        self._toolkit(
            "accounts:update",
            project,
            f"setting the claims of {uid!r}",
            {"localId": uid, "customAttributes": json.dumps(dict(claims))},
        )

    def send_password_reset(self, project: str, email: str) -> None:
        """Ask for a password-reset email, as the "forgot password" link of a login page does.

        The code lands in `oob_codes()`.

        Raises:
            EmulatorError: when the emulator refuses (e.g. ``EMAIL_NOT_FOUND``).

        """
        self._toolkit(
            "accounts:sendOobCode",
            project,
            f"sending a password reset to {email!r}",
            {"email": email, "requestType": "PASSWORD_RESET"},
        )

    def reset_password(self, project: str, code: str, new_password: str) -> str:
        """Complete a password reset with an out-of-band ``code``; return the account's email.

        Raises:
            EmulatorError: when the emulator refuses (unknown or used code, weak password).

        """
        body = self._toolkit(
            "accounts:resetPassword",
            project,
            "resetting a password",
            {"oobCode": code, "newPassword": new_password},
        )
        return str(body.get("email", ""))

    def oob_codes(
        self, project: str, *, email: str | None = None, request_type: str | None = None
    ) -> list[OobCode]:
        """The out-of-band codes (password resets, email verifications...) "sent" in ``project``.

        Args:
            project: The project to read.
            email: Only the codes sent to this address.
            request_type: Only codes of this type, e.g. ``"PASSWORD_RESET"``.

        Raises:
            EmulatorError: when the emulator refuses.

        """
        _require_demo(project)
        quoted = urllib.parse.quote(project, safe="")
        body = self._request("GET", f"/emulator/v1/projects/{quoted}/oobCodes",
                             f"listing the codes of {project!r}")
        codes = [
            OobCode(
                email=str(item.get("email", "")),
                request_type=str(item.get("requestType", "")),
                code=str(item.get("oobCode", "")),
                link=str(item.get("oobLink", "")),
            )
            for item in (body or {}).get("oobCodes", [])
        ]
        return [
            code for code in codes
            if (email is None or code.email == email)
            and (request_type is None or code.request_type == request_type)
        ]

    def clear(self, project: str) -> None:
        """Delete every user of ``project`` in the emulator.

        Raises:
            EmulatorError: when the emulator refuses or is not running.

        """
        _require_demo(project)
        quoted = urllib.parse.quote(project, safe="")
        self._request("DELETE", f"/emulator/v1/projects/{quoted}/accounts",
                      f"clearing the users of {project!r}")

    @staticmethod
    def forge_id_token(
        project: str,
        uid: str,
        *,
        email: str | None = None,
        issued_at: float | None = None,
        expires_at: float | None = None,
        auth_time: float | None = None,
        claims: Mapping[str, Any] | None = None,
    ) -> str:
        """Build an unsigned ID token shaped like the emulator's, with the times you choose.

        For tests of what a verifier must refuse: expired tokens, tokens issued
        before a revocation, tokens for another project. The emulator signs
        nothing, so anyone can do this: which is why an
        `Authenticator` only accepts emulator
        tokens for ``demo-`` projects.

        Args:
            project: The audience (``aud``) and issuer project.
            uid: The subject.
            email: The ``email`` claim (none when omitted).
            issued_at: ``iat`` in epoch seconds (now when omitted).
            expires_at: ``exp`` (``iat`` plus one hour when omitted).
            auth_time: ``auth_time`` (``iat`` when omitted).
            claims: More claims (e.g. ``{"role": "owner"}``), added last.

        """
        iat = int(time.time() if issued_at is None else issued_at)
        payload: dict[str, Any] = {
            "iss": f"https://securetoken.google.com/{project}",
            "aud": project,
            "auth_time": int(iat if auth_time is None else auth_time),
            "user_id": uid,
            "sub": uid,
            "iat": iat,
            "exp": int(iat + 3600 if expires_at is None else expires_at),
            "firebase": {"identities": {}, "sign_in_provider": "password"},
        }
        if email is not None:
            payload.update({"email": email, "email_verified": False})
            payload["firebase"]["identities"] = {"email": [email]}
        payload.update(claims or {})
        return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(payload)}."

    def __enter__(self) -> AuthEmulator:
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
        return f"AuthEmulator({state}{kind})"


def _require_demo(project: str) -> None:
    if not project.startswith("demo-"):
        raise ConfigurationError(
            f"project {project!r} does not start with 'demo-': the Auth emulator's tokens "
            "are unsigned, so firestore-verify uses it only with demo- projects (e.g. "
            "'demo-my-app'), which can never be real Firebase projects."
        )


def _is_ready(host: str, timeout: float = 1.0) -> bool:
    try:
        response = httpx.get(f"http://{host}/", timeout=timeout, trust_env=False)
        body = response.json()
    except (httpx.HTTPError, ValueError):
        return False
    return (
        response.status_code == 200
        and isinstance(body, dict)
        and bool(body.get("authEmulator", {}).get("ready"))
    )
