"""``make demo``: the whole system on this machine, until Ctrl-C.

Starts the Firestore and Auth emulators, makes sure a demo owner exists (and
prints how to sign in), runs the reference bot on the local Bot API server with
endless simulated traffic, and serves the admin API and the live dashboard. The
Firestore data is exported to ``.demo/`` when the demo stops and imported when it
starts again, so the numbers keep growing across restarts. Ctrl-C stops every
process it started.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

import anyio
import httpx

import firestore_verify as fv
from firestore_verify.testing import AuthEmulator, FirestoreEmulator

PROJECT = "demo-firestore-verify"
OWNER_EMAIL = "owner@demo.example"
OWNER_PASSWORD = "demo-owner-password"
ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
#: firebase-tools as `make test` installs it (npm ci in the repository).
FIREBASE = ROOT / "node_modules" / ".bin" / "firebase"


def _shown(path: Path) -> str:
    """``path`` relative to the working directory when it is inside it (short lines)."""
    resolved = path.resolve()
    return str(resolved.relative_to(Path.cwd())) if resolved.is_relative_to(Path.cwd()) \
        else str(resolved)


def _latest_export(directory: Path) -> Path | None:
    found = sorted(directory.rglob("*.overall_export_metadata"),
                   key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None


async def _ensure_owner(firestore_host: str, auth_host: str) -> None:
    store = await fv.connect(project=PROJECT, emulator_host=firestore_host)
    async with store, fv.Authenticator(store, emulator_host=auth_host) as auth:
        uid = await auth.find_or_create_user(OWNER_EMAIL, password=OWNER_PASSWORD,
                                             display_name="Demo Owner")
        if not await store.admins.exists(uid):
            await fv.AdminAccounts(store, auth).invite(OWNER_EMAIL, fv.Role.OWNER,
                                                       full_name="Demo Owner")


def _start(name: str, command: Sequence[str], env: dict[str, str],
           logs: Path) -> subprocess.Popen[bytes]:
    log = (logs / f"{name}.log").open("ab")
    return subprocess.Popen(list(command), env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)


def _wait_http(url: str, processes: dict[str, subprocess.Popen[bytes]], within: float) -> None:
    deadline = time.monotonic() + within
    while True:
        for name, process in processes.items():
            if process.poll() is not None:
                raise SystemExit(f"{name} exited at start (exit {process.returncode}); "
                                 "see its log")
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"{url} did not answer within {within:g} s")
        time.sleep(0.2)


def _stop(processes: dict[str, subprocess.Popen[bytes]]) -> None:
    for process in processes.values():  # SIGINT: the bot flushes its last events
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
    deadline = time.monotonic() + 15
    for process in processes.values():
        try:
            process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _export(host: str, directory: Path) -> None:
    """Export the project's data into ``directory``, keeping only this newest export."""
    older = [p for p in directory.iterdir() if p.is_dir()]
    httpx.post(f"http://{host}/emulator/v1/projects/{PROJECT}:export", timeout=60, json={
        "database": f"projects/{PROJECT}/databases/(default)",
        "export_directory": str(directory.resolve())}).raise_for_status()
    for path in older:
        shutil.rmtree(path, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo until Ctrl-C (or until ``--seconds`` have passed)."""
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__.split("\n")[0])
    parser.add_argument("--api-port", type=int, default=8000)
    parser.add_argument("--dashboard-port", type=int, default=8001)
    parser.add_argument("--rate", type=float, default=4.0, help="messages per second")
    parser.add_argument("--seconds", type=float, default=0, help="stop after this long")
    parser.add_argument("--state", type=Path, default=ROOT / ".demo",
                        help="where the data is kept between runs (default: .demo/)")
    options = parser.parse_args(argv)
    state: Path = options.state
    firestore_dir, auth_dir, logs = state / "firestore", state / "auth", state / "logs"
    for directory in (firestore_dir, auth_dir, logs):
        directory.mkdir(parents=True, exist_ok=True)
    imported = _latest_export(firestore_dir)
    processes: dict[str, subprocess.Popen[bytes]] = {}
    with ExitStack() as stack:
        print("starting the Firestore and Auth emulators ...", flush=True)
        firestore = stack.enter_context(FirestoreEmulator(
            extra_args=[f"--import-data={imported}"] if imported else []))
        auth_args = ["--export-on-exit", str(auth_dir.resolve())]
        if (auth_dir / "firebase-export-metadata.json").exists():
            auth_args += ["--import", str(auth_dir.resolve())]
        auth = stack.enter_context(AuthEmulator(
            project=PROJECT, extra_args=auth_args,
            firebase_bin=FIREBASE if FIREBASE.exists() else None))
        anyio.run(_ensure_owner, firestore.host, auth.host)
        env = {**os.environ, "FIREBASE_PROJECT_ID": PROJECT,
               "FIRESTORE_EMULATOR_HOST": firestore.host,
               "FIREBASE_AUTH_EMULATOR_HOST": auth.host,
               "FSV_API_PORT": str(options.api_port), "FSV_API_COOKIE_SECURE": "false",
               "FSV_DASHBOARD_PORT": str(options.dashboard_port),
               "FSV_DASHBOARD_COOKIE_SECURE": "false"}
        processes["bot"] = _start("bot", [str(BIN / "fsv-bot-simulate"), "--messages", "0",
                                          "--rate", str(options.rate), "--groups", "4",
                                          "--users", "120", "--project", PROJECT], env, logs)
        processes["api"] = _start("api", [str(BIN / "fsv-api")], env, logs)
        processes["dashboard"] = _start("dashboard", [str(BIN / "fsv-dashboard")], env, logs)
        try:
            _wait_http(f"http://127.0.0.1:{options.api_port}/health", processes, 60)
            _wait_http(f"http://127.0.0.1:{options.dashboard_port}/login", processes, 60)
            print("\n".join([
                "",
                "firestore-verify demo: the bot, the admin API and the live dashboard",
                f"  dashboard  http://127.0.0.1:{options.dashboard_port}/",
                f"  sign in    {OWNER_EMAIL} / {OWNER_PASSWORD}",
                f"  API        http://127.0.0.1:{options.api_port}/docs",
                f"  data       {'imported (' + imported.stem + ')' if imported else 'new'}",
                f"  logs       {_shown(logs)}/",
                "Simulated users are chatting; Ctrl-C stops everything (data is kept).",
            ]), flush=True)
            deadline = time.monotonic() + options.seconds if options.seconds else None
            while deadline is None or time.monotonic() < deadline:
                for name, process in processes.items():
                    if process.poll() is not None:
                        print(f"{name} stopped (exit {process.returncode}); see {logs}/",
                              file=sys.stderr)
                        return 1
                time.sleep(0.5)
        except KeyboardInterrupt:
            print("\nstopping ...", flush=True)
        finally:
            _stop(processes)
            _export(firestore.host, firestore_dir)
    print(f"stopped; the data is kept in {_shown(state)}/ for the next `make demo`.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
