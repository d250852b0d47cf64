"""``migrate --resolve-admins-by-email``: legacy admins without a firebase_uid, on the emulators.

SQLite source (the resolution does not depend on the dialect), the real
command line, Firestore and Firebase Auth emulators. The generated database has
one admin without a ``firebase_uid`` (``nouid@example.com``, role super_admin)
and an audit entry by them; one more (``fresh@example.com``) is added here.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import legacy_schema
import pytest
from legacy_schema import LegacyDb

import firestore_verify as fv
from firestore_verify.auth import Authenticator
from firestore_verify.cli import main
from firestore_verify.testing.auth_emulator import AuthEmulator

PASSWORD = "correct-horse-42"
NOUID_ID = uuid.UUID(int=0xA005)      # the generator's admin without a firebase_uid
NOUID_AUDIT = uuid.UUID(int=0xBF01)   # the generator's audit entry by that admin
FRESH_ID = uuid.UUID(int=0xA0FF)


def _lookup(auth_emulator: AuthEmulator, project: str, email: str) -> dict[str, Any] | None:
    """The Auth emulator's record of ``email`` (its REST API, as an admin), or ``None``."""
    response = httpx.post(
        f"http://{auth_emulator.host}/identitytoolkit.googleapis.com/v1/projects/{project}"
        "/accounts:lookup", json={"email": [email]},
        headers={"Authorization": "Bearer owner"}, trust_env=False)
    response.raise_for_status()
    users = response.json().get("users") or []
    return dict(users[0]) if users else None


def _role_claim(auth_emulator: AuthEmulator, project: str, email: str) -> Any:
    user = _lookup(auth_emulator, project, email)
    assert user is not None, email
    return json.loads(user.get("customAttributes") or "{}").get("role")


@pytest.fixture
def legacy(tmp_path: Path) -> LegacyDb:
    path = tmp_path / "legacy.db"
    conn = sqlite3.connect(path)
    expected = legacy_schema.build(conn, "sqlite", events=200)
    conn.execute("INSERT INTO admin_users (id, firebase_uid, email, full_name, role, is_active) "
                 "VALUES (?, NULL, ?, ?, ?, ?)",
                 (FRESH_ID.hex, "fresh@example.com", "Fresh Admin", "read_only", 1))
    conn.commit()
    conn.close()
    return LegacyDb(f"sqlite:///{path}", "sqlite", expected)


@pytest.fixture
def project(firestore_emulator: Any, auth_project: str) -> Iterator[str]:
    yield auth_project
    firestore_emulator.wipe(auth_project)


