"""Authentication on Firebase Auth: the Auth emulator and the Firestore emulator, no mocks."""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import anyio
import firebase_admin
import pytest

from firestore_verify.auth import AUTH_EMULATOR_HOST_VAR, ROLE_CLAIM, Authenticator, Principal
from firestore_verify.errors import (
    AuthenticationError,
    ConfigurationError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
)
from firestore_verify.models import AdminUser, Role
from firestore_verify.permissions import Permission
from firestore_verify.store import Store, connect
from firestore_verify.testing import FirestoreEmulator, add_admin
from firestore_verify.testing import plugin as plugin_module
from firestore_verify.testing.auth_emulator import (
    FIREBASE_BIN_ENV_VAR,
    AuthEmulator,
    FirebaseToolsNotFoundError,
    find_firebase_bin,
)
from firestore_verify.testing.emulator import EmulatorError

ROOT = Path(__file__).resolve().parent.parent
DOCS_EXAMPLES = ROOT / "docs" / "examples"
PASSWORD = "correct-horse-battery"


def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"docs_example_{path.stem}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _shown_output(name: str) -> str:
    """The ``<!-- output: docs/examples/name -->`` block of docs/auth.md."""
    snippets = _load(ROOT / "scripts" / "docs_snippets.py")
    page = (ROOT / "docs" / "auth.md").read_text(encoding="utf-8")
    blocks = [block.content for block in snippets.find_blocks(page, "output")
              if block.target == f"docs/examples/{name}"]
    assert len(blocks) == 1, f"docs/auth.md must show the output of {name} once"
    return str(blocks[0])


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    padded = payload + "=" * (-len(payload) % 4)
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(padded))
    return decoded


async def _wait_until(condition: Callable[[], bool], what: str, limit: float = 5.0) -> None:
    """Poll ``condition`` (bounded); fail with ``what`` when it never holds."""
    try:
        with anyio.fail_after(limit):
            while not condition():
                await anyio.sleep(0.02)
    except TimeoutError:
        pytest.fail(f"timed out after {limit:g}s waiting for {what}")


async def _after_second_of(token: str) -> None:
    """Wait until the clock is past the second ``token`` was issued in.

    Firebase keeps revocation times in whole seconds: a token issued in the same
    second as a revocation is still valid. Tests revoke after that second.
    """
    issued = _claims(token)["iat"]
    await _wait_until(lambda: int(time.time()) > issued, "the clock to pass the token's second")


class Users:
    """Sign-ups on the test's project, with or without an admin document."""

    def __init__(self, emulator: AuthEmulator, store: Store, project: str) -> None:
        self.emulator = emulator
        self.store = store
        self.project = project
        self._count = 0

    def sign_up(self, email: str | None = None) -> tuple[str, str, str]:
        self._count += 1
        email = email or f"user{self._count}@example.com"
        uid, token = self.emulator.sign_up(self.project, email, PASSWORD)
        return uid, email, token

    async def admin(self, role: Role = Role.ADMIN, *, active: bool = True) -> tuple[str, str]:
        uid, email, token = self.sign_up()
        await self.store.admins.create(AdminUser(uid=uid, email=email, role=role,
                                                 is_active=active))
        return uid, token


@pytest.fixture
def users(auth_emulator: AuthEmulator, admin_store: Store, auth_project: str) -> Users:
    return Users(auth_emulator, admin_store, auth_project)


# -- the emulator gives real tokens ------------------------------------------------------


def test_sign_up_and_sign_in_give_real_tokens(auth_emulator: AuthEmulator,
                                              auth_project: str) -> None:
    uid, token = auth_emulator.sign_up(auth_project, "ada@example.com", PASSWORD)
    claims = _claims(token)
    assert claims["sub"] == uid
    assert claims["aud"] == auth_project
    assert claims["iss"] == f"https://securetoken.google.com/{auth_project}"
    again = auth_emulator.sign_in(auth_project, "ada@example.com", PASSWORD)
    assert _claims(again)["sub"] == uid
    with pytest.raises(EmulatorError, match=r"INVALID_LOGIN_CREDENTIALS|INVALID_PASSWORD"):
        auth_emulator.sign_in(auth_project, "ada@example.com", "wrong-password")


