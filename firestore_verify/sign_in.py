"""Email and password sign-in on Firebase Auth, server side, for admin tools.

A browser usually signs in with the Firebase JS SDK and sends the resulting ID
token to the server. A server-rendered admin tool (the reference dashboard), a
command-line tool or a test can instead post the email and password to its own
server, which calls Firebase Auth's REST API (Identity Toolkit
``accounts:signInWithPassword``) and turns the ID token into a session cookie
with `create_session_cookie()`::

    sign_in = PasswordSignIn(authenticator, api_key=settings.firebase_api_key)
    id_token = await sign_in.sign_in(email, password)
    cookie = await authenticator.create_session_cookie(id_token)

It talks to the same Firebase Auth as the `Authenticator`
it is built from: the Auth emulator when that one uses it, else Google's
``identitytoolkit.googleapis.com`` with the project's **Web API key** (public,
from the Firebase console's project settings). On the emulator every project
lives in one process, so requests name their project (``targetProjectId``) with
the emulator's owner token, and no API key is needed.

Errors never say whether an email address has an account: a wrong password and
an unknown address are the same `AuthenticationError`,
and a password reset for an unknown address succeeds silently.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

import httpx

from firestore_verify.auth import Authenticator
from firestore_verify.errors import (
    AuthenticationError,
    ConfigurationError,
    FirestoreVerifyError,
    InvalidInputError,
)
from firestore_verify.errors import (
    TooManyAttemptsError as TooManyAttemptsError,  # re-exported: its old home
)

__all__ = ["PasswordSignIn"]

_CLOUD_BASE = "https://identitytoolkit.googleapis.com/v1"
_EMULATOR_OWNER = "owner"
"""The bearer token the Auth emulator treats as an admin (lets a request name its project)."""
_WRONG_CREDENTIALS = frozenset({
    "EMAIL_NOT_FOUND", "INVALID_PASSWORD", "INVALID_LOGIN_CREDENTIALS", "INVALID_EMAIL",
    "MISSING_PASSWORD", "INVALID_IDP_RESPONSE",
})


class PasswordSignIn:
    """Signs admins in with email and password, and sends password-reset emails.

    Args:
        authenticator: Whose Firebase Auth to use (project, emulator or cloud).
        api_key: The project's Web API key; required unless the emulator is used.
        timeout: Seconds each HTTP call may take.

    Raises:
        ConfigurationError: for real Firebase Auth without an ``api_key``.

    Close it with `aclose()` (or ``async with``); the authenticator stays open.
    """

    def __init__(self, authenticator: Authenticator, *, api_key: str | None = None,
                 timeout: float = 10.0) -> None:
        self.project = authenticator.project
        self.emulator_host = authenticator.emulator_host
        if self.emulator_host is None and not api_key:
            raise ConfigurationError(
                "signing in with a password on Firebase Auth needs the project's Web API key "
                "(Firebase console > Project settings > General > Web API key)."
            )
        self._api_key = api_key or "emulator"
        if self.emulator_host is not None:
            base = f"http://{self.emulator_host}/identitytoolkit.googleapis.com/v1"
            headers = {"Authorization": f"Bearer {_EMULATOR_OWNER}"}
        else:
            base, headers = _CLOUD_BASE, {}
        # trust_env=False: emulator traffic never goes through a proxy; the cloud is
        # reached directly too (set a proxy in the environment of a custom client if needed).
        self._http = httpx.AsyncClient(base_url=base, headers=headers, timeout=timeout,
                                       trust_env=self.emulator_host is None)

    @property
    def host(self) -> str:
        """Where Firebase Auth is reached: the emulator's ``HOST:PORT`` or Google's host."""
        return self.emulator_host or "identitytoolkit.googleapis.com"

    async def sign_in(self, email: str, password: str) -> str:
        """Check ``email`` and ``password``; return a fresh Firebase ID token.

        The token still has to pass `Authenticator.create_session_cookie()`
        (or ``verify_id_token``), which lets only active admins in.

        Raises:
            AuthenticationError: for a wrong email or password, or a disabled account.
            TooManyAttemptsError: when Firebase Auth blocks further attempts for now.
            ConfigurationError: when Firebase Auth cannot be reached or refuses the API key.

        """
        if not email.strip() or not password:
            raise AuthenticationError("enter your email address and password.")
        body = await self._post("accounts:signInWithPassword", "signing in", {
            "email": email.strip(), "password": password, "returnSecureToken": True})
        token = body.get("idToken")
        if not isinstance(token, str) or not token:
            raise FirestoreVerifyError(f"Firebase Auth at {self.host} returned no ID token.")
        return token

    async def send_password_reset(self, email: str) -> None:
        """Ask Firebase Auth to email a password-reset link to ``email``.

        An address without an account is ignored silently (no one can probe
        which addresses exist). The emulator keeps the code instead of sending it.

        Raises:
            InvalidInputError: for an empty or malformed address.
            TooManyAttemptsError: when Firebase Auth blocks further requests for now.
            ConfigurationError: when Firebase Auth cannot be reached or refuses the API key.

        """
        address = email.strip()
        if not address or "@" not in address:
            raise InvalidInputError(f"{email!r} is not an email address.",
                                    errors=["email: an email address"])
        try:
            await self._post("accounts:sendOobCode", "sending a password reset",
                             {"email": address, "requestType": "PASSWORD_RESET"})
        except AuthenticationError as exc:
            if isinstance(exc, TooManyAttemptsError):
                raise
            # EMAIL_NOT_FOUND and the like: say nothing about the address.

    async def _post(self, operation: str, what: str, body: dict[str, Any]) -> dict[str, Any]:
        if self.emulator_host is not None:
            body = {**body, "targetProjectId": self.project}
        try:
            response = await self._http.post(f"/{operation}", params={"key": self._api_key},
                                             json=body)
        except httpx.HTTPError as exc:
            raise ConfigurationError(
                f"Firebase Auth at {self.host} is unreachable while {what} ({exc!r})"
                + (": is the Auth emulator running there?" if self.emulator_host else ".")
            ) from None
        try:
            payload = response.json() if response.content else {}
        except ValueError:
            payload = {}
        if response.status_code == 200 and isinstance(payload, dict):
            return payload
        message = ""
        if isinstance(payload, dict):
            error = payload.get("error")
            if isinstance(error, dict):
                message = str(error.get("message", ""))
        code = message.split(":", 1)[0].split(" ", 1)[0].strip()
        if code in _WRONG_CREDENTIALS:
            raise AuthenticationError("wrong email address or password.")
        if code == "USER_DISABLED":
            raise AuthenticationError("this account is disabled: ask an owner.")
        if code.startswith("TOO_MANY_ATTEMPTS"):
            raise TooManyAttemptsError("too many attempts: wait a few minutes and try again.")
        if code.startswith(("API_KEY", "PROJECT_NOT_FOUND", "CONFIGURATION_NOT_FOUND",
                            "OPERATION_NOT_ALLOWED", "PERMISSION_DENIED")) or \
                response.status_code in (401, 403):
            raise ConfigurationError(
                f"Firebase Auth at {self.host} refused {what} ({message or response.status_code})"
                ": check the Web API key and that email/password sign-in is enabled."
            )
        raise FirestoreVerifyError(
            f"Firebase Auth at {self.host} failed while {what}: HTTP {response.status_code} "
            f"{message or response.text[:200]}"
        )

    async def aclose(self) -> None:
        """Close the HTTP client. Safe to call twice."""
        await self._http.aclose()

    async def __aenter__(self) -> PasswordSignIn:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
