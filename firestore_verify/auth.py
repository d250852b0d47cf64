"""Authentication on Firebase Auth: ID tokens, session cookies and the ``role`` claim.

An `Authenticator` turns what a browser sends (a Firebase ID token, or
a session cookie made from one) into a `Principal`: the signed-in admin
with the role of their ``admin_users/{uid}`` document. Nobody gets in without
an *active* admin document; the role always comes from that document (the
source of truth), never from the token's claim, which only mirrors it for the
security rules.

It uses firebase-admin through a named ``firebase_admin.App`` of its own
(never the default app), with the credentials of the `Store`
it is built from. firebase-admin blocks, so every call runs in a worker
thread; every error it raises becomes a `firestore_verify.errors` type.

**The Auth emulator** is used when ``emulator_host=`` is given or
``FIREBASE_AUTH_EMULATOR_HOST`` is set, and only for projects whose id starts
with ``demo-``: the emulator signs nothing, so anyone can mint a token it
would accept, and a ``demo-`` project can never be a real one.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import os
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from types import TracebackType
from typing import Any, TypeVar

import anyio.to_thread
import firebase_admin
from firebase_admin import auth as fb_auth
from firebase_admin import exceptions as fb_exceptions
from google.auth import credentials as google_credentials

from firestore_verify.config import _FirebaseEnv
from firestore_verify.errors import (
    AuthenticationError,
    ConfigurationError,
    FirestoreVerifyError,
    InvalidInputError,
    NotFoundError,
)
from firestore_verify.models import AdminUser, Role
from firestore_verify.permissions import Permission, allows, require
from firestore_verify.store import Store

__all__ = [
    "AUTH_EMULATOR_HOST_VAR",
    "ROLE_CLAIM",
    "Authenticator",
    "Principal",
]

AUTH_EMULATOR_HOST_VAR = "FIREBASE_AUTH_EMULATOR_HOST"
"""The variable firebase-admin (and so `Authenticator`) reads the Auth emulator from."""

ROLE_CLAIM = "role"
"""The custom claim that mirrors an admin's role, for the security rules."""

_T = TypeVar("_T")

_CLOUD_HOST = "identitytoolkit.googleapis.com"
_ID_TOKEN_ISSUER = "https://securetoken.google.com/"
_COOKIE_ISSUER = "https://session.firebase.google.com/"
_MIN_SESSION = timedelta(minutes=5)
"""Firebase's bounds for a session cookie's lifetime."""
_MAX_SESSION = timedelta(days=14)


@dataclass(frozen=True)
class Principal:
    """A signed-in dashboard admin: who they are and what their role lets them do.

    Built by `Authenticator.verify_id_token()` and
    `Authenticator.verify_session_cookie()`, only for users with an
    active ``admin_users`` document.
    """

    uid: str
    """Firebase Auth uid (also the ``admin_users`` document id)."""
    email: str
    """The email address of the token, or the admin document's when the token has none."""
    role: Role
    """The role of the admin document (not the token's claim)."""
    admin: AdminUser
    """The admin document as read when the credential was verified."""
    claims: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    """The verified token's claims (``auth_time``, ``iat``, ``exp``, custom claims...)."""

    def can(self, permission: Permission | str) -> bool:
        """Whether this admin's role grants ``permission`` (the table of `.permissions`)."""
        return allows(self.role, permission)

    def require(self, permission: Permission | str) -> None:
        """Raise unless this admin's role grants ``permission``.

        Raises:
            PermissionDeniedError: when the role lacks the permission (HTTP 403).

        """
        require(self.role, permission)


class _EmulatorCredentials(google_credentials.Credentials):
    """The bearer token the Auth emulator treats as an admin; never refreshed."""

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.token = "owner"

    def refresh(self, request: Any) -> None:
        """Do nothing: the emulator accepts this token forever."""


def _validate_host(host: str, source: str) -> str:
    if "//" in host or ":" not in host or not host.rsplit(":", 1)[1].isdigit():
        raise ConfigurationError(
            f"Auth emulator host {host!r} must look like HOST:PORT, e.g. 127.0.0.1:9099 "
            f"(check {source})."
        )
    return host


