"""Every code example of the docs runs against the emulator."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

import firestore_verify as fv

pytestmark = pytest.mark.anyio
EXAMPLES = Path(__file__).resolve().parent.parent / "docs" / "examples"
# Modules with `async def main(store)`; pytest files in docs/examples run on their own.
MAIN_EXAMPLES = sorted(
    p for p in EXAMPLES.glob("*.py")
    if not p.name.startswith(("test_", "conftest")) and "async def main(store" in p.read_text()
)


def load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"docs_example_{path.stem}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_examples_are_found() -> None:
    assert {p.stem for p in MAIN_EXAMPLES} >= {"log_verifications", "analytics_summary",
                                               "live_totals"}


@pytest.mark.parametrize("path", MAIN_EXAMPLES, ids=lambda p: p.stem)
async def test_example_runs(path: Path, store: fv.Store) -> None:
    await load(path).main(store)


async def test_rules_deploy_example_writes_the_packaged_files(tmp_path: Path) -> None:
    from importlib import resources

    files = load(EXAMPLES / "rules_deploy.py").write_deploy_files(tmp_path)
    packaged = resources.files("firestore_verify")
    assert files["firestore.rules"] == (packaged / "firestore.rules").read_text()
    assert files["firestore.indexes.json"] == (packaged / "firestore.indexes.json").read_text()
    assert json.loads(files["firebase.json"]) == {
        "firestore": {"rules": "firestore.rules", "indexes": "firestore.indexes.json"}}


async def test_browser_example_shows_typed_masked_documents(store: fv.Store) -> None:
    shown = await load(EXAMPLES / "browser_page.py").main(store)
    assert shown == [
        {"id": "bot_token", "masked": ["value"], "fields": {
            "description": {"type": "null", "value": None},
            "is_sensitive": {"type": "boolean", "value": True},
            "updated_at": shown[0]["fields"]["updated_at"],
            "updated_by": {"type": "null", "value": None},
            "value": {"type": "string", "value": "********"}}},
        {"id": "warn_after_seconds", "masked": [], "fields": {
            "description": {"type": "null", "value": None},
            "is_sensitive": {"type": "boolean", "value": False},
            "updated_at": shown[1]["fields"]["updated_at"],
            "updated_by": {"type": "null", "value": None},
            "value": {"type": "integer", "value": 30}}},
    ]
    assert shown[0]["fields"]["updated_at"]["type"] == "timestamp"


async def test_reliability_example_fails_fast_and_reports_health(store: fv.Store) -> None:
    outcome, stale, health = await load(EXAMPLES / "reliability.py").main(store)
    assert outcome == f"unavailable: {stale}"
    assert (health.status, health.pending, health.consecutive_errors) == ("ok", 0, 0)
    assert health.last_commit_at is not None
    assert (await store.stats.get()).total_verifications == 1


async def test_fleet_example_counts_both_processes_once(store: fv.Store) -> None:
    statuses = await load(EXAMPLES / "fleet_leases.py").main(store)
    assert statuses == ["ok", "ok"]
    stats = await store.stats.get()
    assert (stats.total_verifications, stats.total_users) == (100, 100)
    leases = store.collection("_metadata").document("leases").collection("shards")
    assert [s.id async for s in leases.stream()] == []  # both gave their shards back


async def test_cache_hits_example_folds_thirty_hits_into_one_document(store: fv.Store) -> None:
    line = await load(EXAMPLES / "cache_hits.py").main(store)
    assert line == ("recorded 30, folded 29, event documents 1, total_verifications 30")
    drift = await store.stats.reconcile()
    assert not drift.fixed


def test_the_tutorial_runs_as_written_and_prints_what_the_docs_say(tmp_path: Path) -> None:
    """Getting started shows the tutorial inline (readable on GitHub): the same file the
    test runs, as a new user would (its own emulator, from a fresh directory)."""
    import re
    import subprocess
    import sys

    source = (EXAMPLES / "tutorial.py").read_text()
    page = (EXAMPLES.parent / "getting-started.md").read_text()
    blocks = re.findall(r"```(\w+)\n(.*?)```", page, flags=re.S)
    assert ("python", source) in blocks, "getting-started.md shows another tutorial.py"
    (tmp_path / "tutorial.py").write_text(source)
    done = subprocess.run([sys.executable, "tutorial.py"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    printed = next(text for kind, text in blocks if kind == "text")
    assert done.stdout == printed


async def test_retention_example_stamps_the_expiry(store: fv.Store) -> None:
    assert await load(EXAMPLES / "retention.py").main(store) == "kept for 90 days"
