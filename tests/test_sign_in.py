"""PasswordSignIn: email and password against the Auth emulator, password resets."""

from __future__ import annotations

import pytest

import firestore_verify as fv
from firestore_verify.sign_in import PasswordSignIn, TooManyAttemptsError
from firestore_verify.testing import AuthEmulator

pytestmark = pytest.mark.anyio

PASSWORD = "correct horse battery"


async def test_sign_in_returns_a_token_the_authenticator_accepts(
    authenticator: fv.Authenticator, admin_store: fv.Store, auth_emulator: AuthEmulator,
    auth_project: str,
) -> None:
    uid, _ = auth_emulator.sign_up(auth_project, "ada@example.org", PASSWORD)
    await admin_store.admins.create(fv.AdminUser(uid=uid, email="ada@example.org",
                                                 role=fv.Role.ADMIN))
    async with PasswordSignIn(authenticator) as sign_in:
        token = await sign_in.sign_in("ada@example.org", PASSWORD)
    cookie = await authenticator.create_session_cookie(token)
    principal = await authenticator.verify_session_cookie(cookie)
    assert principal.uid == uid
    assert principal.role is fv.Role.ADMIN


async def test_wrong_password_and_unknown_email_are_the_same_error(
    authenticator: fv.Authenticator, auth_emulator: AuthEmulator, auth_project: str,
) -> None:
    auth_emulator.sign_up(auth_project, "ada@example.org", PASSWORD)
    async with PasswordSignIn(authenticator) as sign_in:
        with pytest.raises(fv.AuthenticationError) as wrong:
            await sign_in.sign_in("ada@example.org", "not the password")
        with pytest.raises(fv.AuthenticationError) as unknown:
            await sign_in.sign_in("nobody@example.org", PASSWORD)
        with pytest.raises(fv.AuthenticationError):
            await sign_in.sign_in("", "")
    assert str(wrong.value) == str(unknown.value)
    assert not isinstance(wrong.value, TooManyAttemptsError)


async def test_disabled_user_is_refused(
    authenticator: fv.Authenticator, auth_emulator: AuthEmulator, auth_project: str,
) -> None:
    uid, _ = auth_emulator.sign_up(auth_project, "ada@example.org", PASSWORD)
    auth_emulator.disable_user(auth_project, uid)
    async with PasswordSignIn(authenticator) as sign_in:
        with pytest.raises(fv.AuthenticationError, match="disabled"):
            await sign_in.sign_in("ada@example.org", PASSWORD)


async def test_password_reset_sends_a_code_and_hides_unknown_addresses(
    authenticator: fv.Authenticator, auth_emulator: AuthEmulator, auth_project: str,
) -> None:
    auth_emulator.sign_up(auth_project, "ada@example.org", PASSWORD)
    async with PasswordSignIn(authenticator) as sign_in:
        await sign_in.send_password_reset("ada@example.org")
        await sign_in.send_password_reset("nobody@example.org")  # no error: no probing
        with pytest.raises(fv.InvalidInputError):
            await sign_in.send_password_reset("not-an-address")
    codes = auth_emulator.oob_codes(auth_project, request_type="PASSWORD_RESET")
    assert [c.email for c in codes] == ["ada@example.org"]
    auth_emulator.reset_password(auth_project, codes[0].code, "a new password")
    async with PasswordSignIn(authenticator) as sign_in:
        assert await sign_in.sign_in("ada@example.org", "a new password")


async def test_real_firebase_needs_an_api_key(admin_store: fv.Store,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    class Cloud:
        project = "my-project"
        emulator_host = None

    with pytest.raises(fv.ConfigurationError, match="Web API key"):
        PasswordSignIn(Cloud(), api_key=None)  # type: ignore[arg-type]
    sign_in = PasswordSignIn(Cloud(), api_key="key")  # type: ignore[arg-type]
    assert sign_in.host == "identitytoolkit.googleapis.com"
    await sign_in.aclose()


async def test_unreachable_emulator_names_the_host(admin_store: fv.Store) -> None:
    auth = fv.Authenticator(admin_store, emulator_host="127.0.0.1:9")
    try:
        async with PasswordSignIn(auth, timeout=2) as sign_in:
            with pytest.raises(fv.ConfigurationError, match=r"127\.0\.0\.1:9"):
                await sign_in.sign_in("ada@example.org", PASSWORD)
    finally:
        await auth.close()