def test_projects_are_isolated_and_cleared(auth_emulator: AuthEmulator, auth_project: str) -> None:
    other = f"{auth_project}-b"
    auth_emulator.sign_up(other, "ada@example.com", PASSWORD)
    with pytest.raises(EmulatorError):  # not in this project
        auth_emulator.sign_in(auth_project, "ada@example.com", PASSWORD)
    auth_emulator.clear(other)
    with pytest.raises(EmulatorError):
        auth_emulator.sign_in(other, "ada@example.com", PASSWORD)


def test_helpers_refuse_real_projects(auth_emulator: AuthEmulator) -> None:
    with pytest.raises(ConfigurationError, match="demo-"):
        auth_emulator.sign_up("my-real-project", "ada@example.com", PASSWORD)


def test_password_reset_codes(auth_emulator: AuthEmulator, auth_project: str) -> None:
    auth_emulator.sign_up(auth_project, "ada@example.com", PASSWORD)
    auth_emulator.send_password_reset(auth_project, "ada@example.com")
    (code,) = auth_emulator.oob_codes(auth_project, email="ada@example.com",
                                      request_type="PASSWORD_RESET")
    assert code.code
    assert f"oobCode={code.code}" in code.link
    assert auth_emulator.reset_password(auth_project, code.code, "a-new-password") == (
        "ada@example.com"
    )
    auth_emulator.sign_in(auth_project, "ada@example.com", "a-new-password")
    assert auth_emulator.oob_codes(auth_project, request_type="VERIFY_EMAIL") == []


# -- who gets in -------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("role", list(Role))
async def test_active_admin_gets_a_principal(authenticator: Authenticator, users: Users,
                                             role: Role) -> None:
    uid, token = await users.admin(role)
    principal = await authenticator.verify_id_token(token)
    assert isinstance(principal, Principal)
    assert (principal.uid, principal.role, principal.admin.uid) == (uid, role, uid)
    assert principal.email == principal.admin.email
    assert principal.claims["sub"] == uid
    assert principal.can(Permission.READ_DASHBOARD)
    assert principal.can("admins:manage") == (role is Role.OWNER)


@pytest.mark.anyio
async def test_role_comes_from_the_document_not_the_claim(
    authenticator: Authenticator, users: Users, auth_emulator: AuthEmulator
) -> None:
    uid, email, _ = users.sign_up()
    await users.store.admins.create(AdminUser(uid=uid, email=email, role=Role.VIEWER))
    auth_emulator.set_custom_claims(users.project, uid, {ROLE_CLAIM: "owner"})
    token = auth_emulator.sign_in(users.project, email, PASSWORD)
    assert _claims(token)[ROLE_CLAIM] == "owner"
    principal = await authenticator.verify_id_token(token)
    assert principal.role is Role.VIEWER
    assert not principal.can(Permission.WRITE_GROUPS)
    with pytest.raises(PermissionDeniedError, match="viewer"):
        principal.require(Permission.WRITE_GROUPS)


@pytest.mark.anyio
async def test_user_without_admin_document_is_refused(authenticator: Authenticator,
                                                      users: Users) -> None:
    _, _, token = users.sign_up()
    with pytest.raises(AuthenticationError, match="no dashboard admin"):
        await authenticator.verify_id_token(token)


@pytest.mark.anyio
async def test_inactive_admin_is_refused(authenticator: Authenticator, users: Users) -> None:
    _, token = await users.admin(active=False)
    with pytest.raises(AuthenticationError, match="deactivated"):
        await authenticator.verify_id_token(token)


@pytest.mark.anyio
async def test_revoked_token_is_refused(authenticator: Authenticator, users: Users,
                                        auth_emulator: AuthEmulator) -> None:
    uid, token = await users.admin()
    await authenticator.verify_id_token(token)
    await _after_second_of(token)
    await authenticator.revoke(uid)
    with pytest.raises(AuthenticationError, match="revoked"):
        await authenticator.verify_id_token(token)
    # Signing in again gives a token that works.
    admin = await users.store.admins.get(uid)
    fresh = auth_emulator.sign_in(users.project, admin.email, PASSWORD)
    assert (await authenticator.verify_id_token(fresh)).uid == uid


@pytest.mark.anyio
async def test_disabled_user_is_refused(authenticator: Authenticator, users: Users,
                                        auth_emulator: AuthEmulator) -> None:
    uid, token = await users.admin()
    auth_emulator.disable_user(users.project, uid)
    with pytest.raises(AuthenticationError, match="disabled"):
        await authenticator.verify_id_token(token)


