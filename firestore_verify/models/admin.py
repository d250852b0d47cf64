"""Dashboard-side collections: ``admin_users``, ``admin_audit_log``, ``admin_config``."""

from __future__ import annotations

import uuid
from enum import Enum
from typing import Annotated, ClassVar

from pydantic import Field

from firestore_verify.models._base import (
    Document,
    DocumentKey,
    InputModel,
    OptionalText,
    StoredValue,
    Text,
    UserId,
    UtcDateTime,
)

__all__ = ["Actor", "AdminUser", "AuditEntry", "ConfigEntry", "Role"]

Email = Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)]
Key = DocumentKey


class Role(str, Enum):
    """What an admin may do on the dashboard."""

    OWNER = "owner"
    ADMIN = "admin"
    VIEWER = "viewer"


class AdminUser(Document):
    """A dashboard user, keyed by Firebase Auth uid."""

    collection: ClassVar[str] = "admin_users"
    id_field: ClassVar[str] = "uid"
    server_timestamps: ClassVar[tuple[str, ...]] = ("created_at",)

    uid: Key
    """Firebase Auth uid of the admin; the document id."""
    email: Email
    """Sign-in email address (at most 254 characters)."""
    full_name: OptionalText = None
    """Display name (at most 255 characters); ``None`` when not given."""
    role: Role = Role.VIEWER
    """What the admin may do (``viewer`` by default); changed only through ``set_role``."""
    is_active: bool = True
    """Whether the admin may sign in; ``deactivate`` sets it to ``False``, keeping the record."""
    telegram_id: UserId | None = None
    """The admin's Telegram user id (positive), or ``None`` when not linked."""
    last_login: UtcDateTime | None = None
    """When the admin last signed in (server timestamp, UTC); ``None`` before the first."""
    created_at: UtcDateTime | None = None
    """When the document was created (server timestamp, UTC); ``None`` until stored."""


class Actor(InputModel):
    """Who makes an audited change, and from where: copied into its audit entry."""

    uid: Key
    """Firebase Auth uid of the admin making the change."""
    ip_address: Annotated[str | None, Field(default=None, max_length=64)] = None
    """Client IP address as the app saw it (after trusted proxies)."""
    user_agent: Annotated[str | None, Field(default=None, max_length=1024)] = None
    """The client's ``User-Agent`` header."""


def _new_audit_id() -> str:
    return uuid.uuid4().hex


class AuditEntry(Document):
    """One admin action, for the audit trail."""

    collection: ClassVar[str] = "admin_audit_log"
    server_timestamps: ClassVar[tuple[str, ...]] = ("created_at",)

    id: Key = Field(default_factory=_new_audit_id)
    """The entry id (the document id): a random hex UUID unless given."""
    actor_uid: Key
    """``uid`` of the `Actor` who made the change (``cli:<user>`` from the CLI)."""
    action: Text
    """What was done, as ``<resource_type>.<verb>``: ``group.disable``, ``config.set``..."""
    resource_type: Text
    """The kind of resource changed: ``group``, ``channel``, ``admin``, ``config``..."""
    resource_id: OptionalText = None
    """Id of the resource changed, as text (at most 255 characters), or ``None``."""
    old_value: StoredValue = None
    """The audited state before the change: the changed fields, or the whole document
    when deleted; ``None`` when there was none. Secrets read as ``MASK``.
    """
    new_value: StoredValue = None
    """The audited state after the change: the changed fields, or the whole document
    when created; ``None`` when deleted. Secrets read as ``MASK``.
    """
    ip_address: Annotated[str | None, Field(default=None, max_length=64)] = None
    """The actor's client IP address (at most 64 characters), or ``None``."""
    user_agent: Annotated[str | None, Field(default=None, max_length=1024)] = None
    """The actor's ``User-Agent`` header (at most 1024 characters), or ``None``."""
    created_at: UtcDateTime | None = None
    """When the entry was written (server timestamp, UTC); ``None`` until stored."""


class ConfigEntry(Document):
    """A runtime configuration value, editable from the dashboard."""

    collection: ClassVar[str] = "admin_config"
    id_field: ClassVar[str] = "key"
    server_timestamps: ClassVar[tuple[str, ...]] = ("updated_at",)

    key: Key
    """The setting's key, also the document id; the bot's use dotted keys (``cache.jitter``)."""
    value: StoredValue = None
    """The stored value: anything Firestore can store; ``None`` when unset."""
    description: Annotated[str | None, Field(default=None, max_length=1024)] = None
    """What the setting does (at most 1024 characters), or ``None``."""
    is_sensitive: bool = False
    """A secret: audit entries and masked reads show ``MASK`` instead of the value."""
    updated_by: OptionalText = None
    """Who last set it (at most 255 characters): by default the actor's uid."""
    updated_at: UtcDateTime | None = None
    """When it was last set (server timestamp, UTC); ``None`` until stored."""
