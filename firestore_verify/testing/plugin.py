"""pytest plugin: the Cloud Firestore emulator as fixtures.

Registered automatically (entry point ``pytest11``) when firestore-verify is
installed.

Fixtures:

- ``firestore_emulator`` (session): the running ``FirestoreEmulator``, started the
  first time a test asks for it and stopped at the end of the session. While it
  runs, ``FIRESTORE_EMULATOR_HOST`` points at it.
- ``firestore_project`` (function): a fresh project id (``test-<hex>``) for one
  test; its data is wiped afterwards.
- ``store`` (function, async): ``await connect(project=firestore_project,
  emulator_host=...)``, closed afterwards. Runs with anyio's pytest plugin
  (``@pytest.mark.anyio``) on the asyncio backend.
- ``firestore_emulator_rules`` (session): ``None``; override it to return the path
  of a ``firestore.rules`` file.
- ``auth_emulator`` (session): the running Firebase Auth emulator
  (``AuthEmulator``, from npm firebase-tools), started the first time a test asks
  for it and stopped at the end of the session. While it runs,
  ``FIREBASE_AUTH_EMULATOR_HOST`` points at it.
- ``auth_project`` (function): a fresh ``demo-<hex>`` project id for one test (the
  Auth emulator is only trusted with ``demo-`` projects); its users are deleted
  afterwards.
- ``admin_store`` (function, async): a ``Store`` on ``auth_project`` in the
  Firestore emulator, closed and wiped afterwards.
- ``authenticator`` (function, async): an ``Authenticator`` on ``admin_store`` and
  the Auth emulator, closed afterwards.

Settings:

- ``--firestore-emulator-host=HOST:PORT`` or ``FIRESTORE_VERIFY_EMULATOR_HOST``:
  reuse an emulator that is already running instead of starting one.
- ``--auth-emulator-host=HOST:PORT`` or ``FIRESTORE_VERIFY_AUTH_EMULATOR_HOST``:
  reuse a running Auth emulator. Otherwise firebase-tools is found through
  ``FIRESTORE_VERIFY_FIREBASE_BIN``, then ``node_modules/.bin/firebase`` from the
  current directory upwards, then ``PATH``.
- ``FIRESTORE_VERIFY_REQUIRE_EMULATOR=1``: fail (instead of skip) the tests that
  need an emulator when Java, the Firestore emulator, firebase-tools or Node.js
  is not installed.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from firestore_verify.auth import AUTH_EMULATOR_HOST_VAR, Authenticator
from firestore_verify.env_settings import EnvSettings
from firestore_verify.errors import ConfigurationError
from firestore_verify.store import Store, connect
from firestore_verify.testing.auth_emulator import AuthEmulator
from firestore_verify.testing.emulator import EmulatorError, FirestoreEmulator
from firestore_verify.testing.redis_server import RedisNotFoundError, RedisServer

__all__ = [
    "AUTH_HOST_ENV_VAR",
    "HOST_ENV_VAR",
    "REQUIRE_ENV_VAR",
    "admin_store",
    "auth_emulator",
    "auth_project",
    "authenticator",
    "firestore_emulator",
    "firestore_emulator_rules",
    "firestore_project",
    "store",
]

REQUIRE_ENV_VAR = "FIRESTORE_VERIFY_REQUIRE_EMULATOR"
"""Set to ``1`` to make a missing emulator or Java fail the tests instead of skipping them."""
HOST_ENV_VAR = "FIRESTORE_VERIFY_EMULATOR_HOST"
"""``HOST:PORT`` of a running emulator to reuse (same as ``--firestore-emulator-host``)."""
AUTH_HOST_ENV_VAR = "FIRESTORE_VERIFY_AUTH_EMULATOR_HOST"
"""``HOST:PORT`` of a running Auth emulator to reuse (same as ``--auth-emulator-host``)."""



class _PluginEnv(EnvSettings):
    """The plugin's variables (``FIRESTORE_VERIFY_*``)."""

    model_config = EnvSettings.config(env_prefix="FIRESTORE_VERIFY_")

    require_emulator: bool = False
    """A missing emulator or Java fails the tests instead of skipping them."""
    emulator_host: str | None = None
    """``HOST:PORT`` of a running Firestore emulator to reuse."""
    auth_emulator_host: str | None = None
    """``HOST:PORT`` of a running Auth emulator to reuse."""


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register ``--firestore-emulator-host`` and ``--auth-emulator-host``."""
    group = parser.getgroup("firestore-verify", "Cloud Firestore emulator (firestore-verify)")
    group.addoption(
        "--firestore-emulator-host",
        dest="firestore_emulator_host",
        default=None,
        metavar="HOST:PORT",
        help=(
            "reuse the Firestore emulator already running at HOST:PORT instead of "
            f"starting one (default: ${HOST_ENV_VAR})."
        ),
    )
    group.addoption(
        "--auth-emulator-host",
        dest="auth_emulator_host",
        default=None,
        metavar="HOST:PORT",
        help=(
            "reuse the Firebase Auth emulator already running at HOST:PORT instead of "
            f"starting one (default: ${AUTH_HOST_ENV_VAR})."
        ),
    )


def _emulator_required() -> bool:
    return _PluginEnv.from_env().require_emulator


@pytest.fixture(scope="session")
def firestore_emulator_rules() -> str | os.PathLike[str] | None:
    """Return the security rules file for the emulator the plugin starts (``None``: no rules).

    Override this fixture (session scope) in a ``conftest.py`` to load yours.
    The admin SDK, and so ``firestore_verify.store.connect``, bypasses rules.
    """
    return None


@pytest.fixture(scope="session")
def firestore_emulator(
    request: pytest.FixtureRequest,
    firestore_emulator_rules: str | os.PathLike[str] | None,
) -> Iterator[FirestoreEmulator]:
    """Yield the Cloud Firestore emulator of this test session, started on first use.

    Reuses a running emulator when ``--firestore-emulator-host`` or
    ``FIRESTORE_VERIFY_EMULATOR_HOST`` is given. Skips the requesting tests when
    Java or the emulator is not installed, or fails them when
    ``FIRESTORE_VERIFY_REQUIRE_EMULATOR=1``. Sets ``FIRESTORE_EMULATOR_HOST``
    while it runs and restores the previous value at the end of the session.
    """
    host = (request.config.getoption("firestore_emulator_host")
            or _PluginEnv.from_env().emulator_host)
    try:
        if host:
            emulator = FirestoreEmulator.attach(host)
        else:
            emulator = FirestoreEmulator(rules=firestore_emulator_rules).start()
    except ConfigurationError as exc:
        if _emulator_required():
            pytest.fail(
                f"{exc} ({REQUIRE_ENV_VAR} is set, so this fails instead of skipping)",
                pytrace=False,
            )
        pytest.skip(f"Firestore emulator unavailable: {exc}")
    except EmulatorError as exc:
        pytest.fail(str(exc), pytrace=False)

    patch = pytest.MonkeyPatch()
    patch.setenv("FIRESTORE_EMULATOR_HOST", emulator.host)
    try:
        yield emulator
    finally:
        patch.undo()
        emulator.stop()


@pytest.fixture
def firestore_project(firestore_emulator: FirestoreEmulator) -> Iterator[str]:
    """Yield a project id of its own for one test (``test-<16 hex>``), wiped afterwards."""
    project = f"test-{uuid.uuid4().hex[:16]}"
    yield project
    firestore_emulator.wipe(project)


@pytest.fixture
def _firestore_verify_asyncio(anyio_backend: object) -> None:
    """Skip ``store`` on anyio backends other than asyncio (google's client needs asyncio)."""
    # anyio accepts a backend name, or a (name, options) tuple.
    name = anyio_backend[0] if isinstance(anyio_backend, tuple) else anyio_backend
    if name != "asyncio":
        pytest.skip(
            f"the store fixture needs anyio's asyncio backend, not {name!r} (google-cloud-"
            "firestore's AsyncClient is asyncio-only); define an `anyio_backend` fixture "
            "returning 'asyncio' in conftest.py to drop this variant."
        )


@pytest.fixture
async def store(
    firestore_emulator: FirestoreEmulator,
    firestore_project: str,
    _firestore_verify_asyncio: None,
) -> AsyncIterator[Store]:
    """Yield a ``firestore_verify.store.Store`` on ``firestore_project`` in the emulator.

    Async: mark the test ``@pytest.mark.anyio`` (anyio's pytest plugin runs it).
    Closed after the test; the project's data is wiped.
    """
    connected = await connect(project=firestore_project, emulator_host=firestore_emulator.host)
    try:
        yield connected
    finally:
        await connected.close()


@pytest.fixture(scope="session")
def auth_emulator(request: pytest.FixtureRequest) -> Iterator[AuthEmulator]:
    """Yield the Firebase Auth emulator of this test session, started on first use.

    Reuses a running emulator when ``--auth-emulator-host`` or
    ``FIRESTORE_VERIFY_AUTH_EMULATOR_HOST`` is given. Skips the requesting tests
    when firebase-tools or Node.js is not installed, or fails them when
    ``FIRESTORE_VERIFY_REQUIRE_EMULATOR=1``. Sets ``FIREBASE_AUTH_EMULATOR_HOST``
    while it runs (so stray firebase-admin calls never reach a real project) and
    restores the previous value at the end of the session.
    """
    host = (request.config.getoption("auth_emulator_host")
            or _PluginEnv.from_env().auth_emulator_host)
    try:
        emulator = AuthEmulator.attach(host) if host else AuthEmulator().start()
    except ConfigurationError as exc:
        if _emulator_required():
            pytest.fail(
                f"{exc} ({REQUIRE_ENV_VAR} is set, so this fails instead of skipping)",
                pytrace=False,
            )
        pytest.skip(f"Firebase Auth emulator unavailable: {exc}")
    except EmulatorError as exc:
        pytest.fail(str(exc), pytrace=False)

    patch = pytest.MonkeyPatch()
    patch.setenv(AUTH_EMULATOR_HOST_VAR, emulator.host)
    try:
        yield emulator
    finally:
        patch.undo()
        emulator.stop()


@pytest.fixture
def auth_project(auth_emulator: AuthEmulator) -> Iterator[str]:
    """Yield a ``demo-<16 hex>`` project id for one test; its Auth users are deleted afterwards."""
    project = f"demo-{uuid.uuid4().hex[:16]}"
    yield project
    auth_emulator.clear(project)


@pytest.fixture
async def admin_store(
    firestore_emulator: FirestoreEmulator,
    auth_project: str,
    _firestore_verify_asyncio: None,
) -> AsyncIterator[Store]:
    """Yield a ``Store`` on ``auth_project`` in the Firestore emulator (closed, then wiped).

    The store of the `authenticator()` fixture: its ``admin_users`` decide
    who may sign in. Async: mark the test ``@pytest.mark.anyio``.
    """
    connected = await connect(project=auth_project, emulator_host=firestore_emulator.host)
    try:
        yield connected
    finally:
        await connected.close()
        firestore_emulator.wipe(auth_project)


@pytest.fixture
async def authenticator(
    admin_store: Store, auth_emulator: AuthEmulator
) -> AsyncIterator[Authenticator]:
    """Yield an ``Authenticator`` on ``admin_store`` and the Auth emulator, closed afterwards.

    Sign users up with ``auth_emulator.sign_up(auth_project, email, password)``;
    they get in once ``admin_store.admins`` has an active document for them.
    """
    auth = Authenticator(admin_store, emulator_host=auth_emulator.host)
    try:
        yield auth
    finally:
        await auth.close()


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A throwaway redis-server on a free port of 127.0.0.1 (no persistence), stopped after.

    Skips the requesting test when ``redis-server`` is not installed, or fails it
    when ``FIRESTORE_VERIFY_REQUIRE_EMULATOR=1``.
    """
    try:
        server = RedisServer()
    except RedisNotFoundError as exc:
        if _emulator_required():
            pytest.fail(str(exc))
        pytest.skip(str(exc))
    with server:
        yield server
