"""The emulator helpers and the pytest plugin of ``firestore_verify.testing``."""

from __future__ import annotations

import gc
import importlib.util
import os
import stat
import sys
from pathlib import Path

import pytest

from firestore_verify.auth import AUTH_EMULATOR_HOST_VAR
from firestore_verify.errors import ConfigurationError
from firestore_verify.store import Store, connect
from firestore_verify.testing import emulator as emulator_module
from firestore_verify.testing import plugin as plugin_module
from firestore_verify.testing.auth_emulator import AuthEmulator
from firestore_verify.testing.emulator import (
    SDK_JAR_PATH,
    EmulatorError,
    EmulatorNotFoundError,
    FirestoreEmulator,
    JavaNotFoundError,
    find_emulator_jar,
    find_java,
)

DOCS_EXAMPLES = Path(__file__).resolve().parent.parent / "docs" / "examples"


def _touch(path: Path, text: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _script(path: Path, body: str) -> Path:
    _touch(path, f"#!/bin/sh\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


@pytest.fixture
def no_system_sdk(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hide the machine's Google Cloud SDK from the search."""
    monkeypatch.setattr(emulator_module, "SYSTEM_SDK_ROOTS", ())


# -- finding the jar and java ----------------------------------------------------------


def test_jar_env_var_wins_over_everything(tmp_path: Path) -> None:
    explicit = _touch(tmp_path / "mine.jar")
    sdk = tmp_path / "sdk"
    _touch(sdk / SDK_JAR_PATH)
    _touch(tmp_path / "home/.cache/firebase/emulators/cloud-firestore-emulator-v1.19.0.jar")
    env = {
        "FIRESTORE_EMULATOR_JAR": str(explicit),
        "CLOUDSDK_ROOT_DIR": str(sdk),
        "HOME": str(tmp_path / "home"),
        "PATH": os.environ.get("PATH", ""),
    }
    assert find_emulator_jar(env) == explicit


def test_jar_env_var_pointing_nowhere_is_an_error(tmp_path: Path) -> None:
    env = {"FIRESTORE_EMULATOR_JAR": str(tmp_path / "nope.jar"), "PATH": os.environ["PATH"]}
    with pytest.raises(EmulatorNotFoundError, match="FIRESTORE_EMULATOR_JAR is set"):
        find_emulator_jar(env)


@pytest.mark.usefixtures("no_system_sdk")
def test_sdk_root_env_var_beats_firebase_tools_cache(tmp_path: Path) -> None:
    sdk_jar = _touch(tmp_path / "sdk" / SDK_JAR_PATH)
    _touch(tmp_path / "home/.cache/firebase/emulators/cloud-firestore-emulator-v1.19.0.jar")
    env = {"GCLOUD_SDK_ROOT": str(tmp_path / "sdk"), "HOME": str(tmp_path / "home"), "PATH": ""}
    assert find_emulator_jar(env) == sdk_jar


@pytest.mark.usefixtures("no_system_sdk")
def test_home_sdk_is_searched(tmp_path: Path) -> None:
    sdk_jar = _touch(tmp_path / "google-cloud-sdk" / SDK_JAR_PATH)
    assert find_emulator_jar({"HOME": str(tmp_path), "PATH": ""}) == sdk_jar


@pytest.mark.usefixtures("no_system_sdk")
def test_gcloud_on_path_gives_the_sdk_root(tmp_path: Path) -> None:
    sdk_jar = _touch(tmp_path / "sdk" / SDK_JAR_PATH)
    _script(tmp_path / "sdk" / "bin" / "gcloud", "exit 1")
    env = {"HOME": str(tmp_path / "home"), "PATH": str(tmp_path / "sdk" / "bin")}
    assert find_emulator_jar(env) == sdk_jar


@pytest.mark.usefixtures("no_system_sdk")
def test_firebase_tools_cache_fallback_picks_newest(tmp_path: Path) -> None:
    cache = tmp_path / ".cache" / "firebase" / "emulators"
    for version in ("1.9.0", "1.19.2", "1.2.0"):
        _touch(cache / f"cloud-firestore-emulator-v{version}.jar")
    found = find_emulator_jar({"HOME": str(tmp_path), "PATH": ""})
    assert found == cache / "cloud-firestore-emulator-v1.19.2.jar"


@pytest.mark.usefixtures("no_system_sdk")
def test_missing_jar_says_what_to_install(tmp_path: Path) -> None:
    with pytest.raises(EmulatorNotFoundError) as caught:
        find_emulator_jar({"HOME": str(tmp_path), "PATH": ""})
    message = str(caught.value)
    assert isinstance(caught.value, ConfigurationError)
    assert "gcloud components install cloud-firestore-emulator" in message
    assert "firebase setup:emulators:firestore" in message
    assert "FIRESTORE_EMULATOR_JAR" in message
    assert str(tmp_path / ".cache" / "firebase" / "emulators") in message


def test_java_from_java_home_first(tmp_path: Path) -> None:
    java = _script(tmp_path / "jdk" / "bin" / "java", "exit 0")
    assert find_java({"JAVA_HOME": str(tmp_path / "jdk"), "PATH": os.environ["PATH"]}) == java


def test_missing_java_says_what_to_install(tmp_path: Path) -> None:
    with pytest.raises(JavaNotFoundError, match="JAVA_HOME") as caught:
        find_java({"PATH": str(tmp_path)})
    assert isinstance(caught.value, ConfigurationError)
    assert "openjdk" in str(caught.value)


# -- FirestoreEmulator without the plugin -----------------------------------------------


def test_start_failure_shows_the_log_tail(tmp_path: Path) -> None:
    jar = _touch(tmp_path / "emulator.jar")
    java = _script(tmp_path / "java", 'echo "boom: cannot start"; exit 3')
    emulator = FirestoreEmulator(jar=jar, java=java, startup_timeout=20)
    with pytest.raises(EmulatorError, match="exited with code 3") as caught:
        emulator.start()
    assert "boom: cannot start" in str(caught.value)
    assert not emulator.running


def test_java_that_cannot_run_is_a_clear_error(tmp_path: Path) -> None:
    jar = _touch(tmp_path / "emulator.jar")
    java = _touch(tmp_path / "java", "not a program")  # not executable
    emulator = FirestoreEmulator(jar=jar, java=java)
    with pytest.raises(EmulatorError, match="could not run"):
        emulator.start()
    assert emulator.log_path is None


def test_start_timeout_stops_the_process(tmp_path: Path) -> None:
    jar = _touch(tmp_path / "emulator.jar")
    java = _script(tmp_path / "java", 'echo "still warming up"; exec sleep 60')
    emulator = FirestoreEmulator(jar=jar, java=java, startup_timeout=1)
    with pytest.raises(EmulatorError, match="did not answer") as caught:
        emulator.start()
    assert "still warming up" in str(caught.value)
    assert not emulator.running


def test_host_before_start_is_a_clear_error() -> None:
    with pytest.raises(EmulatorError, match="start"):
        _ = FirestoreEmulator().host


def test_attach_to_nothing_fails_fast() -> None:
    with pytest.raises(EmulatorError, match="no Firestore emulator answers"):
        FirestoreEmulator.attach("127.0.0.1:9", timeout=0.3)


_FAKE_EMULATOR = """
import http.server, sys
port = int(next(a for a in sys.argv if a.startswith("--port=")).split("=")[1])
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"Ok\\n")
    def do_DELETE(self):
        self.send_response(200)
        self.end_headers()
http.server.HTTPServer(("127.0.0.1", port), Handler).serve_forever()
"""


@pytest.fixture
def fake_java(tmp_path: Path) -> Path:
    """A `java` that answers like the emulator (a JVM per test would be slow)."""
    server = _touch(tmp_path / "fake_emulator.py", _FAKE_EMULATOR)
    return _script(tmp_path / "java", f'exec "{sys.executable}" "{server}" "$@"')


def test_emulator_lifecycle_and_stop_by_garbage_collection(tmp_path: Path, fake_java: Path) -> None:
    jar = _touch(tmp_path / "emulator.jar")
    with FirestoreEmulator(jar=jar, java=fake_java) as emulator:
        assert emulator.running
        assert emulator.host.startswith("127.0.0.1:")
        emulator.wipe("test-lifecycle")
    assert not emulator.running

    emulator = FirestoreEmulator(jar=jar, java=fake_java).start()
    pid = emulator.pid
    assert pid is not None
    del emulator
    gc.collect()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_context_manager_stops_the_emulator(firestore_emulator: FirestoreEmulator) -> None:
    # Reuse the session's emulator through attach(): stop() must leave it running.
    with FirestoreEmulator.attach(firestore_emulator.host) as attached:
        assert attached.host == firestore_emulator.host
    assert not attached.running
    assert firestore_emulator.running


# -- the fixtures -----------------------------------------------------------------------

_seen_projects: list[str] = []


def test_environment_points_at_the_emulator(firestore_emulator: FirestoreEmulator) -> None:
    assert os.environ["FIRESTORE_EMULATOR_HOST"] == firestore_emulator.host


@pytest.mark.anyio
async def test_store_is_on_its_own_project(store: Store, firestore_project: str) -> None:
    assert store.project == firestore_project
    assert firestore_project.startswith("test-")
    await store.client.collection("isolation").document("doc").set({"written_by": "first"})
    _seen_projects.append(firestore_project)


@pytest.mark.anyio
async def test_store_does_not_see_other_tests_data(store: Store, firestore_project: str) -> None:
    assert firestore_project not in _seen_projects
    snapshot = await store.client.collection("isolation").document("doc").get()
    assert not snapshot.exists


@pytest.mark.anyio
async def test_two_projects_do_not_see_each_other(
    store: Store, firestore_emulator: FirestoreEmulator
) -> None:
    await store.client.collection("isolation").document("doc").set({"n": 1})
    other = await connect(project=f"{store.project}-b", emulator_host=firestore_emulator.host)
    try:
        assert not (await other.client.collection("isolation").document("doc").get()).exists
        assert (await store.client.collection("isolation").document("doc").get()).exists
    finally:
        await other.close()
        firestore_emulator.wipe(other.project)


@pytest.mark.anyio
async def test_wipe_deletes_the_project_data(
    store: Store, firestore_emulator: FirestoreEmulator
) -> None:
    ref = store.client.collection("owners").document("42")
    await ref.set({"username": "alice"})
    await store.client.collection("owners").document("42/sub/x").set({"nested": True})
    assert (await ref.get()).exists

    firestore_emulator.wipe(store.project)

    assert not (await ref.get()).exists
    assert not (await store.client.collection("owners").document("42/sub/x").get()).exists


# -- the plugin as a dependent project sees it ------------------------------------------


def _dependent_project(pytester: pytest.Pytester) -> None:
    pytester.makeconftest((DOCS_EXAMPLES / "conftest.py").read_text())
    pytester.makepyfile(test_example_plugin=(DOCS_EXAMPLES / "test_example_plugin.py").read_text())


def test_dependent_project_uses_the_store_fixture(
    pytester: pytest.Pytester, firestore_emulator: FirestoreEmulator
) -> None:
    """The documented example, run as another project would (reusing our emulator)."""
    _dependent_project(pytester)
    result = pytester.runpytest(f"--firestore-emulator-host={firestore_emulator.host}")
    result.assert_outcomes(passed=4)
    # The inner session restored the variable it had set.
    assert os.environ["FIRESTORE_EMULATOR_HOST"] == firestore_emulator.host


def test_dependent_project_uses_the_admin_fixtures(
    pytester: pytest.Pytester, firestore_emulator: FirestoreEmulator, auth_emulator: AuthEmulator
) -> None:
    """docs/testing.md's admins example, run as another project would (on our emulators)."""
    pytester.makeconftest((DOCS_EXAMPLES / "conftest.py").read_text())
    pytester.makepyfile(test_example_admins=(DOCS_EXAMPLES / "test_example_admins.py").read_text())
    result = pytester.runpytest(f"--firestore-emulator-host={firestore_emulator.host}",
                                f"--auth-emulator-host={auth_emulator.host}")
    result.assert_outcomes(passed=1)
    # The inner session restored the variables it had set.
    assert os.environ["FIRESTORE_EMULATOR_HOST"] == firestore_emulator.host
    assert os.environ[AUTH_EMULATOR_HOST_VAR] == auth_emulator.host


@pytest.fixture
def no_emulator(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Make the emulator impossible to find for an inner pytest run."""
    monkeypatch.setenv("FIRESTORE_EMULATOR_JAR", str(tmp_path / "missing.jar"))
    monkeypatch.delenv(plugin_module.HOST_ENV_VAR, raising=False)
    monkeypatch.delenv(plugin_module.REQUIRE_ENV_VAR, raising=False)


@pytest.mark.usefixtures("no_emulator")
def test_missing_emulator_skips_by_default(pytester: pytest.Pytester) -> None:
    _dependent_project(pytester)
    result = pytester.runpytest("-rs")
    result.assert_outcomes(passed=0, skipped=4)
    result.stdout.fnmatch_lines(["*Firestore emulator unavailable*FIRESTORE_EMULATOR_JAR*"])


@pytest.mark.usefixtures("no_emulator")
def test_missing_emulator_fails_when_required(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(plugin_module.REQUIRE_ENV_VAR, "1")
    _dependent_project(pytester)
    result = pytester.runpytest()
    result.assert_outcomes(errors=4)
    result.stdout.fnmatch_lines(["*FIRESTORE_VERIFY_REQUIRE_EMULATOR is set*"])


def test_emulator_starts_only_when_asked_for(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_plain():\n    assert True\n")
    result = pytester.runpytest("--setup-show")
    result.assert_outcomes(passed=1)
    assert "firestore_emulator" not in result.stdout.str()


def test_standalone_example(
    firestore_emulator: FirestoreEmulator,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """docs/examples/emulator_standalone.py, on the session's emulator (no second JVM)."""
    spec = importlib.util.spec_from_file_location(
        "docs_example_emulator_standalone", DOCS_EXAMPLES / "emulator_standalone.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(
        module, "FirestoreEmulator", lambda: FirestoreEmulator.attach(firestore_emulator.host)
    )
    module.main()
    assert capsys.readouterr().out.strip() == "{'username': 'alice'}"
    assert firestore_emulator.running