def _point_at_emulator(client: Any, host: str, project: str) -> None:
    """Send every call of a firebase-admin auth ``Client`` to the emulator at ``host``.

    firebase-admin only reads ``FIREBASE_AUTH_EMULATOR_HOST`` from the process
    environment; an explicit host must not change that environment (other
    clients in the process read it too), so the client's endpoints are set here.
    """
    base = f"http://{host}/identitytoolkit.googleapis.com"
    targets = {
        "_token_generator": f"{base}/v1/projects/{project}",
        "_user_manager": f"{base}/v1/projects/{project}",
        "_provider_manager": f"{base}/v2/projects/{project}",
    }
    for attribute in targets:
        if not hasattr(getattr(client, attribute, None), "base_url"):
            raise ConfigurationError(
                f"this firebase-admin version ({firebase_admin.__version__}) cannot be pointed "
                "at an Auth emulator by Authenticator(emulator_host=...): set "
                f"{AUTH_EMULATOR_HOST_VAR}={host} in the environment instead."
            )
    for attribute, url in targets.items():
        getattr(client, attribute).base_url = url
    client.emulated = True


def _decode_segment(segment: str) -> Any:
    padded = segment + "=" * (-len(segment) % 4)
    return json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))


class Authenticator:
    """Verifies Firebase credentials of dashboard admins, and manages their Auth users.

    Build it from the `Store` whose
    ``admin_users`` decide who gets in: ``Authenticator(store)``. It talks to
    the Firebase Auth of the store's project, with the store's credentials
    (service-account key, ``FIREBASE_CLIENT_EMAIL``/``FIREBASE_PRIVATE_KEY``,
    ``GOOGLE_APPLICATION_CREDENTIALS`` or application default credentials).
    Building it does no I/O. Close it with `close()` (or ``async with``);
    the store stays open.

    The Auth emulator is used when ``emulator_host`` is given, or else when
    ``FIREBASE_AUTH_EMULATOR_HOST`` is set in ``env``. An explicit
    ``emulator_host`` works without touching the process environment (the
    client's endpoints are pointed at it, and emulator tokens are checked
    here: audience, issuer, subject, expiry, revocation and disabled users).
    Without an emulator, ``FIREBASE_AUTH_EMULATOR_HOST`` must not be set in
    ``os.environ`` at all, because firebase-admin would then accept unsigned
    tokens.

    Args:
        store: The store whose project and credentials are used, and whose
            ``admin_users`` are the source of truth for who may sign in.
        emulator_host: ``HOST:PORT`` of a Firebase Auth emulator.
        env: Environment to read instead of ``os.environ``.
        timeout: Seconds each HTTP call to Firebase Auth may take.
        clock_skew: Tolerance for the ``iat``/``exp`` checks of tokens and cookies
            (0 to 60 seconds).

    Raises:
        ConfigurationError: when the emulator is asked for a project that does not
            start with ``demo-``; when the store uses the Firestore emulator but
            Auth is not emulated; when ``FIREBASE_AUTH_EMULATOR_HOST`` is set in the
            process environment but Auth is not emulated; or for a malformed host.

    """

    def __init__(
        self,
        store: Store,
        *,
        emulator_host: str | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float = 10.0,
        clock_skew: timedelta = timedelta(seconds=5),
    ) -> None:
        configured = _FirebaseEnv.from_env(env).auth_emulator_host
        if emulator_host is not None:
            host: str | None = _validate_host(emulator_host, "emulator_host=")
        elif configured:
            host = _validate_host(configured, AUTH_EMULATOR_HOST_VAR)
        else:
            host = None
        project = store.project
        skew = clock_skew.total_seconds()
        if not 0 <= skew <= 60:
            raise ConfigurationError(
                f"clock_skew must be between 0 and 60 seconds, not {skew:g}s."
            )
        if host is not None and not project.startswith("demo-"):
            raise ConfigurationError(
                f"refusing the Firebase Auth emulator at {host} for project {project!r}: the "
                "emulator's tokens are unsigned, so it is only used with projects whose id "
                "starts with 'demo-' (e.g. connect(project='demo-my-app')). For a real project, "
                f"unset {AUTH_EMULATOR_HOST_VAR} and drop emulator_host=."
            )
        if host is None:
            _refuse_stray_emulator_variable()
            if store.settings.emulator_host is not None:
                raise ConfigurationError(
                    f"the store uses the Firestore emulator at {store.settings.emulator_host} "
                    "but Firebase Auth is not emulated: set "
                    f"{AUTH_EMULATOR_HOST_VAR} or pass emulator_host= (real Firebase users "
                    "are never checked against an emulated database)."
                )

        self.store = store
        """The store whose ``admin_users`` decide who gets in."""
        self.emulator_host = host
        """``HOST:PORT`` of the Auth emulator, or ``None`` for the real Firebase Auth."""
        self._skew = int(skew)
        credential = _EmulatorCredentials() if host is not None else _store_credentials(store)
        self._app: Any = firebase_admin.initialize_app(
            credential,
            {"projectId": project, "httpTimeout": timeout},
            name=f"firestore-verify-auth-{uuid.uuid4().hex}",
        )
        try:
            # The app's own auth client: the one firebase_admin.auth's functions use with app=.
            self._client: Any = fb_auth._get_client(self._app)
            if host is not None:
                _point_at_emulator(self._client, host, project)
        except BaseException:
            firebase_admin.delete_app(self._app)
            raise
        self._closed = False

    # -- properties -----------------------------------------------------------------

    @property
    def project(self) -> str:
        """The Firebase project id (the store's)."""
        return self.store.project

    @property
    def emulated(self) -> bool:
        """Whether this authenticator talks to the Auth emulator."""
        return self.emulator_host is not None

    @property
    def host(self) -> str:
        """Where Firebase Auth is reached: the emulator's ``HOST:PORT`` or Google's host."""
        return self.emulator_host or _CLOUD_HOST

    @property
    def app_name(self) -> str:
        """The name of this authenticator's own ``firebase_admin.App``."""
        return str(self._app.name)

    # -- verification --------------------------------------------------------------

    async def verify_id_token(self, token: str) -> Principal:
        """Verify a Firebase ID token and return the active admin it belongs to.

        The token must be valid, unexpired, not revoked, and its user not
        disabled (firebase-admin's ``check_revoked=True``); its user must have
        an active ``admin_users`` document.

        Raises:
            AuthenticationError: for a missing, malformed, forged, expired or
                revoked token, a disabled or deleted user, or no active admin.
            ConfigurationError: when Firebase Auth cannot be reached.

        """
        claims = await self._verify(token, "ID token")
        return await self._principal(claims)

    async def verify_session_cookie(self, cookie: str) -> Principal:
        """Verify a session cookie (from `create_session_cookie()`) and return its admin.

        The same checks as `verify_id_token()` (``check_revoked=True``, an
        active ``admin_users`` document).

        Raises:
            AuthenticationError: for a missing, malformed, forged, expired or
                revoked cookie, a disabled or deleted user, or no active admin.
            ConfigurationError: when Firebase Auth cannot be reached.

        """
        claims = await self._verify(cookie, "session cookie")
        return await self._principal(claims)

    async def create_session_cookie(
        self,
        id_token: str,
        *,
        expires_in: timedelta = timedelta(days=5),
        max_auth_age: timedelta | None = timedelta(minutes=5),
    ) -> str:
        """Exchange an ID token of an active admin for a session cookie; record the login.

        The ID token is verified first (as by `verify_id_token()`), so only
        active admins get a cookie; then ``last_login`` of their admin document
        is stamped.

        Args:
            id_token: The ID token the browser got at sign-in.
            expires_in: How long the cookie is valid (5 minutes to 14 days).
            max_auth_age: Refuse when the user signed in (``auth_time``) longer
                ago than this, as Firebase recommends, so that a stolen ID
                token cannot be turned into a long-lived cookie. ``None``
                disables the check.

        Raises:
            InvalidInputError: when ``expires_in`` is out of bounds.
            AuthenticationError: when the ID token is refused, its sign-in is
                too old, or the user is no active admin.
            ConfigurationError: when Firebase Auth cannot be reached.

        """
        if not _MIN_SESSION <= expires_in <= _MAX_SESSION:
            raise InvalidInputError(
                f"expires_in must be between 5 minutes and 14 days, not {expires_in}.",
                errors=["expires_in: between 5 minutes and 14 days"],
            )
        claims = await self._verify(id_token, "ID token")
        principal = await self._principal(claims)
        if max_auth_age is not None:
            auth_time = claims.get("auth_time")
            if not isinstance(auth_time, (int, float)) or (
                time.time() - auth_time > max_auth_age.total_seconds() + self._skew
            ):
                raise AuthenticationError(
                    "this sign-in is too old to start a session: sign in again, then create "
                    "the session cookie right away."
                )
        cookie = await self._call(
            "creating a session cookie",
            fb_auth.create_session_cookie,
            id_token,
            int(expires_in.total_seconds()),
            app=self._app,
        )
        try:
            await self.store.admins.record_login(principal.uid)
        except NotFoundError:  # removed since it was read: no session for them
            raise AuthenticationError(
                f"user {principal.uid!r} is no dashboard admin any more."
            ) from None
        return str(cookie)

    # -- user management -------------------------------------------------------------

    async def revoke(self, uid: str) -> None:
        """Revoke the refresh tokens of ``uid``: sign them out everywhere.

        ID tokens and session cookies issued before now are refused from now
        on (to the second: Firebase keeps revocation times in whole seconds).

        Raises:
            NotFoundError: when no Firebase user has this uid.
            InvalidInputError: when ``uid`` is malformed.
            ConfigurationError: when Firebase Auth cannot be reached.

        """
        await self._call(f"revoking the tokens of {uid!r}", self._client.revoke_refresh_tokens,
                         uid, uid=uid)

    async def set_role_claim(self, uid: str, role: Role | str) -> None:
        """Set the custom claim ``role`` of ``uid`` (other claims kept) and revoke their tokens.

        Revoking makes the new role take effect at once: the user signs in again
        and gets a token with it. This only mirrors the role for security
        rules; the ``admin_users`` document stays the source of truth.

        Raises:
            InvalidInputError: when ``role`` is not a role, or ``uid`` is malformed.
            NotFoundError: when no Firebase user has this uid.
            ConfigurationError: when Firebase Auth cannot be reached.

        """
        try:
            value = Role(role).value
        except ValueError:
            raise InvalidInputError(
                f"{role!r} is not a role: use one of {', '.join(r.value for r in Role)}.",
                errors=[f"role: one of {', '.join(r.value for r in Role)}"],
            ) from None
        user = await self._call(f"reading user {uid!r}", self._client.get_user, uid, uid=uid)
        claims = dict(user.custom_claims or {})
        claims[ROLE_CLAIM] = value
        await self._call(f"setting the role claim of {uid!r}",
                         self._client.set_custom_user_claims, uid, claims, uid=uid)
        await self.revoke(uid)

    async def find_or_create_user(
        self,
        email: str,
        *,
        password: str | None = None,
        display_name: str | None = None,
    ) -> str:
        """Return the uid of the Firebase user with ``email``, creating the user if needed.

        Idempotent: an existing user is returned unchanged (its password and
        display name are not touched).

        Args:
            email: The user's email address.
            password: The password of a new user (at least 6 characters); without
                one, the user signs in by a password-reset link or another provider.
            display_name: The display name of a new user.

        Raises:
            InvalidInputError: for a malformed email, a weak password...
            ConfigurationError: when Firebase Auth cannot be reached.

        """
        what = f"looking up {email!r}"
        try:
            user = await self._call(what, self._client.get_user_by_email, email)
            return str(user.uid)
        except NotFoundError:
            pass
        options: dict[str, Any] = {"email": email}
        if password is not None:
            options["password"] = password
        if display_name is not None:
            options["display_name"] = display_name
        try:
            user = await self._call(f"creating {email!r}", self._client.create_user, **options)
        except _EmailTaken:  # created concurrently: that user is the one
            user = await self._call(what, self._client.get_user_by_email, email)
        return str(user.uid)

    # -- health and life cycle ----------------------------------------------------------

    async def check(self) -> None:
        """Check that Firebase Auth answers, with a cheap call (list one user).

        For a ``/ready`` endpoint.

        Raises:
            ConfigurationError: when Firebase Auth cannot be reached or refuses the
                credentials; the message names the host.

        """
        await self._call("checking readiness", self._client.list_users, max_results=1)

    async def close(self) -> None:
        """Delete this authenticator's ``firebase_admin.App``. Safe to call twice."""
        if not self._closed:
            self._closed = True
            firebase_admin.delete_app(self._app)

    async def __aenter__(self) -> Authenticator:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        target = f"emulator {self.emulator_host}" if self.emulator_host else "cloud"
        return f"Authenticator(project={self.project!r}, {target})"

    # -- internals -------------------------------------------------------------------

    async def _call(
        self, what: str, function: Callable[..., _T], *args: Any, uid: str | None = None,
        **kwargs: Any,
    ) -> _T:
        """Run a blocking firebase-admin call in a thread; translate its errors."""
        if self._closed:
            raise ConfigurationError("this Authenticator is closed: build a new one.")
        try:
            return await anyio.to_thread.run_sync(functools.partial(function, *args, **kwargs))
        except fb_auth.EmailAlreadyExistsError:
            raise _EmailTaken(f"{what}: the email address is taken") from None
        except fb_auth.UserNotFoundError:
            raise NotFoundError("Firebase Auth user", uid if uid is not None else what) from None
        except ValueError as exc:  # firebase-admin's validation of uids, emails, passwords...
            raise InvalidInputError(f"{what}: {exc}", errors=[str(exc)]) from None
        except fb_exceptions.FirebaseError as exc:
            raise self._translate(what, exc) from None

    def _translate(self, what: str, exc: fb_exceptions.FirebaseError) -> FirestoreVerifyError:
        where = f"Firebase Auth at {self.host}"
        if isinstance(exc, (fb_exceptions.UnavailableError, fb_exceptions.DeadlineExceededError)):
            hint = (
                f"is the Auth emulator running there (check {AUTH_EMULATOR_HOST_VAR})?"
                if self.emulated else "check the network and proxy settings."
            )
            return ConfigurationError(f"{where} is unreachable while {what} ({exc}): {hint}")
        if isinstance(exc, (fb_exceptions.PermissionDeniedError,
                            fb_exceptions.UnauthenticatedError)):
            return ConfigurationError(
                f"{where} refused the credentials while {what} ({exc}): use a service "
                "account with the Firebase Authentication Admin role."
            )
        if isinstance(exc, fb_exceptions.InvalidArgumentError):
            return InvalidInputError(f"{what}: {exc}", errors=[str(exc)])
        if isinstance(exc, fb_exceptions.NotFoundError):
            return ConfigurationError(
                f"{where} has no such project or configuration while {what} ({exc}): check "
                f"that project {self.project!r} has Firebase Authentication enabled."
            )
        return FirestoreVerifyError(f"{where} failed while {what}: {exc}")

    async def _verify(self, token: object, kind: str) -> dict[str, Any]:
        """Verify ``token`` (an ID token or a session cookie); return its claims."""
        if not isinstance(token, str) or not token.strip():
            raise AuthenticationError(f"no {kind} was given: sign in first.")
        if self.emulated:
            claims = self._emulator_claims(token, kind)
            await self._check_not_revoked(claims, kind)
            return claims
        _refuse_stray_emulator_variable()
        verify = fb_auth.verify_id_token if kind == "ID token" else fb_auth.verify_session_cookie
        try:
            claims = await anyio.to_thread.run_sync(functools.partial(
                verify, token, app=self._app, check_revoked=True,
                clock_skew_seconds=self._skew))
        except (fb_auth.RevokedIdTokenError, fb_auth.RevokedSessionCookieError):
            raise AuthenticationError(f"this {kind} was revoked: sign in again.") from None
        except (fb_auth.ExpiredIdTokenError, fb_auth.ExpiredSessionCookieError):
            raise AuthenticationError(f"this {kind} has expired: sign in again.") from None
        except fb_auth.UserDisabledError:
            raise AuthenticationError(f"the account of this {kind} is disabled.") from None
        except fb_auth.UserNotFoundError:
            raise AuthenticationError(f"the user of this {kind} does not exist.") from None
        except (fb_auth.InvalidIdTokenError, fb_auth.InvalidSessionCookieError,
                ValueError) as exc:
            raise AuthenticationError(f"this {kind} is not valid: {exc}") from None
        except fb_auth.CertificateFetchError as exc:
            raise ConfigurationError(
                f"could not fetch Google's public keys to verify the {kind} ({exc}): check "
                "the network and proxy settings."
            ) from None
        except fb_exceptions.FirebaseError as exc:
            raise self._translate(f"verifying a {kind}", exc) from None
        return dict(claims)

    def _emulator_claims(self, token: str, kind: str) -> dict[str, Any]:
        """Check an (unsigned) emulator token's claims the way firebase-admin checks real ones.

        firebase-admin skips the signature *and the expiry* of emulator tokens;
        the expiry is checked here too, so tests see production behaviour.
        """
        parts = token.split(".")
        try:
            if len(parts) != 3:
                raise ValueError("not three segments")
            header, claims = _decode_segment(parts[0]), _decode_segment(parts[1])
        except (ValueError, UnicodeError, binascii.Error):
            raise AuthenticationError(f"this {kind} is not valid: not a JWT.") from None
        if not isinstance(header, dict) or not isinstance(claims, dict):
            raise AuthenticationError(f"this {kind} is not valid: not a JWT.")
        issuer = (_ID_TOKEN_ISSUER if kind == "ID token" else _COOKIE_ISSUER) + self.project
        subject = claims.get("sub")
        now = time.time()
        problem = None
        if claims.get("aud") != self.project:
            problem = f"it is for project {claims.get('aud')!r}, not {self.project!r}"
        elif claims.get("iss") != issuer:
            problem = f"its issuer is {claims.get('iss')!r}, not {issuer!r}"
        elif not isinstance(subject, str) or not 0 < len(subject) <= 128:
            problem = "it has no valid subject (uid)"
        elif not all(isinstance(claims.get(k), (int, float)) for k in ("iat", "exp")):
            problem = "it has no issue or expiry time"
        elif claims["iat"] > now + self._skew:
            problem = "it was issued in the future"
        if problem is not None:
            raise AuthenticationError(f"this {kind} is not valid: {problem}.")
        if claims["exp"] <= now - self._skew:
            raise AuthenticationError(f"this {kind} has expired: sign in again.")
        claims["uid"] = subject
        return claims

    async def _check_not_revoked(self, claims: Mapping[str, Any], kind: str) -> None:
        """firebase-admin's ``check_revoked``, for emulator tokens."""
        uid = str(claims["uid"])
        try:
            user = await self._call(f"verifying a {kind}", self._client.get_user, uid, uid=uid)
        except NotFoundError:
            raise AuthenticationError(f"the user of this {kind} does not exist.") from None
        if user.disabled:
            raise AuthenticationError(f"the account of this {kind} is disabled.")
        if claims["iat"] * 1000 < (user.tokens_valid_after_timestamp or 0):
            raise AuthenticationError(f"this {kind} was revoked: sign in again.")

    async def _principal(self, claims: Mapping[str, Any]) -> Principal:
        uid = str(claims["uid"])
        admin = await self.store.admins.find(uid)
        if admin is None:
            raise AuthenticationError(
                f"user {uid!r} is no dashboard admin: ask an owner to add them."
            )
        if not admin.is_active:
            raise AuthenticationError(f"admin {uid!r} is deactivated: ask an owner.")
        email = claims.get("email")
        return Principal(
            uid=uid,
            email=email if isinstance(email, str) and email else admin.email,
            role=admin.role,
            admin=admin,
            claims=dict(claims),
        )


class _EmailTaken(FirestoreVerifyError):
    """Internal: ``create_user`` met an existing email (a concurrent creation)."""


def _refuse_stray_emulator_variable() -> None:
    """Refuse real Auth while firebase-admin would read an emulator from ``os.environ``."""
    # Read raw, as firebase-admin reads it (even a blank value switches it to the emulator).
    stray = os.environ.get(AUTH_EMULATOR_HOST_VAR)
    if stray:
        raise ConfigurationError(
            f"{AUTH_EMULATOR_HOST_VAR}={stray} is set in the process environment, but this "
            "Authenticator is not for the emulator: firebase-admin would then accept unsigned "
            f"tokens. Unset {AUTH_EMULATOR_HOST_VAR}, or use the emulator with a demo- project."
        )


def _store_credentials(store: Store) -> Any:
    """The store's Google credentials: same source (key, env pair, ADC), loaded once."""
    credentials: Any = getattr(store, "_credentials", None)
    if credentials is None:  # pragma: no cover - every Store has them
        raise ConfigurationError("the store has no credentials to authenticate with.")
    return credentials
