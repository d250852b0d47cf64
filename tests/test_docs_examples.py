"""Every code example of the docs runs against the emulator and prints what its page shows.

A page shows an example's output in a ``text`` block right after a marker line,
``<!-- output: docs/examples/NAME.py -->``; the tests run the example, capture what
it prints and compare. (``tests/test_docs_snippets.py`` checks the code shown.)
"""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import firestore_verify as fv
from firestore_verify.testing import FirestoreEmulator, RedisServer

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "docs" / "examples"
# Modules with `async def main(store)`; pytest files in docs/examples run on their own.
MAIN_EXAMPLES = sorted(
    p for p in EXAMPLES.glob("*.py")
    if not p.name.startswith(("test_", "conftest")) and "async def main(store" in p.read_text()
)
# Examples a page shows without their output, and why.
NO_OUTPUT = {
    "getting_started": "its pages show connect() only, which needs a real project",
}
# Examples whose output the tests below check, each with its own runner.
OTHER_RUNNERS = {"tutorial", "redis_cache", "redis_degraded", "emulator_standalone"}
# Examples whose output other tests check against the page (they need an app, or
# the Auth emulator).
APP_RUNNERS = {"admin_api_client": "examples/api/tests/test_docs_example.py",
               "auth_sign_in": "tests/test_auth.py"}


def load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"docs_example_{path.stem}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def shown_outputs() -> dict[str, list[str]]:
    """Every output block of the pages: {example file name: [block text, ...]}."""
    snippets = load(ROOT / "scripts" / "docs_snippets.py")
    shown: dict[str, list[str]] = {}
    for page in sorted((ROOT / "docs").glob("*.md")):
        for block in snippets.find_blocks(page.read_text(encoding="utf-8"), "output"):
            path = ROOT / block.target
            assert path.parent == EXAMPLES, f"{page.name}: {block.target} is no docs example"
            assert block.opening == "```text", f"{page.name}: {block.target}: not a text block"
            shown.setdefault(path.name, []).append(block.content)
    return shown


SHOWN = shown_outputs()


def shown(name: str) -> str:
    """What the pages show ``docs/examples/name`` printing."""
    blocks = SHOWN.get(name)
    assert blocks, f"no page shows the output of {name} (<!-- output: docs/examples/{name} -->)"
    assert len(set(blocks)) == 1, f"the pages show {name} printing different things"
    return blocks[0]


def test_examples_are_found() -> None:
    assert {p.stem for p in MAIN_EXAMPLES} >= {"log_verifications", "analytics_summary",
                                               "live_totals"}


def test_every_output_block_is_checked() -> None:
    checked = {f"{p.stem}.py" for p in MAIN_EXAMPLES if p.stem not in NO_OUTPUT}
    checked |= {f"{stem}.py" for stem in OTHER_RUNNERS | set(APP_RUNNERS)}
    assert set(SHOWN) == checked
    for stem, runner in APP_RUNNERS.items():
        assert f"{stem}.py" in (ROOT / runner).read_text(), f"{runner} does not run {stem}"
    assert not {f"{stem}.py" for stem in NO_OUTPUT} & set(SHOWN), "NO_OUTPUT is stale"


# -- what an example returns, beyond what it prints -------------------------------------


async def browser_page(shown: list[dict[str, Any]], store: fv.Store) -> None:
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


async def reliability(result: tuple[str, str, fv.LoggerHealth], store: fv.Store) -> None:
    outcome, stale, health = result
    assert outcome == f"unavailable: {stale}"
    assert health.last_commit_at is not None
    assert (await store.stats.get()).total_verifications == 1


async def fleet_leases(statuses: list[str], store: fv.Store) -> None:
    stats = await store.stats.get()
    assert (stats.total_verifications, stats.total_users) == (100, 100)
    leases = store.collection("_metadata").document("leases").collection("shards")
    assert [s.id async for s in leases.stream()] == []  # both gave their shards back


async def cache_hits(line: str, store: fv.Store) -> None:
    drift = await store.stats.reconcile()
    assert not drift.fixed


CHECKS: dict[str, Callable[[Any, fv.Store], Awaitable[None]]] = {
    "browser_page": browser_page, "reliability": reliability, "fleet_leases": fleet_leases,
    "cache_hits": cache_hits,
}


@pytest.mark.parametrize("path", MAIN_EXAMPLES, ids=lambda p: p.stem)
async def test_example_prints_what_its_page_shows(path: Path, store: fv.Store,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    result = await load(path).main(store)
    printed = capsys.readouterr().out
    if path.stem not in NO_OUTPUT:
        assert printed == shown(path.name)
    if path.stem in CHECKS:
        await CHECKS[path.stem](result, store)


def test_the_tutorial_runs_as_written_and_prints_what_the_docs_say(tmp_path: Path) -> None:
    """Getting started shows the tutorial inline (its snippet block is checked): the same
    file the test runs, as a new user would (its own emulator, from a fresh directory)."""
    import subprocess

    source = (EXAMPLES / "tutorial.py").read_text()
    (tmp_path / "tutorial.py").write_text(source)
    done = subprocess.run([sys.executable, "tutorial.py"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout == shown("tutorial.py")


async def test_redis_cache_example_prints_what_its_page_shows(
        redis_server: RedisServer, capsys: pytest.CaptureFixture[str]) -> None:
    await load(EXAMPLES / "redis_cache.py").main(redis_server.url)
    assert capsys.readouterr().out == shown("redis_cache.py")


@pytest.mark.usefixtures("redis_server")  # skips where redis-server is missing
async def test_redis_degraded_example_prints_what_its_page_shows(
        capsys: pytest.CaptureFixture[str]) -> None:
    await load(EXAMPLES / "redis_degraded.py").main()  # it starts and stops its own server
    assert capsys.readouterr().out == shown("redis_degraded.py")


def test_standalone_emulator_example_prints_what_its_page_shows(
        firestore_emulator: FirestoreEmulator, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    module = load(EXAMPLES / "emulator_standalone.py")  # on the session's emulator
    monkeypatch.setattr(module, "FirestoreEmulator",
                        lambda: FirestoreEmulator.attach(firestore_emulator.host))
    module.main()
    assert capsys.readouterr().out == shown("emulator_standalone.py")


async def test_rules_deploy_example_writes_the_packaged_files(tmp_path: Path) -> None:
    from importlib import resources

    files = load(EXAMPLES / "rules_deploy.py").write_deploy_files(tmp_path)
    packaged = resources.files("firestore_verify")
    assert files["firestore.rules"] == (packaged / "firestore.rules").read_text()
    assert files["firestore.indexes.json"] == (packaged / "firestore.indexes.json").read_text()
    assert json.loads(files["firebase.json"]) == {
        "firestore": {"rules": "firestore.rules", "indexes": "firestore.indexes.json"}}
