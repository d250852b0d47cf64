"""``firestore-verify admins``: the real command line on the Firestore and Auth emulators.

The CLI runs in process (``firestore_verify.cli.main``); Firebase Auth is the
emulator of the session (``FIREBASE_AUTH_EMULATOR_HOST`` is set by the
``auth_emulator`` fixture), Firestore the emulator of the plugin.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import pytest

import firestore_verify as fv
from firestore_verify.cli import main
from firestore_verify.testing.auth_emulator import AuthEmulator

PASSWORD = "correct-horse-42"


class Cli:
    """Runs ``firestore-verify admins ...`` against one demo project."""

    def __init__(self, project: str, host: str, capsys: pytest.CaptureFixture[str]) -> None:
        self.project, self.host, self.capsys = project, host, capsys

    def __call__(self, action: str, *args: str) -> tuple[int, str, str]:
        """Run ``admins ACTION ARGS...``; return (exit code, stdout, stderr)."""
        self.capsys.readouterr()
        code = main(["admins", action, "--project", self.project,
                     "--emulator-host", self.host, *args])
        out, err = self.capsys.readouterr()
        return code, out, err

    def admins(self) -> dict[str, fv.AdminUser]:
        """The stored admins by email."""

        async def read() -> dict[str, fv.AdminUser]:
            store = await fv.connect(project=self.project, emulator_host=self.host)
            async with store:
                return {a.email: a async for a in store.admins.iterate()}

        result: dict[str, fv.AdminUser] = anyio.run(read, backend="asyncio")
        return result

    def audit_actions(self) -> list[tuple[str, str | None, str]]:
        """(action, resource id, actor uid) of every audit entry, oldest first."""

        async def read() -> list[tuple[str, str | None, str]]:
            store = await fv.connect(project=self.project, emulator_host=self.host)
            async with store:
                page = await store.audit.latest(limit=100)
                return [(e.action, e.resource_id, e.actor_uid) for e in reversed(page.items)]

        result: list[tuple[str, str | None, str]] = anyio.run(read, backend="asyncio")
        return result


def lookup(auth_emulator: AuthEmulator, project: str, email: str) -> dict[str, Any] | None:
    """The Auth emulator's record of ``email`` (its REST API, as an admin), or ``None``."""
    response = httpx.post(
        f"http://{auth_emulator.host}/identitytoolkit.googleapis.com/v1/projects/{project}"
        "/accounts:lookup", json={"email": [email]},
        headers={"Authorization": "Bearer owner"}, trust_env=False)
    response.raise_for_status()
    users = response.json().get("users") or []
    return dict(users[0]) if users else None


def claims(auth_emulator: AuthEmulator, project: str, email: str) -> dict[str, Any]:
    user = lookup(auth_emulator, project, email)
    assert user is not None, email
    result: dict[str, Any] = json.loads(user.get("customAttributes") or "{}")
    return result


@pytest.fixture
def cli(firestore_emulator: Any, auth_project: str,
        capsys: pytest.CaptureFixture[str]) -> Iterator[Cli]:
    yield Cli(auth_project, firestore_emulator.host, capsys)
    firestore_emulator.wipe(auth_project)


def _one_line(err: str) -> str:
    assert "Traceback" not in err
    assert err.strip(), err
    assert "\n" not in err.strip(), err
    return err


def test_add_list_set_role_deactivate_activate(cli: Cli, auth_emulator: AuthEmulator) -> None:
    code, out, err = cli("add", "--email", "ada@example.com", "--role", "owner",
                         "--name", "Ada Lovelace", "--password", PASSWORD)
    assert (code, err) == (0, "")
    ada = cli.admins()["ada@example.com"]
    assert f"added ada@example.com ({ada.uid}) as owner" in out
    assert (ada.role, ada.is_active, ada.full_name) == (fv.Role.OWNER, True, "Ada Lovelace")
    assert claims(auth_emulator, cli.project, "ada@example.com")["role"] == "owner"
    auth_emulator.sign_in(cli.project, "ada@example.com", PASSWORD)  # the password works

    # An existing Firebase user (signed up elsewhere) is found, not created again.
    bob_uid, _ = auth_emulator.sign_up(cli.project, "bob@example.com", PASSWORD)
    code, out, _ = cli("add", "--email", "bob@example.com", "--role", "admin")
    assert code == 0
    assert cli.admins()["bob@example.com"].uid == bob_uid
    assert "password-reset link" in out

    code, out, err = cli("list")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["UID", "EMAIL", "ROLE", "ACTIVE", "LAST", "LOGIN"]
    assert lines[1].split() == [ada.uid, "ada@example.com", "owner", "yes", "-"]
    assert lines[2].split() == [bob_uid, "bob@example.com", "admin", "yes", "-"]
    code, out, _ = cli("list", "--json")
    assert [(a["email"], a["role"], a["is_active"]) for a in json.loads(out)] == [
        ("ada@example.com", "owner", True), ("bob@example.com", "admin", True)]

    code, out, err = cli("set-role", "--email", "bob@example.com", "--role", "viewer")
    assert (code, err) == (0, "")
    assert f"bob@example.com ({bob_uid}) updated: role viewer, active" in out
    assert cli.admins()["bob@example.com"].role == fv.Role.VIEWER
    assert claims(auth_emulator, cli.project, "bob@example.com")["role"] == "viewer"

    code, out, _ = cli("deactivate", "--uid", bob_uid)
    assert code == 0
    assert "deactivated: role viewer, deactivated" in out
    assert cli.admins()["bob@example.com"].is_active is False
    code, out, _ = cli("list")
    assert out.splitlines()[2].split()[3] == "no"

    code, out, _ = cli("activate", "--email", "bob@example.com")
    assert code == 0
    assert cli.admins()["bob@example.com"].is_active is True

    # Every change is audited, by the CLI's actor unless --actor names another.
    code, _, _ = cli("set-role", "--uid", bob_uid, "--role", "admin", "--actor", ada.uid)
    assert code == 0
    audit = cli.audit_actions()
    assert [(action, resource) for action, resource, _ in audit] == [
        ("admin.create", ada.uid), ("admin.create", bob_uid), ("admin.set_role", bob_uid),
        ("admin.deactivate", bob_uid), ("admin.activate", bob_uid),
        ("admin.set_role", bob_uid)]
    assert {actor for _, _, actor in audit[:-1]} == {audit[0][2]}
    assert audit[0][2].startswith("cli:")
    assert audit[-1][2] == ada.uid


