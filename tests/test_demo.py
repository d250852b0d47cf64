"""``make demo`` (scripts/demo.py) runs the whole system, keeps its data, and stops cleanly."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

DEMO = Path(__file__).resolve().parent.parent / "scripts" / "demo.py"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_demo(cwd: Path) -> str:
    api, dashboard = free_port(), free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in ("FIRESTORE_EMULATOR_HOST", "FIREBASE_AUTH_EMULATOR_HOST")}
    result = subprocess.run(
        [sys.executable, str(DEMO), "--seconds", "4", "--api-port", str(api),
         "--dashboard-port", str(dashboard), "--state", str(cwd / ".demo")],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr
    with pytest.raises(httpx.TransportError):  # stopped: nothing answers any more
        httpx.get(f"http://127.0.0.1:{dashboard}/login", timeout=2)
    return result.stdout


@pytest.mark.slow
def test_the_demo_runs_keeps_its_data_and_stops(tmp_path: Path) -> None:
    first = run_demo(tmp_path)
    assert "sign in    owner@demo.example / demo-owner-password" in first
    assert "data       new" in first
    assert all(len(line) <= 80 for line in first.splitlines())
    assert list((tmp_path / ".demo" / "firestore").rglob("*.overall_export_metadata"))
    second = run_demo(tmp_path)
    assert "data       imported (firestore_export_" in second
    leftovers = subprocess.run(["pgrep", "-f", str(tmp_path)], capture_output=True, text=True)
    assert leftovers.stdout == "", leftovers.stdout
