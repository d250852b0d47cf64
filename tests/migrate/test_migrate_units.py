"""Fast tests of the migration pieces: values, mapping, catalog, sources, report, progress, CLI."""

from __future__ import annotations

import io
import json
import sqlite3
import sys
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from firestore_verify.cli import main
from firestore_verify.errors import ConfigurationError
from firestore_verify.migrate import LEGACY_TABLES, MigrationReport, open_source, redact_url
from firestore_verify.migrate import mapping as m
from firestore_verify.migrate.catalog import build_catalog
from firestore_verify.migrate.progress import Progress
from firestore_verify.migrate.schema import LegacyTable
from firestore_verify.migrate.sqlite import sqlite_path
from firestore_verify.migrate.values import (
    BadValue,
    check_storable,
    to_bool,
    to_datetime,
    to_json,
    to_uuid,
)
from firestore_verify.migrate.writer import same_value

UTC = timezone.utc


# -- values ------------------------------------------------------------------------------
@pytest.mark.parametrize(("raw", "expected"), [
    ("2024-05-01 12:30:00", datetime(2024, 5, 1, 12, 30, tzinfo=UTC)),            # naive = UTC
    ("2024-05-01 12:30:00.5", datetime(2024, 5, 1, 12, 30, 0, 500000, tzinfo=UTC)),
    ("2024-05-01T14:30:00+02", datetime(2024, 5, 1, 12, 30, tzinfo=UTC)),         # psql style
    ("2024-05-01T12:30:00Z", datetime(2024, 5, 1, 12, 30, tzinfo=UTC)),
    (datetime(2024, 5, 1, 12, 30), datetime(2024, 5, 1, 12, 30, tzinfo=UTC)),
    (datetime(2024, 5, 1, 14, 30, tzinfo=timezone(timedelta(hours=2))),
     datetime(2024, 5, 1, 12, 30, tzinfo=UTC)),
    (1714566600, datetime(2024, 5, 1, 12, 30, tzinfo=UTC)),
    (None, None),
    ("", None),
])
def test_to_datetime(raw: Any, expected: datetime | None) -> None:
    assert to_datetime(raw, "created_at") == expected


def test_to_datetime_rejects_junk() -> None:
    with pytest.raises(BadValue, match="created_at: 'yesterday' is not a timestamp"):
        to_datetime("yesterday", "created_at")


@pytest.mark.parametrize(("raw", "expected"), [
    (1, True), (0, False), ("t", True), ("FALSE", False), (True, True), (None, True)])
def test_to_bool(raw: Any, expected: bool) -> None:
    assert to_bool(raw, "enabled", True) is expected


def test_to_bool_rejects_other_values() -> None:
    with pytest.raises(BadValue, match="enabled"):
        to_bool(2, "enabled", True)


def test_to_json() -> None:
    assert to_json('{"a": [1, 2]}', "params") == {"a": [1, 2]}
    assert to_json(b'"text"', "value") == "text"
    assert to_json({"already": "parsed"}, "value") == {"already": "parsed"}
    assert to_json(5, "value") == 5  # SQLite's NUMERIC affinity turns '5' into 5
    with pytest.raises(BadValue, match="params: invalid JSON"):
        to_json("{not json", "params")


def test_to_uuid_accepts_every_storage() -> None:
    value = uuid.uuid4()
    assert to_uuid(value, "id") == to_uuid(value.hex, "id") == to_uuid(str(value).upper(), "id")
    assert to_uuid(value.bytes, "id") == str(value)
    with pytest.raises(BadValue):
        to_uuid("nope", "id")


def test_check_storable() -> None:
    check_storable({"a": [1, {"b": [2]}]}, "value")
    with pytest.raises(BadValue, match="array directly inside an array"):
        check_storable([[1]], "value")
    with pytest.raises(BadValue, match="64 bits"):
        check_storable({"n": 2**70}, "value")
    with pytest.raises(BadValue, match="1 MiB"):
        check_storable("x" * 1_100_000, "value")


def test_same_value() -> None:
    stamp = datetime(2024, 5, 1, tzinfo=UTC)
    assert same_value({"a": [1, stamp]}, {"a": [1, stamp.astimezone(timezone(timedelta(hours=3)))]})
    assert not same_value(True, 1)
    assert not same_value({"a": 1}, {"a": 1, "b": None})


# -- mapping -------------------------------------------------------------------------------
def _reason(build: Any, row: dict[str, Any]) -> str:
    with pytest.raises(m.BadRowError) as caught:
        build(row)
    return caught.value.reason


def test_owner_errors_name_the_legacy_column() -> None:
    assert _reason(m.owner, {"user_id": 0}).startswith("user_id: ")
    owner = m.owner({"user_id": "42", "username": " @alice_x ", "created_at": "2024-01-01"})
    assert owner.id == 42
    assert owner.username == "alice_x"
    assert owner.created_at == datetime(2024, 1, 1, tzinfo=UTC)


