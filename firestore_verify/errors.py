"""Typed errors raised by firestore-verify: all of them, in one place.

Every error derives from `FirestoreVerifyError`, so callers can catch the
whole family at once, and every message says what to do about it::

    FirestoreVerifyError
    ├── ConfigurationError          missing or contradictory settings
    │   └── (testing) EmulatorNotFoundError, JavaNotFoundError,
    │       RedisNotFoundError, FirebaseToolsNotFoundError
    ├── InvalidInputError           (also a ValueError) input that can never be stored
    ├── NotFoundError               (also a LookupError) no such document
    ├── AlreadyExistsError          a create met an existing document
    ├── ConflictError               concurrent writers kept winning; retry
    ├── UnavailableError            Firestore did not answer in time; names the host
    ├── LoggerClosedError           record() outside the logger's block
    ├── LoggerFailedError           an error no retry fixes stopped the logger
    ├── BufferFullError             record() found the buffer full; await put()
    ├── FlushTimeoutError           closing could not commit all in time
    ├── SpoolError                  the durable spool cannot be written or read
    ├── SubscriberDroppedError      a fan-out subscriber was too slow, or its stream failed
    ├── AuthenticationError         not signed in, or not an active admin
    │   └── TooManyAttemptsError    Firebase Auth blocked sign-ins for a while
    ├── PermissionDeniedError       signed in, but the role does not allow it
    └── (testing) EmulatorError, RedisServerError   a test server failed to start

The errors of the test helpers live in `firestore_verify.testing`, which
only test runs import.
"""

from __future__ import annotations

from typing import Any, Literal

__all__ = [
    "AlreadyExistsError",
    "AuthenticationError",
    "BufferFullError",
    "ConfigurationError",
    "ConflictError",
    "FirestoreVerifyError",
    "FlushTimeoutError",
    "InvalidInputError",
    "LoggerClosedError",
    "LoggerFailedError",
    "NotFoundError",
    "PermissionDeniedError",
    "SpoolError",
    "SubscriberDroppedError",
    "TooManyAttemptsError",
    "UnavailableError",
]


class FirestoreVerifyError(Exception):
    """Base class of every error raised by firestore-verify."""


class ConfigurationError(FirestoreVerifyError):
    """Missing or contradictory configuration: the message says what to set."""

    def __init__(self, message: str, *, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems: list[str] = problems or [message]
        """One line per problem, naming the variable or argument to fix."""


class InvalidInputError(FirestoreVerifyError, ValueError):
    """Input that can never be stored: wrong id signs, empty titles, unknown fields..."""

    def __init__(self, message: str, *, errors: list[str] | None = None) -> None:
        super().__init__(message)
        self.errors: list[str] = errors or []
        """One line per problem found, as ``field: reason``."""


class NotFoundError(FirestoreVerifyError, LookupError):
    """The document asked for does not exist."""

    def __init__(self, resource: str, key: object) -> None:
        super().__init__(
            f"{resource} {key!r} does not exist; create it first or check the id "
            "(Telegram group and channel ids are negative, e.g. -1001234567890)."
        )
        self.resource = resource
        self.key = key


class AlreadyExistsError(FirestoreVerifyError):
    """A create met an existing document: use update (or an upsert) instead."""

    def __init__(self, resource: str, key: object) -> None:
        super().__init__(
            f"{resource} {key!r} already exists; call update() to change it "
            "or delete() it first."
        )
        self.resource = resource
        self.key = key


class ConflictError(FirestoreVerifyError):
    """A concurrent change won: re-read and retry, or give up on the change."""


class UnavailableError(FirestoreVerifyError):
    """Firestore did not answer in time: unreachable, refusing, or too slow.

    Raised within the call's deadline (``connect(timeout=...)``) instead of
    hanging or leaking google-api-core's ``RetryError``. Nothing was half
    applied by the library: a change either landed whole or not at all, and
    the logger keeps the events it accepted until Firestore answers again.
    """

    def __init__(self, message: str, *, host: str | None = None) -> None:
        super().__init__(message)
        self.host = host
        """``HOST:PORT`` of the emulator that did not answer, or ``None`` for Cloud Firestore."""


class LoggerClosedError(FirestoreVerifyError):
    """``record()`` was called on a verification logger that is closed."""


class LoggerFailedError(FirestoreVerifyError):
    """The verification logger met an error no retry can fix, and stopped committing.

    A permission the security rules refuse, an invalid argument: retrying would
    fail the same way forever. Nothing accepted is lost: ``unwritten`` holds
    every event not committed (write them with ``write_many`` once the cause is
    fixed); ``__cause__`` is the error Firestore gave.
    """

    def __init__(self, message: str, *, unwritten: list[Any] | None = None) -> None:
        super().__init__(message)
        self.unwritten: list[Any] = unwritten or []
        """The events accepted and not committed (``Verification`` objects)."""


class SpoolError(FirestoreVerifyError):
    """The spool could not store or read events (closed, disk full, I/O error).

    When `append()` raises it, the event was not stored: the
    logger must not accept it either.
    """


class AuthenticationError(FirestoreVerifyError):
    """No valid credential: a missing, expired, revoked or forged token, or no active admin.

    An app answers it with HTTP 401 (sign in again).
    """


class PermissionDeniedError(FirestoreVerifyError):
    """The signed-in admin's role does not grant what was asked (HTTP 403)."""

    def __init__(self, role: str, permission: str) -> None:
        super().__init__(
            f"role {role!r} may not {permission!r}; ask an owner for a role that grants it."
        )
        self.role = role
        """The role of the admin who asked."""
        self.permission = permission
        """The permission that was missing."""


class BufferFullError(FirestoreVerifyError):
    """``record()`` found the buffer full: await ``put()`` to wait for room instead."""


class FlushTimeoutError(FirestoreVerifyError):
    """Closing the logger could not commit everything within ``close_timeout``.

    Nothing is lost: ``unwritten`` holds every event that was not committed,
    for the caller to keep (and write later with ``write_many``, which skips
    any that did land).
    """

    def __init__(self, unwritten: list[Any], timeout: float) -> None:
        super().__init__(
            f"{len(unwritten)} events were not committed within {timeout:g}s of closing "
            "(is Firestore reachable?); they are in .unwritten: store them and retry."
        )
        self.unwritten: list[Any] = unwritten
        """The events not committed (``Verification`` objects)."""


class SubscriberDroppedError(FirestoreVerifyError):
    """A fan-out subscription ended before its subscriber left it.

    ``reason`` is ``"slow"`` when the subscriber fell ``max_queue`` values
    behind, ``"failed"`` when the shared stream raised (the error is the
    ``__cause__``). Either way, subscribe again to get the current state.
    """

    def __init__(self, key: str, reason: Literal["slow", "failed"], detail: str) -> None:
        super().__init__(f"live stream {key!r}: {detail}; subscribe again for the current state.")
        self.key = key
        """The stream key of the subscription."""
        self.reason: Literal["slow", "failed"] = reason
        """``"slow"`` or ``"failed"``."""


class TooManyAttemptsError(AuthenticationError):
    """Firebase Auth blocked sign-ins for this account or client for a while."""
