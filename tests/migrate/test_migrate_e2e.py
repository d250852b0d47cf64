"""Migrate a legacy database (SQLite and a real PostgreSQL), check, re-run, mutate, check again.

These run the real command line (``firestore_verify.cli.main``) against the
Firestore emulator, then read Firestore back with a store to verify.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import anyio
import pytest
from legacy_schema import BuildLegacy, LegacyDb

import firestore_verify as fv
from firestore_verify.cli import main
from firestore_verify.rollups import DAILY


def _cli(command: str, db: LegacyDb, project: str, host: str, *extra: str) -> list[str]:
    return [command, "--from", db.url, "--project", project, "--emulator-host", host,
            "--quiet", *extra]


def _snapshot(project: str, host: str) -> dict[str, Any]:
    """What Firestore holds, read back through the library."""

    async def read() -> dict[str, Any]:
        store = await fv.connect(project=project, emulator_host=host)
        async with store:
            counts = {name: await store.collection(name).count().get()
                      for name in ("owners", "protected_groups", "enforced_channels",
                                   "admin_users", "admin_audit_log", "admin_config",
                                   "verifications")}
            groups = {int(s.id): s async for s in store.collection("protected_groups").stream()}
            channels = {int(s.id): (s.to_dict() or {})
                        async for s in store.collection("enforced_channels").stream()}
            admins = {s.id: (s.to_dict() or {})
                      async for s in store.collection("admin_users").stream()}
            daily = {s.id: (s.to_dict() or {}) async for s in store.collection(DAILY).stream()}
            stats_snap = await store.stats.ref.get()
            return {
                "counts": {k: int(v[0][0].value) for k, v in counts.items()},
                "channel_sets": {g: {r["channel_id"] for r in s.to_dict()["enforced_channels"]}
                                 for g, s in groups.items()},
                "group_times": {g: s.update_time for g, s in groups.items()},
                "channels": channels,
                "admins": admins,
                "daily": daily,
                "stats": await store.stats.get(),
                "stats_time": stats_snap.update_time,
                "by_status": {st: int((await store.collection("verifications").where(
                    filter=fv_filter("status", st)).count().get())[0][0].value)
                    for st in ("success", "failed", "error")},
            }

    result: dict[str, Any] = anyio.run(read, backend="asyncio")
    return result


def fv_filter(field: str, value: Any) -> Any:
    from google.cloud.firestore_v1.base_query import FieldFilter

    return FieldFilter(field, "==", value)


def _report(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _assert_migrated(db: LegacyDb, fs: dict[str, Any]) -> None:
    exp = db.expected
    assert fs["counts"] == {
        "owners": exp.good["owners"],
        "protected_groups": exp.good["protected_groups"],
        "enforced_channels": exp.good["enforced_channels"],
        "admin_users": exp.good["admin_users"],
        "admin_audit_log": exp.good["admin_audit_log"],
        "admin_config": exp.good["admin_config"],
        "verifications": exp.good["verification_log"],
    }
    assert fs["channel_sets"] == exp.channel_sets
    # Channels list their groups: the inverse of the channel sets.
    linked: dict[int, set[int]] = {}
    for group, chans in exp.channel_sets.items():
        for channel in chans:
            linked.setdefault(channel, set()).add(group)
    assert {c: set(d["linked_groups"]) for c, d in fs["channels"].items()
            if d["linked_groups"]} == linked
    stats: fv.Stats = fs["stats"]
    assert stats.total_groups == exp.enabled_groups
    assert stats.total_channels == exp.good["enforced_channels"]
    assert stats.total_verifications == exp.good["verification_log"]
    assert stats.success_count == exp.events_by_status["success"]
    assert stats.failed_count == exp.events_by_status["failed"]
    assert stats.error_count == exp.events_by_status["error"]
    assert stats.total_users == len(exp.users)
    assert fs["by_status"] == {k: exp.events_by_status[k] for k in ("success", "failed", "error")}
    assert Counter({d["day"]: d["total"] for d in fs["daily"].values()}) == exp.events_by_day
    # Admins keep role and link to their Firebase uid; password hashes never travel.
    assert sorted(fs["admins"]) == sorted(exp.admin_uids)
    assert fs["admins"]["firebase-uid-0"]["role"] == "owner"
    assert fs["admins"]["firebase-uid-3"]["role"] == "admin"
    assert fs["admins"]["firebase-uid-3"]["is_active"] is False
    assert all("password_hash" not in a for a in fs["admins"].values())


def test_migrate_check_rerun_mutate(make_legacy: BuildLegacy, firestore_emulator: Any,
                                    firestore_project: str, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    db = make_legacy()
    host, project = firestore_emulator.host, firestore_project
    report_file = tmp_path / "report.json"

    # 1. migrate: bad rows are reported (exit 3), everything else lands.
    assert main(_cli("migrate", db, project, host, "--report", str(report_file))) == 3
    report = _report(report_file)
    assert {(r["table"], r["key"]) for r in report["bad_rows"]} == db.expected.bad
    assert report["bad_row_count"] == len(db.expected.bad)
    assert all(r["reason"] for r in report["bad_rows"])
    assert "admin_sessions" in report["ignored_tables"]
    first = _snapshot(project, host)
    _assert_migrated(db, first)
    out = capsys.readouterr().out
    assert "bad row(s)" in out
    assert "verification_log" in out

    # 2. check: in sync, exit 0.
    assert main(_cli("check", db, project, host)) == 0
    assert "IN SYNC" in capsys.readouterr().out

    # 3. migrate again: nothing written, nothing counted twice.
    assert main(_cli("migrate", db, project, host, "--report", str(report_file))) == 3
    again = _report(report_file)
    for name, table in again["tables"].items():
        assert table["created"] == 0, name
        assert table["updated"] == 0, name
    assert again["tables"]["verification_log"]["unchanged"] == db.expected.good["verification_log"]
    assert again["counters"]["repaired"] == {}
    second = _snapshot(project, host)
    assert second["stats"] == first["stats"]
    assert second["stats_time"] == first["stats_time"]
    assert second["group_times"] == first["group_times"]
    assert second["daily"] == first["daily"]
    capsys.readouterr()

    # 4. mutate the source: a new owner, a moved link, one more event.
    group = min(db.expected.channel_sets)
    old_channel = min(db.expected.channel_sets[group])
    new_channel = next(c for c in range(-1002000000039, -1002000000000)
                       if c not in db.expected.channel_sets[group])
    conn: Any = db.connect()
    m = db.mark
    conn.execute(f"INSERT INTO owners (user_id, username) VALUES ({m}, {m})",
                 (777777, "late_owner"))
    conn.execute(f"UPDATE group_channel_links SET channel_id = {m} "
                 f"WHERE group_id = {m} AND channel_id = {m}", (new_channel, group, old_channel))
    conn.execute(f"INSERT INTO verification_log (user_id, group_id, status, timestamp) "
                 f"VALUES ({m}, {m}, {m}, {m})", (9, group, "verified", "2024-05-02 10:00:00"))
    conn.commit()
    conn.close()

    assert main(_cli("check", db, project, host, "--report", str(tmp_path / "c.json"))) == 1
    out = capsys.readouterr().out
    assert "DRIFT" in out
    assert "777777: in the source, missing in Firestore" in out
    assert f"group {group}: missing in Firestore [{new_channel}]; not in the source " \
           f"[{old_channel}]" in out
    assert "events by day" in out
    assert "2024-05-02" in out
    assert "total_verifications" in out
    drift = _report(tmp_path / "c.json")
    assert drift["in_sync"] is False
    assert {d["area"] for d in drift["differences"]} >= {
        "owners", "channel sets", "linked groups", "events by status", "events by day",
        "counters", "verification_log"}

    # 5. migrating again repairs the drift: in sync.
    assert main(_cli("migrate", db, project, host, "--report", str(report_file))) == 3
    assert main(_cli("check", db, project, host)) == 0


def test_dry_run_writes_nothing(make_legacy: BuildLegacy, firestore_emulator: Any,
                                firestore_project: str, tmp_path: Path) -> None:
    db = make_legacy(events=300)
    host, project = firestore_emulator.host, firestore_project
    report_file = tmp_path / "dry.json"
    assert main(_cli("migrate", db, project, host, "--dry-run", "--report",
                     str(report_file))) == 3
    report = _report(report_file)
    assert report["dry_run"] is True
    assert report["tables"]["owners"]["created"] == db.expected.good["owners"]
    assert report["tables"]["verification_log"]["created"] == 300
    assert report["counters"]["expected"]["total_groups"] == db.expected.enabled_groups
    fs = _snapshot(project, host)
    assert set(fs["counts"].values()) == {0}
    assert fs["stats"] == fv.Stats()


def test_old_deployment(make_legacy: BuildLegacy, firestore_emulator: Any,
                        firestore_project: str, tmp_path: Path,
                        capsys: pytest.CaptureFixture[str]) -> None:
    db = make_legacy(old=True)
    host, project = firestore_emulator.host, firestore_project
    report_file = tmp_path / "old.json"
    assert main(_cli("migrate", db, project, host, "--report", str(report_file))) == 3
    report = _report(report_file)
    assert report["tables"]["verification_log"]["skipped"]
    assert {(r["table"], r["key"]) for r in report["bad_rows"]} == db.expected.bad
    fs = _snapshot(project, host)
    assert fs["counts"]["verifications"] == 0
    assert fs["channel_sets"] == db.expected.channel_sets
    assert all(d.get("subscriber_count") is None for d in fs["channels"].values())
    assert fs["stats"].total_groups == db.expected.enabled_groups
    capsys.readouterr()
    assert main(_cli("check", db, project, host)) == 0
    assert "(not in source)" in capsys.readouterr().out