def test_group_mapping() -> None:
    row = {"group_id": -100, "owner_id": 1, "title": "G", "enabled": 0,
           "params": '{"warning_template": "join"}', "member_count": None}
    group = m.protected_group(row)
    assert group.enabled is False
    assert group.params == {"warning_template": "join"}
    assert _reason(m.protected_group, {**row, "group_id": 100}).startswith("group_id: ")
    assert "title: empty" in _reason(m.protected_group, {**row, "title": " "})
    assert "params: invalid JSON" in _reason(m.protected_group, {**row, "params": "{x"})
    assert "JSON object was expected" in _reason(m.protected_group, {**row, "params": "[1]"})


def test_channel_mapping() -> None:
    row = {"channel_id": -200, "title": "News", "username": None, "invite_link": "t.me/x"}
    assert _reason(m.enforced_channel, row).startswith("invite_link: ")
    assert m.enforced_channel({**row, "invite_link": None}).subscriber_count is None


def test_verification_mapping() -> None:
    row = {"id": 7, "user_id": 5, "group_id": -100, "channel_id": -200, "status": "restricted",
           "latency_ms": Decimal("12.5"), "cached": 1, "error_type": None,
           "timestamp": "2024-05-01 23:59:59.999999"}
    event = m.verification(row)
    assert event.id == "legacy-7"
    assert event.status.value == "failed"
    assert event.cached is True
    assert event.latency_ms == 12.5
    assert "unknown status 'pending'" in _reason(m.verification, {**row, "status": "pending"})
    assert _reason(m.verification, {**row, "user_id": 0}).startswith("user_id: ")
    assert _reason(m.verification, {**row, "group_id": 5}).startswith("group_id: ")
    assert _reason(m.verification, {**row, "timestamp": None}).startswith("timestamp: empty")


def test_admin_mapping_never_needs_the_password() -> None:
    row = {"id": uuid.uuid4(), "firebase_uid": "uid-1", "email": "a@b.co", "role": "Super_Admin",
           "is_active": "t", "telegram_id": None, "created_at": None, "last_login": None}
    admin = m.admin_user(row)
    assert admin.role.value == "owner"
    assert "password_hash" not in admin.to_document()
    assert "firebase_uid: empty" in _reason(m.admin_user, {**row, "firebase_uid": None})
    assert "unknown role 'janitor'" in _reason(m.admin_user, {**row, "role": "janitor"})


def test_config_mapping() -> None:
    row = {"key": "cache_ttl", "value": "300", "description": None, "is_sensitive": None,
           "updated_by": None, "updated_at": None}
    assert m.config_entry(row).value == 300
    assert _reason(m.config_entry, {**row, "key": "bad key"}).startswith("key: ")
    assert "invalid JSON" in _reason(m.config_entry, {**row, "value": "{oops"})


# -- catalog -------------------------------------------------------------------------------
def _reader(tables: dict[str, list[dict[str, Any]]]) -> Any:
    def read(spec: LegacyTable) -> list[dict[str, Any]]:
        rows = tables.get(spec.name, [])
        return [{c: row.get(c) for c in spec.columns} for row in rows]

    return read


def test_catalog_reports_dangling_and_dependent_rows() -> None:
    report = MigrationReport(source="test", target={})
    catalog = build_catalog(_reader({
        "owners": [{"user_id": 1}, {"user_id": 2, "username": "x!"}],
        "enforced_channels": [{"channel_id": -200, "title": "A"}, {"channel_id": -201}],
        "protected_groups": [
            {"group_id": -100, "owner_id": 1, "title": "G"},
            {"group_id": -101, "owner_id": 2, "title": "Bad owner"},
            {"group_id": -102, "owner_id": 9, "title": "Dangling owner"},
        ],
        "group_channel_links": [
            {"id": 1, "group_id": -100, "channel_id": -200},
            {"id": 2, "group_id": -100, "channel_id": -201},
            {"id": 3, "group_id": -101, "channel_id": -200},
            {"id": 4, "group_id": -100, "channel_id": -200},
        ],
    }), report)
    assert catalog.channel_sets() == {-100: {-200}}
    assert catalog.channels[-200].linked_groups == [-100]
    reasons = {(r.table, r.key): r.reason for r in report.bad_rows()}
    assert reasons[("protected_groups", -101)] == (
        "owner_id: 2 references a bad owners row (see that row)")
    assert reasons[("protected_groups", -102)] == (
        "owner_id: dangling foreign key, 9 is not in owners")
    assert "references a bad enforced_channels row" in reasons[("group_channel_links", 2)]
    assert "references a bad protected_groups row" in reasons[("group_channel_links", 3)]
    assert "duplicate link" in reasons[("group_channel_links", 4)]
    assert report.tables["group_channel_links"].embedded == 1


