"""The bot as a real OS process (``python -m fsv_bot``), for the process-fault tests.

:class:`BotProcess` starts the bot against a fake Bot API server and the Firestore
emulator, with JSON logs at DEBUG in a file, and reads its ``/health`` and
``/metrics``. The "membership check" log line is written right after the checker's
``put()`` returned, so the log is the record of every event the process took.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx
from fsv_bot.fake_telegram import FakeBotApi
from fsv_bot.simulate import SimulationConfig, Traffic

import firestore_verify as fv

#: One verification, as both the log line and the stored event describe it.
Check = tuple[int, int, int, str, bool, float]


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class BotProcess:
    """One ``python -m fsv_bot`` process; its stderr (JSON lines) goes to ``log_path``."""

    name: str
    api: FakeBotApi
    process: subprocess.Popen[bytes]
    log_path: Path
    metrics_url: str
    #: Seconds from SIGTERM to exit, once :meth:`stop` has seen it exit.
    stop_seconds: float | None = field(default=None)

    @classmethod
    def start(cls, name: str, api: FakeBotApi, *, emulator_host: str, project: str,
              directory: Path, env: dict[str, str] | None = None) -> BotProcess:
        """Start the bot on ``api`` and the emulator project ``project``."""
        port = free_port()
        inherited = {k: v for k, v in os.environ.items()
                     if not k.startswith(("FSV_", "FV_", "TELEGRAM_", "FIREBASE_", "FIRESTORE_"))}
        full_env = {
            **inherited,
            "TELEGRAM_BOT_TOKEN": api.token,
            "TELEGRAM_API_BASE_URL": api.base_url,
            "FIRESTORE_EMULATOR_HOST": emulator_host,
            "FIREBASE_PROJECT_ID": project,
            "FSV_METRICS_PORT": str(port),
            # DEBUG: successful checks are logged at DEBUG, and every check must be seen.
            "FSV_LOG_LEVEL": "DEBUG",
            **(env or {}),
        }
        log_path = directory / f"{name}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen([sys.executable, "-m", "fsv_bot"], env=full_env,
                                       stdout=subprocess.DEVNULL, stderr=log)
        return cls(name, api, process, log_path, f"http://127.0.0.1:{port}")

    # -- reading it --------------------------------------------------------------------
    def log_tail(self, lines: int = 15) -> str:
        """The last lines of the log, for failure messages (gRPC's debug chatter left out)."""
        text = [line for line in self.log_path.read_text(errors="replace").splitlines()
                if '"logger": "grpc.' not in line]
        return "\n".join(text[-lines:])

    def lines(self) -> list[dict[str, Any]]:
        """The JSON log lines written so far (a last line cut by SIGKILL is left out)."""
        out = []
        for raw in self.log_path.read_text(errors="replace").splitlines():
            try:
                line = json.loads(raw)
            except ValueError:
                continue
            if isinstance(line, dict):
                out.append(line)
        return out

    def checks(self) -> Counter[Check]:
        """Every verification event this process took (``put()`` returned), as a multiset."""
        return Counter(
            (line["user_id"], line["group_id"], line["channel_id"], line["status"],
             line["cached"], line["latency_ms"])
            for line in self.lines() if line.get("msg") == "membership check")

    def _assert_alive(self, doing: str) -> None:
        code = self.process.poll()
        assert code is None, (
            f"bot {self.name} exited with {code} while {doing}:\n{self.log_tail()}")

    async def health(self) -> dict[str, Any]:
        """``/health`` as JSON."""
        async with httpx.AsyncClient(base_url=self.metrics_url, timeout=5) as http:
            response = await http.get("/health")
        body: dict[str, Any] = response.json()
        return body

    async def metric(self, name: str) -> float:
        """The sum of every sample of ``name`` on ``/metrics`` (0 when absent)."""
        async with httpx.AsyncClient(base_url=self.metrics_url, timeout=5) as http:
            text = (await http.get("/metrics")).text
        total = 0.0
        for row in text.splitlines():
            if row.startswith(name) and row[len(name)] in " {":
                total += float(row.rsplit(" ", 1)[1])
        return total

    async def wait_ready(self, within: float = 90.0) -> None:
        """Wait until ``/health`` is 200: both watches live and updates being received."""
        deadline = time.monotonic() + within
        while True:
            self._assert_alive("starting")
            try:
                async with httpx.AsyncClient(base_url=self.metrics_url, timeout=5) as http:
                    if (await http.get("/health")).status_code == 200:
                        return
            except httpx.TransportError:
                pass  # not listening yet
            assert time.monotonic() < deadline, (
                f"bot {self.name} was not healthy within {within} s:\n{self.log_tail()}")
            await anyio.sleep(0.1)

    async def wait_idle(self, within: float = 60.0) -> None:
        """Wait until the bot handled every update its server had for it (see ``settle``)."""
        deadline = time.monotonic() + within
        while True:
            self._assert_alive("handling updates")
            handled = await self.metric("fsv_updates_handled_total")
            if not self.api.pending_updates and handled >= self.api.updates_delivered:
                return
            assert time.monotonic() < deadline, (
                f"bot {self.name} did not finish its updates within {within} s: "
                f"{self.api.updates_delivered} delivered, {handled:g} handled, "
                f"{len(self.api.pending_updates)} still on the server")
            await anyio.sleep(0.05)

    # -- stopping it -------------------------------------------------------------------
    def signal(self, signum: signal.Signals) -> None:
        """Send ``signum`` to the process."""
        self.process.send_signal(signum)

    async def wait_exit(self, within: float) -> int:
        """Wait for the process to exit (bounded); return its exit code."""
        deadline = time.monotonic() + within
        while (code := self.process.poll()) is None:
            assert time.monotonic() < deadline, (
                f"bot {self.name} did not exit within {within} s:\n{self.log_tail()}")
            await anyio.sleep(0.02)
        return code

    async def stop(self, within: float = 60.0) -> int:
        """SIGTERM, then wait for the exit (bounded); record how long it took."""
        started = time.monotonic()
        self.signal(signal.SIGTERM)
        code = await self.wait_exit(within)
        self.stop_seconds = time.monotonic() - started
        return code

    def kill(self) -> None:
        """SIGKILL if still running (cleanup)."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(30)


async def drive(traffic: Traffic, *, rate: float, until: Callable[[], bool],
                messages: int | None = None) -> None:
    """Simulated users act at ``rate`` per second until ``until()`` (or ``messages`` sent)."""
    interval = 1.0 / rate
    started = time.monotonic()
    steps = 0
    while not until() and (messages is None or traffic.report.messages < messages):
        # Muted between looking and writing: this user just did not get to write.
        with contextlib.suppress(PermissionError):
            traffic.step()
        steps += 1
        await anyio.sleep(max(started + steps * interval - time.monotonic(), 0))


def world(api: FakeBotApi, config: SimulationConfig, *, traffic_seed: int | None = None) -> Traffic:
    """The simulator's world on ``api``; ``traffic_seed`` makes the users act differently."""
    traffic = Traffic(api, config)
    traffic.build_world()
    if traffic_seed is not None:
        traffic.rng = random.Random(traffic_seed)
    return traffic


async def stored_events(store: fv.Store) -> list[dict[str, Any]]:
    """Every stored verification document."""
    return [s.to_dict() or {} async for s in store.collection("verifications").stream()]


async def stored_by_id(store: fv.Store) -> dict[str, Check]:
    """Every stored verification, by event id."""
    return {s.id: check_of(s.to_dict() or {})
            async for s in store.collection("verifications").stream()}


def check_of(event: dict[str, Any] | fv.Verification) -> Check:
    """An event in the shape of :meth:`BotProcess.checks` (latency as the log rounds it)."""
    if isinstance(event, fv.Verification):
        event = event.model_dump(mode="json")
    return (event["user_id"], event["group_id"], event["channel_id"], event["status"],
            event["cached"], round(event["latency_ms"], 2))


def stored_checks(events: list[dict[str, Any]]) -> Counter[Check]:
    """Stored events in the shape of :meth:`BotProcess.checks` (latency as the log rounds it)."""
    return Counter(check_of(e) for e in events)


async def assert_counters_equal_a_recount(store: fv.Store) -> fv.Stats:
    """The live counters equal a recount of the stored events, and reconcile finds no drift."""
    events = await stored_events(store)
    stats = await store.stats.get()
    by_status = Counter(e["status"] for e in events)
    counted = (stats.total_verifications, stats.success_count, stats.failed_count,
               stats.error_count, stats.total_users)
    recount = (len(events), by_status["success"], by_status["failed"], by_status["error"],
               len({e["user_id"] for e in events}))
    assert counted == recount, f"counters {counted} != recount {recount}"
    drift = await store.stats.reconcile()
    assert not drift.drifted, f"reconcile had to fix {drift.fixed}"
    return stats


def difference(left: Counter[Check], right: Counter[Check]) -> str:
    """What each multiset has that the other lacks, briefly."""
    only_left, only_right = left - right, right - left
    return (f"{sum(only_left.values())} only on the left, e.g. {list(only_left)[:3]}; "
            f"{sum(only_right.values())} only on the right, e.g. {list(only_right)[:3]}")