@pytest.mark.anyio
async def test_deleted_user_is_refused(authenticator: Authenticator, users: Users,
                                       auth_emulator: AuthEmulator) -> None:
    _, token = await users.admin()
    auth_emulator.clear(users.project)
    with pytest.raises(AuthenticationError, match="does not exist"):
        await authenticator.verify_id_token(token)


@pytest.mark.anyio
@pytest.mark.parametrize("garbage", ["", "   ", "garbage", "a.b.c", "x.y", "e30.e30.", None, 42])
async def test_garbage_is_refused(authenticator: Authenticator, garbage: Any) -> None:
    with pytest.raises(AuthenticationError):
        await authenticator.verify_id_token(garbage)
    with pytest.raises(AuthenticationError):
        await authenticator.verify_session_cookie(garbage)


@pytest.mark.anyio
async def test_expired_token_is_refused(authenticator: Authenticator, users: Users) -> None:
    uid, _ = await users.admin()
    now = time.time()
    expired = AuthEmulator.forge_id_token(users.project, uid, issued_at=now - 7200,
                                          expires_at=now - 3600)
    with pytest.raises(AuthenticationError, match="expired"):
        await authenticator.verify_id_token(expired)
    # The same forgery, unexpired, passes: the emulator signs nothing (hence demo- only).
    current = AuthEmulator.forge_id_token(users.project, uid)
    assert (await authenticator.verify_id_token(current)).uid == uid


@pytest.mark.anyio
async def test_forged_tokens_are_refused(authenticator: Authenticator, users: Users) -> None:
    uid, _ = await users.admin()
    project = users.project
    forgeries = {
        "another project": AuthEmulator.forge_id_token("demo-someone-else", uid),
        "unknown user": AuthEmulator.forge_id_token(project, "no-such-user"),
        "wrong issuer": AuthEmulator.forge_id_token(
            project, uid, claims={"iss": "https://evil.example.com/"}),
        "from the future": AuthEmulator.forge_id_token(project, uid,
                                                       issued_at=time.time() + 3600),
        "no subject": AuthEmulator.forge_id_token(project, uid, claims={"sub": ""}),
        "custom token audience": AuthEmulator.forge_id_token(
            project, uid,
            claims={"aud": "https://identitytoolkit.googleapis.com/google.identity."
                           "identitytoolkit.v1.IdentityToolkit"}),
    }
    accepted = []
    for name, token in forgeries.items():
        try:
            await authenticator.verify_id_token(token)
        except AuthenticationError:
            continue
        accepted.append(name)
    assert accepted == [], f"forged tokens accepted: {accepted}"
    # Issued before a revocation: refused even though everything else is right.
    await authenticator.revoke(uid)
    old = AuthEmulator.forge_id_token(project, uid, issued_at=time.time() - 60)
    with pytest.raises(AuthenticationError, match="revoked"):
        await authenticator.verify_id_token(old)


# -- session cookies -----------------------------------------------------------------------


@pytest.mark.anyio
async def test_session_cookie_create_verify_revoke(authenticator: Authenticator,
                                                   users: Users) -> None:
    uid, token = await users.admin(Role.OWNER)
    before = await users.store.admins.get(uid)
    assert before.last_login is None
    cookie = await authenticator.create_session_cookie(token, expires_in=timedelta(hours=1))
    claims = _claims(cookie)
    assert claims["iss"] == f"https://session.firebase.google.com/{users.project}"
    assert 3590 <= claims["exp"] - claims["iat"] <= 3600
    principal = await authenticator.verify_session_cookie(cookie)
    assert (principal.uid, principal.role) == (uid, Role.OWNER)
    assert principal.admin.last_login is not None  # the login was recorded
    # A cookie is no ID token, and an ID token is no cookie.
    with pytest.raises(AuthenticationError, match="issuer"):
        await authenticator.verify_id_token(cookie)
    with pytest.raises(AuthenticationError, match="issuer"):
        await authenticator.verify_session_cookie(token)

    await _after_second_of(cookie)
    await authenticator.revoke(uid)
    with pytest.raises(AuthenticationError, match="revoked"):
        await authenticator.verify_session_cookie(cookie)