def test_catalog_admins_and_duplicate_uids() -> None:
    first, second = uuid.uuid4(), uuid.uuid4()
    report = MigrationReport(source="test", target={})
    catalog = build_catalog(_reader({"admin_users": [
        {"id": first.hex, "firebase_uid": "u1", "email": "a@b.co", "role": "admin"},
        {"id": str(second), "firebase_uid": "u1", "email": "c@d.co", "role": "admin"},
    ]}), report)
    assert catalog.admin_uids == {str(first): "u1"}
    assert [r.reason for r in report.bad_rows()] == [
        "firebase_uid: 'u1' is used by another admin user"]


# -- sources -------------------------------------------------------------------------------
def test_redact_url() -> None:
    assert redact_url("postgresql://bot:s3cret@db:5432/bot") == "postgresql://bot:***@db:5432/bot"
    assert redact_url("sqlite:////srv/bot.db") == "sqlite:////srv/bot.db"


def test_sqlite_paths() -> None:
    assert sqlite_path("sqlite:///bot.db") == Path("bot.db")
    assert sqlite_path("sqlite+aiosqlite:////srv/bot.db") == Path("/srv/bot.db")
    with pytest.raises(ConfigurationError, match="names no database file"):
        sqlite_path("sqlite://")


def test_open_source_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError, match="sqlite:///path"):
        open_source("mysql://u:p@h/db")
    with pytest.raises(ConfigurationError, match="does not exist"):
        open_source(f"sqlite:///{tmp_path}/missing.db")
    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(ConfigurationError, match=r"pip install 'firestore-verify\[postgres\]'"):
        open_source("postgresql://u@127.0.0.1:1/db")


def test_sqlite_source_streams_and_fills_missing_columns(tmp_path: Path) -> None:
    path = tmp_path / "bot.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE enforced_channels (channel_id BIGINT PRIMARY KEY, title TEXT)")
    conn.executemany("INSERT INTO enforced_channels VALUES (?, ?)",
                     [(-i, f"c{i}") for i in range(1, 8)])
    conn.execute("CREATE TABLE owners (username TEXT)")
    conn.commit()
    conn.close()
    with open_source(f"sqlite:///{path}") as source:
        spec = LEGACY_TABLES["enforced_channels"]
        rows = list(source.rows(spec, batch_size=2))
        assert source.count(spec) == 7
        assert rows[0] == {"channel_id": -7, "title": "c7", "username": None, "invite_link": None,
                           "subscriber_count": None, "created_at": None, "updated_at": None}
        assert not source.has_table("verification_log")
        assert list(source.rows(LEGACY_TABLES["verification_log"])) == []
        with pytest.raises(ConfigurationError, match="no column"):
            list(source.rows(LEGACY_TABLES["owners"]))


# -- report and progress ----------------------------------------------------------------------
def test_report_json_streams_every_bad_row(tmp_path: Path) -> None:
    report = MigrationReport(source="sqlite:///x.db", target={"project": "p"})
    report.table("owners", "owners").created = 3
    for i in range(25):
        report.bad("owners", i, f"reason {i}")
    report.finish()
    data = json.loads(report.write_json(tmp_path / "r.json").read_text())
    assert data["bad_row_count"] == 25
    assert data["bad_rows"][24] == {"table": "owners", "key": 24, "reason": "reason 24"}
    assert data["tables"]["owners"]["created"] == 3
    summary = report.summary()
    assert "25 bad row(s) were reported" in summary
    assert "... and 15 more" in summary
    empty = MigrationReport(source="s", target={})
    assert json.loads(empty.write_json(tmp_path / "e.json").read_text())["bad_rows"] == []


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_rendering() -> None:
    out = _Tty()
    bar = Progress(out).bar("owners", 4)
    for _ in bar.track(range(4)):
        pass
    text = out.getvalue()
    assert text.startswith("\r")
    assert "4/4" in text
    assert "100%" in text
    assert "rows/s" in text
    silent = io.StringIO()
    Progress(silent, enabled=False).bar("x", 1).done()
    assert silent.getvalue() == ""


# -- command line --------------------------------------------------------------------------
def test_cli_usage_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["migrate"])
    assert exit_info.value.code == 2
    assert main(["migrate", "--from", "oracle://x", "--project", "p"]) == 2
    assert "sqlite:///path" in capsys.readouterr().err
    db = tmp_path / "x.db"
    sqlite3.connect(db).close()
    assert main(["check", "--from", f"sqlite:///{db}", "--batch-size", "501",
                 "--project", "p", "--emulator-host", "127.0.0.1:1"]) == 2
    assert "between 1 and 500" in capsys.readouterr().err
