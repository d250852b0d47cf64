"""The Python API and the docs examples of the migration, against the emulator (SQLite source)."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import legacy_schema
import pytest

import firestore_verify as fv
from firestore_verify.migrate import check, migrate, open_source
from firestore_verify.migrate import sqlite as sqlite_module
from firestore_verify.migrate.event_import import WINDOW_BATCHES, EventImporter

DOCS_EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"


def _legacy(tmp_path: Path, **options: Any) -> tuple[str, legacy_schema.Expected]:
    path = tmp_path / "bot.db"
    conn = sqlite3.connect(path)
    expected = legacy_schema.build(conn, "sqlite", **options)
    conn.close()
    return f"sqlite:///{path}", expected


def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"docs_example_{path.stem}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.anyio
async def test_docs_example_migrate_then_check(store: fv.Store, tmp_path: Path) -> None:
    url, expected = _legacy(tmp_path, events=200)
    example = _load(DOCS_EXAMPLES / "migrate_from_sql.py")
    report_path = tmp_path / "report.json"
    assert await example.migrate_then_check(store, url, str(report_path)) is True
    report = json.loads(report_path.read_text())
    assert {(r["table"], r["key"]) for r in report["bad_rows"]} == expected.bad


def test_docs_cutover_script(firestore_emulator: Any, firestore_project: str,
                             tmp_path: Path) -> None:
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("bash is not installed")
    url, _ = _legacy(tmp_path, events=100)
    env = {**os.environ, "SOURCE_URL": url, "FIREBASE_PROJECT_ID": firestore_project,
           "FIRESTORE_EMULATOR_HOST": firestore_emulator.host,
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run([bash, str(DOCS_EXAMPLES / "migrate_cutover.sh")], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "IN SYNC" in done.stdout
    for name in ("dry-run.json", "migration-report.json", "final-report.json",
                 "check-report.json"):
        assert (tmp_path / name).is_file()
    final = json.loads((tmp_path / "final-report.json").read_text())
    assert all(t["created"] == 0 and t["updated"] == 0 for t in final["tables"].values())


@pytest.mark.anyio
async def test_events_stream_through_in_bounded_batches(
    store: fv.Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows are pulled from the source only as fast as they are written: never the whole table."""
    url, expected = _legacy(tmp_path, events=3000)
    yielded = {"rows": 0}
    original_stream = sqlite_module.SqliteSource._stream

    def counting_stream(self: Any, sql: str, batch_size: int) -> Any:
        for row in original_stream(self, sql, batch_size):
            yielded["rows"] += 1
            yield row

    in_flight: list[int] = []
    handed = {"events": 0}
    original_write = EventImporter._write

    async def recording_write(self: EventImporter, events: list[fv.Verification]) -> None:
        in_flight.append(yielded["rows"] - handed["events"])
        handed["events"] += len(events)
        await original_write(self, events)

    monkeypatch.setattr(sqlite_module.SqliteSource, "_stream", counting_stream)
    monkeypatch.setattr(EventImporter, "_write", recording_write)
    with open_source(url) as source:
        yielded["rows"] = 0  # count only the verification log (streamed last)
        report = await migrate(source, store, batch_size=50, concurrency=4)
    bad_events = sum(1 for table, _ in expected.bad if table == "verification_log")
    assert handed["events"] == 3000
    assert len(in_flight) >= 3000 // 50  # at most 50 events per commit
    # Rows read but not yet committed, at every commit: chunks being read, waiting and
    # dealt and, per lane, a window (two batches) filling, one waiting and the rest of the
    # one being committed (plus skipped bad rows); the rows of the other tables, read
    # before, are a constant offset.
    others = sum(t.source_rows for name, t in report.tables.items() if name != "verification_log")
    held = 3 * 50 + 4 * 3 * WINDOW_BATCHES * 50
    assert held < 3000
    assert all(n - others <= held + bad_events for n in in_flight)
    assert report.tables["verification_log"].created == 3000


@pytest.mark.anyio
async def test_prefix_isolates_the_migration(store: fv.Store, tmp_path: Path) -> None:
    url, expected = _legacy(tmp_path, events=50)
    prefixed = await fv.connect(project=store.project, emulator_host=store.settings.emulator_host,
                                prefix="legacy_")
    async with prefixed:
        with open_source(url) as source:
            await migrate(source, prefixed)
            assert (await check(source, prefixed)).in_sync
            unprefixed = await check(source, store)
        assert await prefixed.owners.count() == expected.good["owners"]
    assert not unprefixed.in_sync
    assert await store.owners.count() == 0