@pytest.mark.anyio
async def test_session_cookie_only_for_active_admins(authenticator: Authenticator,
                                                     users: Users) -> None:
    _, _, stranger = users.sign_up()
    with pytest.raises(AuthenticationError, match="no dashboard admin"):
        await authenticator.create_session_cookie(stranger)
    _, inactive = await users.admin(active=False)
    with pytest.raises(AuthenticationError, match="deactivated"):
        await authenticator.create_session_cookie(inactive)


@pytest.mark.anyio
async def test_session_cookie_needs_a_recent_sign_in(authenticator: Authenticator,
                                                     users: Users) -> None:
    uid, _ = await users.admin()
    now = time.time()
    stale = AuthEmulator.forge_id_token(users.project, uid, auth_time=now - 3600)
    with pytest.raises(AuthenticationError, match="too old"):
        await authenticator.create_session_cookie(stale)
    cookie = await authenticator.create_session_cookie(stale, max_auth_age=None)
    assert (await authenticator.verify_session_cookie(cookie)).uid == uid


@pytest.mark.anyio
@pytest.mark.parametrize("expires_in", [timedelta(minutes=1), timedelta(days=15)])
async def test_session_cookie_lifetime_is_bounded(authenticator: Authenticator, users: Users,
                                                  expires_in: timedelta) -> None:
    _, token = await users.admin()
    with pytest.raises(InvalidInputError, match="expires_in"):
        await authenticator.create_session_cookie(token, expires_in=expires_in)


# -- user management -------------------------------------------------------------------------


@pytest.mark.anyio
async def test_set_role_claim_keeps_other_claims_and_revokes(
    authenticator: Authenticator, users: Users, auth_emulator: AuthEmulator
) -> None:
    uid, email, _ = users.sign_up()
    auth_emulator.set_custom_claims(users.project, uid, {"team": "ops"})
    await users.store.admins.create(AdminUser(uid=uid, email=email, role=Role.ADMIN))
    token = auth_emulator.sign_in(users.project, email, PASSWORD)
    assert await authenticator.verify_id_token(token)
    await _after_second_of(token)

    await authenticator.set_role_claim(uid, Role.ADMIN)
    with pytest.raises(AuthenticationError, match="revoked"):  # takes effect at once
        await authenticator.verify_id_token(token)
    fresh = auth_emulator.sign_in(users.project, email, PASSWORD)
    assert _claims(fresh)[ROLE_CLAIM] == "admin"
    assert _claims(fresh)["team"] == "ops"
    principal = await authenticator.verify_id_token(fresh)
    assert principal.claims[ROLE_CLAIM] == "admin"

    await authenticator.set_role_claim(uid, "viewer")  # a string works too
    assert _claims(auth_emulator.sign_in(users.project, email, PASSWORD))[ROLE_CLAIM] == "viewer"


@pytest.mark.anyio
async def test_set_role_claim_refuses_bad_input(authenticator: Authenticator,
                                                users: Users) -> None:
    uid, _, _ = users.sign_up()
    with pytest.raises(InvalidInputError, match="not a role"):
        await authenticator.set_role_claim(uid, "superuser")
    with pytest.raises(NotFoundError):
        await authenticator.set_role_claim("no-such-user", Role.ADMIN)
    with pytest.raises(NotFoundError):
        await authenticator.revoke("no-such-user")
    with pytest.raises(InvalidInputError):
        await authenticator.revoke("")


@pytest.mark.anyio
async def test_find_or_create_user_is_idempotent(
    authenticator: Authenticator, auth_emulator: AuthEmulator, auth_project: str
) -> None:
    uid = await authenticator.find_or_create_user("grace@example.com", password=PASSWORD,
                                                  display_name="Grace")
    assert await authenticator.find_or_create_user("grace@example.com") == uid
    # The existing user is left alone: a different password does not replace the first.
    assert await authenticator.find_or_create_user("grace@example.com",
                                                   password="other-password") == uid
    assert _claims(auth_emulator.sign_in(auth_project, "grace@example.com", PASSWORD))[
        "sub"] == uid
    # Concurrent calls agree on one user.
    results: list[str] = []

    async def create() -> None:
        results.append(await authenticator.find_or_create_user("hopper@example.com"))

    async with anyio.create_task_group() as tg:
        for _ in range(4):
            tg.start_soon(create)
    assert len(set(results)) == 1
    with pytest.raises(InvalidInputError):
        await authenticator.find_or_create_user("not an email")
    with pytest.raises(InvalidInputError):
        await authenticator.find_or_create_user("weak@example.com", password="123")