@pytest.fixture
def claim_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The uids :meth:`Authenticator.set_role_claim` is called for (the real method runs)."""
    calls: list[str] = []
    real = Authenticator.set_role_claim

    async def spy(self: Authenticator, uid: str, role: fv.Role | str) -> None:
        calls.append(uid)
        await real(self, uid, role)

    monkeypatch.setattr(Authenticator, "set_role_claim", spy)
    return calls


def _admins(project: str, host: str) -> dict[str, dict[str, Any]]:
    async def read() -> dict[str, dict[str, Any]]:
        store = await fv.connect(project=project, emulator_host=host)
        async with store:
            return {s.id: s.to_dict() or {} async for s in store.collection("admin_users").stream()}

    result: dict[str, dict[str, Any]] = anyio.run(read, backend="asyncio")
    return result


def _audit_actor(project: str, host: str, entry: uuid.UUID) -> Any:
    async def read() -> Any:
        store = await fv.connect(project=project, emulator_host=host)
        async with store:
            found = await store.audit.find(str(entry))
            return None if found is None else found.actor_uid

    return anyio.run(read, backend="asyncio")


def test_admins_without_uid_are_resolved_by_email(
        legacy: LegacyDb, project: str, firestore_emulator: Any, auth_emulator: AuthEmulator,
        claim_calls: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    host = firestore_emulator.host
    report_file = tmp_path / "report.json"

    def run(command: str, *extra: str) -> int:
        return main([command, "--from", legacy.url, "--project", project, "--emulator-host",
                     host, "--quiet", *extra])

    def report() -> dict[str, Any]:
        data: dict[str, Any] = json.loads(report_file.read_text())
        return data

    exp = legacy.expected
    resolved = {("admin_users", NOUID_ID.hex), ("admin_audit_log", NOUID_AUDIT.hex)}
    assert resolved <= exp.bad
    still_bad = exp.bad - resolved

    # 1. A dry run resolves nothing in Firebase Auth, and says what would be created.
    flags = ("--resolve-admins-by-email", "--report", str(report_file))
    assert run("migrate", "--dry-run", *flags) == 3
    dry = report()
    assert {(r["table"], r["key"]) for r in dry["bad_rows"]} == still_bad
    assert dry["tables"]["admin_users"]["created"] == exp.good["admin_users"] + 2
    assert dry["tables"]["admin_audit_log"]["created"] == exp.good["admin_audit_log"] + 1
    assert _lookup(auth_emulator, project, "nouid@example.com") is None
    assert _lookup(auth_emulator, project, "fresh@example.com") is None
    assert claim_calls == []
    assert _admins(project, host) == {}

    # 2. The real run finds an existing Firebase user, creates a missing one, mirrors roles.
    nouid_uid, _ = auth_emulator.sign_up(project, "nouid@example.com", PASSWORD)
    assert run("migrate", *flags) == 3
    first = report()
    assert {(r["table"], r["key"]) for r in first["bad_rows"]} == still_bad
    assert first["tables"]["admin_users"]["created"] == exp.good["admin_users"] + 2
    assert first["tables"]["admin_audit_log"]["created"] == exp.good["admin_audit_log"] + 1
    fresh = _lookup(auth_emulator, project, "fresh@example.com")
    assert fresh is not None
    assert fresh.get("displayName") == "Fresh Admin"
    admins = _admins(project, host)
    assert set(admins) == {*exp.admin_uids, nouid_uid, fresh["localId"]}
    assert (admins[nouid_uid]["email"], admins[nouid_uid]["role"]) == ("nouid@example.com",
                                                                       "owner")
    assert admins[fresh["localId"]]["role"] == "viewer"
    assert _role_claim(auth_emulator, project, "nouid@example.com") == "owner"
    assert _role_claim(auth_emulator, project, "fresh@example.com") == "viewer"
    assert sorted(claim_calls) == sorted([nouid_uid, fresh["localId"]])
    assert _audit_actor(project, host, NOUID_AUDIT) == nouid_uid
    auth_emulator.sign_in(project, "nouid@example.com", PASSWORD)  # the password is kept
    capsys.readouterr()

    # 3. check agrees with the option, and sees the resolved admins as extra without it.
    assert run("check", "--resolve-admins-by-email") == 0
    assert "IN SYNC" in capsys.readouterr().out
    assert run("check") == 1
    assert f"{nouid_uid}: in Firestore, not in the source" in capsys.readouterr().out

    # 4. Re-running changes nothing: no writes, no claims set, no tokens revoked.
    claim_calls.clear()
    assert run("migrate", *flags) == 3
    again = report()
    for name, table in again["tables"].items():
        assert (table["created"], table["updated"]) == (0, 0), name
    assert again["tables"]["admin_users"]["unchanged"] == exp.good["admin_users"] + 2
    assert claim_calls == []
    assert _admins(project, host) == admins

    # 5. ... and so does a dry run now (the stored admins are found by email).
    assert run("migrate", "--dry-run", *flags) == 3
    for name, table in report()["tables"].items():
        assert (table["created"], table["updated"]) == (0, 0), name


def test_without_auth_configuration_nothing_is_written(
        legacy: LegacyDb, project: str, firestore_emulator: Any, auth_emulator: AuthEmulator,
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("FIREBASE_AUTH_EMULATOR_HOST")
    code = main(["migrate", "--from", legacy.url, "--project", project, "--emulator-host",
                 firestore_emulator.host, "--quiet", "--resolve-admins-by-email",
                 "--report", str(tmp_path / "r.json")])
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err
    assert "pass --auth-emulator-host" in err
    assert _admins(project, firestore_emulator.host) == {}
