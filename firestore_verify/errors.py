"""Typed errors raised by firestore-verify.

Every error derives from :class:`FirestoreVerifyError`, so callers can catch the
whole family at once, and every message says what to do about it.
"""

from __future__ import annotations

__all__ = [
    "AlreadyExistsError",
    "AuthenticationError",
    "ConfigurationError",
    "ConflictError",
    "FirestoreVerifyError",
    "InvalidInputError",
    "LoggerClosedError",
    "NotFoundError",
    "PermissionDeniedError",
]


class FirestoreVerifyError(Exception):
    """Base class of every error raised by firestore-verify."""


class ConfigurationError(FirestoreVerifyError):
    """Missing or contradictory configuration: the message says what to set."""


class InvalidInputError(FirestoreVerifyError, ValueError):
    """Input that can never be stored: wrong id signs, empty titles, unknown fields..."""

    def __init__(self, message: str, *, errors: list[str] | None = None) -> None:
        super().__init__(message)
        #: One line per problem found, as ``field: reason``.
        self.errors: list[str] = errors or []


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


class LoggerClosedError(FirestoreVerifyError):
    """``record()`` was called on a verification logger that is closed."""


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
        #: The role of the admin who asked.
        self.role = role
        #: The permission that was missing.
        self.permission = permission