# -- configuration and emulator safety ---------------------------------------------------------


@pytest.mark.anyio
async def test_emulator_is_refused_for_real_project_ids(store: Store,
                                                        auth_emulator: AuthEmulator) -> None:
    assert not store.project.startswith("demo-")
    with pytest.raises(ConfigurationError, match="demo-"):
        Authenticator(store, emulator_host=auth_emulator.host)
    with pytest.raises(ConfigurationError, match="demo-"):
        Authenticator(store, env={AUTH_EMULATOR_HOST_VAR: auth_emulator.host})


@pytest.mark.anyio
async def test_real_auth_is_refused_with_stray_emulator_variable(
    admin_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(AUTH_EMULATOR_HOST_VAR, "127.0.0.1:9")
    # env= without the variable asks for real Auth, but firebase-admin reads os.environ.
    with pytest.raises(ConfigurationError, match="unsigned"):
        Authenticator(admin_store, env={})
    monkeypatch.delenv(AUTH_EMULATOR_HOST_VAR)
    with pytest.raises(ConfigurationError, match="Firestore emulator"):
        Authenticator(admin_store, env={})


@pytest.mark.anyio
async def test_real_auth_refuses_emulator_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    """Against real Firebase Auth, unsigned (emulator-style) tokens never pass, offline."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    monkeypatch.delenv(AUTH_EMULATOR_HOST_VAR, raising=False)
    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()).decode()
    env = {"FIREBASE_CLIENT_EMAIL": "bot@throwaway-project.iam.gserviceaccount.com",
           "FIREBASE_PRIVATE_KEY": pem}
    async with await connect(project="throwaway-project", env=env) as store, Authenticator(
        store, env={}
    ) as auth:
        assert not auth.emulated
        assert auth.host == "identitytoolkit.googleapis.com"
        forged = AuthEmulator.forge_id_token("throwaway-project", "u1")
        with pytest.raises(AuthenticationError, match="not valid"):
            await auth.verify_id_token(forged)
        with pytest.raises(AuthenticationError, match="not valid"):
            await auth.verify_session_cookie(forged)
        with pytest.raises(AuthenticationError):
            await auth.verify_id_token("garbage")
        # The variable appearing later is caught at verification time too.
        monkeypatch.setenv(AUTH_EMULATOR_HOST_VAR, "127.0.0.1:9")
        with pytest.raises(ConfigurationError, match="unsigned"):
            await auth.verify_id_token(forged)


@pytest.mark.anyio
@pytest.mark.parametrize("host", ["localhost", "http://127.0.0.1:9099", "127.0.0.1:port"])
async def test_malformed_emulator_host(admin_store: Store, host: str) -> None:
    with pytest.raises(ConfigurationError, match="HOST:PORT"):
        Authenticator(admin_store, emulator_host=host)


@pytest.mark.anyio
async def test_explicit_emulator_host_needs_no_environment(
    admin_store: Store, auth_emulator: AuthEmulator, users: Users,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(AUTH_EMULATOR_HOST_VAR, raising=False)
    uid, token = await users.admin()
    async with Authenticator(admin_store, emulator_host=auth_emulator.host) as auth:
        assert auth.emulated
        assert (await auth.verify_id_token(token)).uid == uid
        assert await auth.find_or_create_user("new@example.com")
        await auth.check()
    assert AUTH_EMULATOR_HOST_VAR not in os.environ


@pytest.mark.anyio
async def test_environment_variable_selects_the_emulator(
    admin_store: Store, auth_emulator: AuthEmulator, users: Users
) -> None:
    uid, token = await users.admin()
    async with Authenticator(admin_store,
                             env={AUTH_EMULATOR_HOST_VAR: auth_emulator.host}) as auth:
        assert auth.emulator_host == auth_emulator.host
        assert (await auth.verify_id_token(token)).uid == uid


@pytest.mark.anyio
async def test_check_and_unreachable_host(authenticator: Authenticator,
                                          admin_store: Store) -> None:
    await authenticator.check()
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{sock.getsockname()[1]}"
    async with Authenticator(admin_store, emulator_host=dead, timeout=2) as auth:
        with pytest.raises(ConfigurationError, match=dead.replace(".", r"\.")):
            await auth.check()
        with pytest.raises(ConfigurationError, match="unreachable"):
            await auth.verify_id_token(AuthEmulator.forge_id_token(admin_store.project, "u1"))


@pytest.mark.anyio
async def test_own_named_app_deleted_on_close(admin_store: Store,
                                              auth_emulator: AuthEmulator) -> None:
    auth = Authenticator(admin_store, emulator_host=auth_emulator.host)
    assert auth.app_name.startswith("firestore-verify-auth-")
    assert auth.app_name != firebase_admin._DEFAULT_APP_NAME
    assert firebase_admin.get_app(auth.app_name)
    await auth.close()
    await auth.close()  # twice is fine
    with pytest.raises(ValueError, match="does not exist"):
        firebase_admin.get_app(auth.app_name)
    with pytest.raises(ConfigurationError, match="closed"):
        await auth.check()


# -- the emulator process and the fixtures ---------------------------------------------------------


def _script(path: Path, body: str = "exit 0") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_firebase_bin_search_order(tmp_path: Path) -> None:
    local = _script(tmp_path / "project" / "node_modules" / ".bin" / "firebase")
    on_path = _script(tmp_path / "bin" / "firebase")
    explicit = _script(tmp_path / "mine" / "firebase")
    deep = tmp_path / "project" / "src" / "pkg"
    deep.mkdir(parents=True)
    env = {"PATH": str(on_path.parent)}
    assert find_firebase_bin({**env, FIREBASE_BIN_ENV_VAR: str(explicit)}, cwd=deep) == explicit
    assert find_firebase_bin(env, cwd=deep) == local
    assert find_firebase_bin(env, cwd=tmp_path) == on_path
    with pytest.raises(FirebaseToolsNotFoundError, match="npm install"):
        find_firebase_bin({"PATH": ""}, cwd=tmp_path)
    with pytest.raises(FirebaseToolsNotFoundError, match=FIREBASE_BIN_ENV_VAR):
        find_firebase_bin({FIREBASE_BIN_ENV_VAR: str(tmp_path / "nope")}, cwd=deep)
    node_script = tmp_path / "node-only" / "firebase"
    node_script.parent.mkdir()
    node_script.write_text("#!/usr/bin/env node\n")
    node_script.chmod(0o755)
    with pytest.raises(FirebaseToolsNotFoundError, match="node"):
        find_firebase_bin({"PATH": "", FIREBASE_BIN_ENV_VAR: str(node_script)})


def test_the_repository_firebase_tools_is_found() -> None:
    assert find_firebase_bin(cwd=ROOT) == ROOT / "node_modules" / ".bin" / "firebase"


def test_attach(auth_emulator: AuthEmulator) -> None:
    attached = AuthEmulator.attach(auth_emulator.host)
    assert attached.running
    assert attached.pid is None
    attached.stop()  # not ours: the session's emulator keeps running
    assert auth_emulator.running
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{sock.getsockname()[1]}"
    with pytest.raises(EmulatorError, match="no Firebase Auth emulator answers"):
        AuthEmulator.attach(dead, timeout=0.3)


def _alive(pgid: int) -> list[str]:
    out = subprocess.run(["ps", "-eo", "pgid=,pid=,args="], capture_output=True, text=True,
                         check=True).stdout
    return [line for line in out.splitlines() if line.split(None, 1)[0] == str(pgid)]


@pytest.mark.slow
def test_start_and_stop_leave_no_process(auth_emulator: AuthEmulator) -> None:
    emulator = AuthEmulator(project="demo-lifecycle")
    if auth_emulator.pid is None:  # the session reuses an external emulator
        pytest.skip("firebase-tools is started by the plugin only")
    with emulator:
        pid = emulator.pid
        assert pid is not None
        assert emulator.running
        log = emulator.log_path
        assert log is not None
        assert log.exists()
        workdir = log.parent
        config = json.loads((workdir / "firebase.json").read_text())["emulators"]
        assert config["singleProjectMode"] is False
        assert config["ui"] == {"enabled": False}
        assert _alive(pid), "the emulator runs in a process group of its own"
        emulator.sign_up("demo-lifecycle", "ada@example.com", PASSWORD)
    assert not emulator.running
    assert _alive(pid) == [], "no firebase-tools process may outlive stop()"
    assert not workdir.exists()
    emulator.stop()  # twice is fine


def test_missing_firebase_tools_skips_or_fails(pytester: pytest.Pytester,
                                               monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    monkeypatch.setenv(FIREBASE_BIN_ENV_VAR, str(tmp_path / "missing-firebase"))
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))  # nothing may stay there
    monkeypatch.delenv(plugin_module.AUTH_HOST_ENV_VAR, raising=False)
    monkeypatch.delenv(plugin_module.REQUIRE_ENV_VAR, raising=False)
    pytester.makepyfile("def test_needs_auth(auth_emulator):\n    assert False\n")
    result = pytester.runpytest("-rs", "-p", "no:cacheprovider")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*Firebase Auth emulator unavailable*missing-firebase*"])
    monkeypatch.setenv(plugin_module.REQUIRE_ENV_VAR, "1")
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*FIRESTORE_VERIFY_REQUIRE_EMULATOR is set*"])
    assert not list((tmp_path / "tmp").glob("firebase-auth-emulator-*"))


def test_auth_fixture_sets_the_variable(auth_emulator: AuthEmulator) -> None:
    assert os.environ[AUTH_EMULATOR_HOST_VAR] == auth_emulator.host


@pytest.mark.anyio
async def test_admin_store_is_on_the_auth_project(admin_store: Store, auth_project: str,
                                                  firestore_emulator: FirestoreEmulator) -> None:
    assert admin_store.project == auth_project
    assert auth_project.startswith("demo-")
    assert admin_store.settings.emulator_host == firestore_emulator.host


# -- the docs --------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_docs_example(authenticator: Authenticator, auth_emulator: AuthEmulator,
                            capsys: pytest.CaptureFixture[str]) -> None:
    principal = await _load(DOCS_EXAMPLES / "auth_sign_in.py").main(authenticator, auth_emulator)
    assert principal.role is Role.ADMIN
    assert capsys.readouterr().out == _shown_output("auth_sign_in.py")


@pytest.mark.anyio
async def test_docs_connect_example(admin_store: Store, auth_emulator: AuthEmulator,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """connect() and Authenticator(store) configured by the environment alone, as deployed."""
    uid, token = await add_admin(admin_store, auth_emulator, "ada@example.com", PASSWORD,
                                 role="admin")
    for variable in ("GOOGLE_CLOUD_PROJECT", "GCLOUD_PROJECT"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("FIREBASE_PROJECT_ID", admin_store.project)
    # FIRESTORE_EMULATOR_HOST and FIREBASE_AUTH_EMULATOR_HOST are the fixtures'.
    principal = await _load(DOCS_EXAMPLES / "auth_sign_in.py").verify(token)
    assert (principal.uid, principal.role) == (uid, Role.ADMIN)


def test_docs_role_table_is_generated_from_permissions() -> None:
    roles = _load(DOCS_EXAMPLES / "auth_roles.py")
    page = (ROOT / "docs" / "auth.md").read_text(encoding="utf-8")
    assert roles.render(page) == page, (
        "docs/auth.md's role table is stale: run python docs/examples/auth_roles.py --write"
    )
    table = roles.role_table()
    assert table in page
    assert table.count("\n") == len(Permission) + 1
    assert "| `admins:manage` (`Permission.MANAGE_ADMINS`) |  |  | ✓ |" in table



@pytest.mark.anyio
async def test_add_admin_signs_up_and_admits(admin_store: Store, auth_emulator: AuthEmulator,
                                             authenticator: Authenticator) -> None:
    uid, token = await add_admin(admin_store, auth_emulator, "ada@example.org", "pass-word-1",
                                 role="admin")
    assert (await authenticator.verify_id_token(token)).role is Role.ADMIN
    _, stranger = await add_admin(admin_store, auth_emulator, "sam@example.org", "pass-word-1",
                                  role=None)
    with pytest.raises(AuthenticationError, match="no dashboard admin"):
        await authenticator.verify_id_token(stranger)
    _, inactive = await add_admin(admin_store, auth_emulator, "ina@example.org", "pass-word-1",
                                  active=False)
    with pytest.raises(AuthenticationError, match="deactivated"):
        await authenticator.verify_id_token(inactive)
    assert (await admin_store.admins.get(uid)).email == "ada@example.org"