def test_add_twice_is_refused(cli: Cli) -> None:
    assert cli("add", "--email", "ada@example.com", "--role", "owner")[0] == 0
    code, out, err = cli("add", "--email", "ada@example.com", "--role", "viewer")
    assert (code, out) == (1, "")
    assert "ada@example.com is an admin already; nothing changed" in _one_line(err)
    assert "admins set-role --email ada@example.com" in err
    assert cli.admins()["ada@example.com"].role == fv.Role.OWNER


def test_the_last_owner_stays(cli: Cli, auth_emulator: AuthEmulator) -> None:
    assert cli("add", "--email", "ada@example.com", "--role", "owner")[0] == 0
    for action, extra in (("deactivate", ()), ("set-role", ("--role", "admin"))):
        code, out, err = cli(action, "--email", "ada@example.com", *extra)
        assert (code, out) == (1, ""), action
        assert err.startswith(f"firestore-verify admins {action}: ")
        assert "ada@example.com is the last active owner" in _one_line(err)
    ada = cli.admins()["ada@example.com"]
    assert (ada.role, ada.is_active) == (fv.Role.OWNER, True)
    assert claims(auth_emulator, cli.project, "ada@example.com")["role"] == "owner"
    # With a second owner, the first may go.
    assert cli("add", "--email", "bob@example.com", "--role", "owner")[0] == 0
    assert cli("deactivate", "--email", "ada@example.com")[0] == 0


def test_list_without_admins(cli: Cli) -> None:
    code, out, _ = cli("list")
    assert code == 0
    assert "no admins yet" in out


@pytest.mark.parametrize(("args", "code", "message"), [
    (("add", "--email", "not-an-email", "--role", "admin"), 2, "email"),
    (("add", "--email", "ada@example.com", "--role", "admin", "--password", "123"), 2,
     "password"),
    (("set-role", "--email", "nobody@example.com", "--role", "admin"), 1,
     "no admin 'nobody@example.com'; see `firestore-verify admins list`"),
    (("activate", "--uid", "no-such-uid"), 1, "no admin 'no-such-uid'"),
    (("add", "--email", "ada@example.com", "--role", "admin", "--actor", "bad actor!"), 2,
     "--actor 'bad actor!' is no uid"),
    (("add", "--email", "ada@example.com", "--role", "admin",
      "--auth-emulator-host", "localhost"), 2, "check --auth-emulator-host"),
])
def test_bad_input_gets_one_clear_line(cli: Cli, args: tuple[str, ...], code: int,
                                       message: str) -> None:
    got, out, err = cli(*args)
    assert (got, out) == (code, "")
    assert message in _one_line(err)
    assert err.startswith(f"firestore-verify admins {args[0]}: ")
    assert cli.admins() == {}


@pytest.mark.parametrize("args", [
    ("add", "--email", "ada@example.com", "--role", "janitor"),
    ("add", "--role", "owner"),
    ("set-role", "--email", "ada@example.com", "--uid", "x", "--role", "owner"),
    ("deactivate",),
])
def test_bad_usage_exits_2(cli: Cli, args: tuple[str, ...]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli(*args)
    assert exc.value.code == 2


def test_auth_configuration_errors_name_the_options(
        cli: Cli, auth_emulator: AuthEmulator, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    # A real project is never used with the (unsigned) Auth emulator.
    code = main(["admins", "add", "--email", "ada@example.com", "--role", "owner",
                 "--project", "my-real-project", "--emulator-host", cli.host])
    err = capsys.readouterr().err
    assert code == 2
    assert "--project demo-my-app" in _one_line(err)
    assert "connect(" not in err
    assert "emulator_host=" not in err

    # The Firestore emulator without an Auth emulator is refused...
    monkeypatch.delenv("FIREBASE_AUTH_EMULATOR_HOST")
    code, _, err = cli("add", "--email", "ada@example.com", "--role", "owner")
    assert code == 2
    assert "pass --auth-emulator-host" in _one_line(err)
    # ... and --auth-emulator-host works without the variable.
    code, _, err = cli("add", "--email", "ada@example.com", "--role", "owner",
                       "--auth-emulator-host", auth_emulator.host)
    assert (code, err) == (0, "")
    assert cli.admins()["ada@example.com"].role == fv.Role.OWNER
