"""``fsv-api`` as an operator runs it: no SQL in its dependencies, starts, answers, stops."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from importlib import metadata

import httpx
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from firestore_verify.testing import AuthEmulator, FirestoreEmulator

FORBIDDEN = {"sqlalchemy", "asyncpg", "aiosqlite", "alembic", "psycopg", "psycopg2"}


def dependency_tree(name: str) -> set[str]:
    """Every distribution ``name`` needs when installed (extras of the root left out)."""
    seen: set[str] = set()
    todo = [(canonicalize_name(name), frozenset[str]())]
    while todo:
        dist, extras = todo.pop()
        if dist in seen:
            continue
        seen.add(dist)
        for raw in metadata.distribution(dist).requires or []:
            requirement = Requirement(raw)
            if requirement.marker is not None and not any(
                    requirement.marker.evaluate({"extra": e}) for e in {"", *extras}):
                continue
            todo.append((canonicalize_name(requirement.name), frozenset(requirement.extras)))
    return seen


def test_the_api_depends_on_no_sql_stack() -> None:
    tree = dependency_tree("fsv-example-api")
    assert {"firestore-verify", "fastapi", "uvicorn", "sse-starlette", "limits"} <= tree
    assert not FORBIDDEN & tree, sorted(FORBIDDEN & tree)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_fsv_api_serves_until_sigterm(firestore_emulator: FirestoreEmulator,
                                      auth_emulator: AuthEmulator, auth_project: str) -> None:
    port = free_port()
    env = {**os.environ, "FIREBASE_PROJECT_ID": auth_project,
           "FIRESTORE_EMULATOR_HOST": firestore_emulator.host,
           "FIREBASE_AUTH_EMULATOR_HOST": auth_emulator.host, "FSV_API_PORT": str(port)}
    server = subprocess.Popen([sys.executable, "-m", "fsv_api"], env=env,
                              stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, server.stderr.read() if server.stderr else ""
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/ready", timeout=5)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "fsv-api never answered on its port"
                time.sleep(0.1)
        assert ready.status_code == 200, ready.text
        assert ready.json()["status"] == "ready"
        schema = httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=5).json()
        assert "/api/v1/groups" in schema["paths"]
    finally:
        server.send_signal(signal.SIGTERM)
        _, stderr = server.communicate(timeout=30)
    assert server.returncode == 0, stderr


def test_bad_configuration_exits_2() -> None:
    env = {"PATH": os.environ["PATH"], "FSV_API_PORT": "not-a-port"}
    result = subprocess.run([sys.executable, "-m", "fsv_api"], env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2
    assert "FSV_API_PORT" in result.stderr or "port" in result.stderr
    no_project = subprocess.run([sys.executable, "-m", "fsv_api"],
                                env={"PATH": os.environ["PATH"],
                                     "FIRESTORE_EMULATOR_HOST": "127.0.0.1:1"},
                                capture_output=True, text=True, timeout=60)
    assert no_project.returncode == 2, no_project.stderr
    assert "FIREBASE_PROJECT_ID" in no_project.stderr


def test_the_api_imports_only_the_public_api() -> None:
    import re
    from pathlib import Path

    import fsv_api

    import firestore_verify as fv

    for source in Path(fsv_api.__file__).parent.rglob("*.py"):
        text = source.read_text()
        for module in re.findall(r"^\s*(?:from|import) (firestore_verify[\w.]*)", text, re.M):
            assert module == "firestore_verify", (source.name, module)
        for name in re.findall(r"\bfv\.(\w+)", text):
            assert name in fv.__all__, (source.name, name)
