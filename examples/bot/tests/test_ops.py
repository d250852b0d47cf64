"""Operations: configuration, metrics and health, JSON logs, webhooks, dependencies, simulator."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime, timezone
from importlib import metadata
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from conftest import CHANNEL, GROUP, USER, protect
from fsv_bot.app import BotRuntime, running_bot
from fsv_bot.config import ConfigError, Settings
from fsv_bot.demo import EVENTS, HEIGHT, WIDTH, Board, run_demo
from fsv_bot.fake_telegram import FakeBotApi
from fsv_bot.logs import JsonFormatter
from fsv_bot.simulate import SimulationConfig, SimulationReport, simulated_bot
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import firestore_verify as fv

pytestmark = pytest.mark.anyio

TOKEN = "123456:TEST-TOKEN"


# -- configuration --

def test_config_defaults() -> None:
    settings = Settings.from_env({"TELEGRAM_BOT_TOKEN": TOKEN})
    assert (settings.mode, settings.metrics_port, settings.poll_timeout) == ("polling", 9090, 30)
    assert settings.api_base_url == "https://api.telegram.org/bot"
    assert settings.cache == fv.CacheSettings(positive_ttl=600, negative_ttl=60, jitter=0.15)


def test_config_reads_everything() -> None:
    settings = Settings.from_env({
        "TELEGRAM_BOT_TOKEN": TOKEN, "FSV_MODE": "webhook",
        "FSV_WEBHOOK_URL": "https://bot.example.org/hook", "FSV_WEBHOOK_PORT": "8080",
        "FSV_METRICS_PORT": "off", "FSV_LOG_LEVEL": "debug", "FSV_COLLECTION_PREFIX": "prod_",
        "FV_CACHE_POSITIVE_TTL": "300", "FV_CACHE_NEGATIVE_TTL": "30",
        "FSV_EVENT_CACHE_HITS": "Fold", "FSV_EVENT_RETENTION_DAYS": "90",
    })
    assert settings.event_cache_hits == "fold"
    assert settings.event_retention_days == 90
    assert (settings.mode, settings.webhook_url, settings.webhook_port) == (
        "webhook", "https://bot.example.org/hook", 8080)
    assert (settings.metrics_port, settings.log_level, settings.prefix) == (None, "DEBUG", "prod_")
    assert (settings.cache.positive_ttl, settings.cache.negative_ttl) == (300, 30)


def test_config_errors_name_every_problem() -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env({
            "FSV_MODE": "webhook", "FSV_METRICS_PORT": "http", "FSV_LOG_LEVEL": "loud",
            "FV_CACHE_NEGATIVE_TTL": "-1", "FSV_EVENT_CACHE_HITS": "some",
        })
    problems = info.value.problems
    assert problems[0] == "TELEGRAM_BOT_TOKEN is not set: ask @BotFather for a token"
    assert ("FSV_WEBHOOK_URL is required when FSV_MODE=webhook (the public https:// URL)"
            in problems)
    assert "FSV_METRICS_PORT must be an integer, got 'http'" in problems
    assert any(p.startswith("FSV_LOG_LEVEL must be one of") for p in problems)
    assert any(p.startswith("FV_CACHE_NEGATIVE_TTL must be") for p in problems)
    assert ("FSV_EVENT_CACHE_HITS must be one of 'every', 'fold' or 'sample', got 'some'"
            in problems)
    assert str(info.value).startswith("invalid bot configuration:\n  - TELEGRAM_BOT_TOKEN")
    with pytest.raises(ConfigError, match="does not look like a token"):
        Settings.from_env({"TELEGRAM_BOT_TOKEN": "nonsense"})
    with pytest.raises(ConfigError, match="must start with https://"):
        Settings.from_env({"TELEGRAM_BOT_TOKEN": TOKEN, "FSV_MODE": "webhook",
                           "FSV_WEBHOOK_URL": "http://plain.example.org"})


def test_the_command_line_explains_missing_configuration() -> None:
    env = {"PATH": "/usr/bin:/bin"}
    missing_token = subprocess.run([sys.executable, "-m", "fsv_bot"], env=env,
                                   capture_output=True, text=True, timeout=60)
    assert missing_token.returncode == 2
    assert "TELEGRAM_BOT_TOKEN is not set" in missing_token.stderr
    no_project = subprocess.run([sys.executable, "-m", "fsv_bot"],
                                env={**env, "TELEGRAM_BOT_TOKEN": TOKEN,
                                     "FIRESTORE_EMULATOR_HOST": "127.0.0.1:1"},
                                capture_output=True, text=True, timeout=60)
    assert no_project.returncode == 2
    assert "invalid Firestore configuration: no project id" in no_project.stderr
    assert "FIREBASE_PROJECT_ID" in no_project.stderr


def test_the_command_line_runs_until_sigterm(world: FakeBotApi, firestore_emulator: Any,
                                            firestore_project: str) -> None:
    env = {**os.environ, "TELEGRAM_BOT_TOKEN": world.token,
           "TELEGRAM_API_BASE_URL": world.base_url, "FIRESTORE_EMULATOR_HOST":
           firestore_emulator.host, "FIREBASE_PROJECT_ID": firestore_project,
           "FSV_POLL_TIMEOUT": "1", "FSV_METRICS_PORT": "0"}
    bot = subprocess.Popen([sys.executable, "-m", "fsv_bot"], env=env, stderr=subprocess.PIPE,
                           text=True)
    try:
        deadline = time.monotonic() + 30
        while not any(c.method == "getUpdates" for c in world.calls):
            assert time.monotonic() < deadline, "the bot never polled"
            assert bot.poll() is None, bot.stderr.read() if bot.stderr else ""
            time.sleep(0.05)
        world.send_message(GROUP, USER, "/status")
        while not world.calls_to("sendMessage"):
            assert time.monotonic() < deadline, "no reply to /status"
            time.sleep(0.05)
        assert world.last_call("sendMessage").params["text"] == (
            "Not protected. An admin can run /protect @channel.")
    finally:
        bot.send_signal(signal.SIGTERM)
        _, stderr = bot.communicate(timeout=30)
    assert bot.returncode == 0, stderr
    lines = [json.loads(line) for line in stderr.splitlines()]
    assert any(line["msg"] == "received SIGTERM, stopping" for line in lines)
    [command] = [line for line in lines if line["msg"] == "command"]
    assert (command["command"], command["user_id"], command["group_id"]) == ("status", USER, GROUP)


# -- metrics, health, logs --

async def test_metrics_and_health_endpoints(world: FakeBotApi, runtime: BotRuntime) -> None:
    await protect(runtime, CHANNEL)
    world.send_message(GROUP, USER, "hi")
    await world.wait_for_call("sendMessage")
    assert runtime.metrics_url is not None
    async with httpx.AsyncClient(base_url=runtime.metrics_url) as http:
        response = await http.get("/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        body = response.text
        assert 'fsv_verifications_total{status="failed"} 1.0' in body
        assert re.search(r'fsv_check_latency_seconds_count\{cached="false"\} 1\.0', body)
        assert "fsv_cache_misses_total 1.0" in body
        assert "fsv_cache_hits_total 0.0" in body
        assert "# TYPE fsv_telegram_api_errors_total counter" in body
        assert 'fsv_moderation_actions_total{action="mute"} 1.0' in body
        assert "fsv_protected_groups 1.0" in body

        health = await http.get("/health")
        assert health.status_code == 200
        assert health.json() == {
            "status": "ok", "config_watch": "live", "updates": "receiving", "mode": "polling",
            "protected_groups": 1, "events_pending": health.json()["events_pending"],
            "events_logger": "ok", "events_last_error": None,
            "cache": "memory", "cache_entries": 1, "cache_hit_rate": 0.0,
        }
        runtime.registry.live = False  # as if the Firestore listener were down
        down = await http.get("/health")
        assert down.status_code == 503
        assert down.json()["status"] == "unavailable"
        runtime.registry.live = True


async def test_logs_are_json_with_ids(world: FakeBotApi, runtime: BotRuntime) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    bot_logger = logging.getLogger("fsv_bot")
    bot_logger.addHandler(handler)
    bot_logger.setLevel(logging.INFO)
    try:
        await protect(runtime, CHANNEL)
        world.send_message(GROUP, USER, "hi")
        await world.wait_for_call("sendMessage")
    finally:
        bot_logger.removeHandler(handler)
        bot_logger.setLevel(logging.NOTSET)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    [check] = [line for line in lines if line["msg"] == "membership check"]
    assert check["level"] == "info"
    assert check["logger"] == "fsv_bot.membership"
    assert (check["user_id"], check["group_id"], check["channel_id"]) == (USER, GROUP, CHANNEL)
    assert (check["status"], check["cached"]) == ("failed", False)
    assert check["latency_ms"] >= 0
    [mute] = [line for line in lines if line["msg"] == "mute"]
    assert (mute["user_id"], mute["group_id"], mute["method"]) == (
        USER, GROUP, "restrictChatMember")


# -- webhook mode --

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_webhook_mode(world: FakeBotApi, store: fv.Store) -> None:
    port = free_port()
    settings = Settings.from_env({
        "TELEGRAM_BOT_TOKEN": world.token, "TELEGRAM_API_BASE_URL": world.base_url,
        "FSV_MODE": "webhook", "FSV_WEBHOOK_URL": "https://bot.example.invalid/tg/hook",
        "FSV_WEBHOOK_LISTEN": "127.0.0.1", "FSV_WEBHOOK_PORT": str(port),
        "FSV_WEBHOOK_SECRET": "s3cret", "FSV_METRICS_PORT": "off",
    })
    async with running_bot(settings, store=store) as runtime:
        hook = world.last_call("setWebhook").params
        assert hook["url"] == "https://bot.example.invalid/tg/hook"
        assert hook["secret_token"] == "s3cret"
        assert "chat_member" in hook["allowed_updates"]
        assert not world.calls_to("getUpdates")
        await protect(runtime, CHANNEL)

        message = world.send_message(GROUP, USER, "hi")  # queued: Telegram would POST it
        update = world.pending_updates[-1]
        async with httpx.AsyncClient() as http:
            url = f"http://127.0.0.1:{port}/tg/hook"
            refused = await http.post(url, json=update)
            assert refused.status_code == 403  # no secret: not from Telegram
            accepted = await http.post(url, json=update,
                                       headers={"X-Telegram-Bot-Api-Secret-Token": "s3cret"})
            assert accepted.status_code == 200
        await world.wait_for_call("sendMessage")
        assert world.is_deleted(GROUP, message["message_id"])
        assert world.status(GROUP, USER) == "restricted"
        assert runtime.health()[1]["mode"] == "webhook"


# -- dependencies --

FORBIDDEN = {"sqlalchemy", "asyncpg", "aiosqlite", "alembic"}


def dependency_tree(name: str) -> dict[str, set[str]]:
    """Every distribution ``name`` needs when installed, with the extras asked of each."""
    seen: dict[str, set[str]] = {}
    todo: list[tuple[str, frozenset[str]]] = [(canonicalize_name(name), frozenset())]
    while todo:
        dist_name, extras = todo.pop()
        if dist_name in seen and extras <= seen[dist_name]:
            continue
        seen.setdefault(dist_name, set()).update(extras)
        for raw in metadata.distribution(dist_name).requires or []:
            requirement = Requirement(raw)
            marker = requirement.marker
            if marker is not None and not any(
                marker.evaluate({"extra": extra}) for extra in {"", *extras}
            ):
                continue
            todo.append((canonicalize_name(requirement.name), frozenset(requirement.extras)))
    return seen


def test_the_bot_depends_on_no_sql_stack() -> None:
    tree = dependency_tree("fsv-example-bot")
    assert {"firestore-verify", "python-telegram-bot", "google-cloud-firestore",
            "firebase-admin", "prometheus-client", "tornado"} <= set(tree)
    assert "webhooks" in tree["python-telegram-bot"]
    assert not FORBIDDEN & set(tree), sorted(FORBIDDEN & set(tree))
    assert "pytest" not in tree  # test extras are not part of the bot


def test_the_bot_imports_only_the_public_api() -> None:
    from pathlib import Path

    import fsv_bot

    package = Path(fsv_bot.__file__).parent
    for source in package.glob("*.py"):
        text = source.read_text()
        imports = re.findall(r"^\s*(?:from|import) (firestore_verify[\w.]*)", text, re.M)
        for module in imports:
            assert module in ("firestore_verify", "firestore_verify.testing"), (source, module)
        for name in re.findall(r"\bfv\.(\w+)", text):
            assert name in fv.__all__, (source.name, name)


# -- simulator and demo --

async def test_simulation_drives_the_real_handlers(store: fv.Store) -> None:
    # Lockstep: every action waits until the bot has handled it, so a muted user
    # always finds the bot's warning and the outcome depends only on the seed.
    config = SimulationConfig(groups=3, channels=3, users=40, messages=150, rate=150,
                              member_ratio=0.6, join_ratio=0.8, leave_ratio=0.03, seed=7,
                              lockstep=True)
    async with simulated_bot(store, config) as simulation:
        report = await simulation.run()
    assert report.messages == 150
    assert report.mutes > 0
    assert report.warnings > 0
    assert report.verify_presses > 0
    assert report.joins > 0
    # Each press comes after joining every missing channel, so each one unmutes.
    assert report.unmutes == report.verify_presses
    # Same seed, same run: the outcome does not depend on how fast the bot was.
    assert (report.joins, report.verify_presses, report.leaves, report.mutes,
            report.deleted, report.warnings) == (37, 35, 5, 54, 79, 52)
    stats = report.stats
    assert stats["total_groups"] == 3
    assert stats["total_verifications"] >= 150
    assert stats["total_verifications"] == (
        stats["success_count"] + stats["failed_count"] + stats["error_count"])
    assert stats["failed_count"] > 0
    assert stats["success_count"] > 0
    # The counters are exactly the events written.
    assert (await store.stats.reconcile()).drifted is False


def test_the_demo_board_fits_an_80_by_24_terminal() -> None:
    """The widest values it can show: ten-digit user ids, full chat ids, big totals."""
    big = 10**9
    board = Board(
        stats=fv.Stats(total_groups=big, total_channels=big, total_users=big,
                       total_verifications=big, success_count=big, failed_count=big,
                       error_count=big),
        events=[fv.Verification(user_id=9_999_999_999, group_id=-1001234567890,
                                channel_id=-1009876543210, status=fv.Status.FAILED,
                                latency_ms=99_999.9, cached=False,
                                occurred_at=datetime(2026, 12, 2, tzinfo=timezone.utc))] * EVENTS)
    report = SimulationReport(messages=big, joins=big, verify_presses=big, leaves=big)
    simulation: Any = SimpleNamespace(
        report=report, api=SimpleNamespace(base_url="http://127.0.0.1:65535/bot"),
        runtime=SimpleNamespace(store=SimpleNamespace(project="demo-firestore-verify-1234"),
                                cache=fv.MembershipCache()))
    for colour in (True, False):
        screen = board.render(simulation, colour=colour).split("\n")
        visible = [re.sub(r"\x1b\[[0-9;]*m", "", line) for line in screen]
        assert len(screen) < HEIGHT, f"{len(screen)} lines"
        too_wide = [line for line in visible if len(line) >= WIDTH]
        assert not too_wide, too_wide
    assert "-1001234567890" in board.render(simulation, colour=False)


async def test_demo_board_follows_the_watches(firestore_emulator: object) -> None:
    out = io.StringIO()
    config = SimulationConfig(groups=2, users=20, messages=0, rate=40)
    board = await run_demo(config, out, duration=4, events=5, colour=False)
    assert board.stats is not None
    assert board.stats.total_groups == 2
    assert board.stats.total_verifications > 0
    assert 0 < len(board.events) <= 5
    screen = out.getvalue()
    assert "live from store.stats.watch()" in screen
    assert "live from store.analytics.activity.watch()" in screen
    assert board.updates >= 2
    # Piped: the board once, then a line per change, never a screen-clearing escape.
    assert screen.count("live from store.stats.watch()") == 1
    assert "\x1b" not in screen
    assert "totals: verifications" in screen
