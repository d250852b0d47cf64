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
    email: Email
    full_name: OptionalText = None
    role: Role = Role.VIEWER
    is_active: bool = True
    telegram_id: UserId | None = None
    last_login: UtcDateTime | None = None
    created_at: UtcDateTime | None = None


class Actor(InputModel):
    """Who makes an audited change, and from where: copied into its audit entry."""

    #: Firebase Auth uid of the admin making the change.
    uid: Key
    #: Client IP address as the app saw it (after trusted proxies).
    ip_address: Annotated[str | None, Field(default=None, max_length=64)] = None
    #: The client's ``User-Agent`` header.
    user_agent: Annotated[str | None, Field(default=None, max_length=1024)] = None


def _new_audit_id() -> str:
    return uuid.uuid4().hex


class AuditEntry(Document):
    """One admin action, for the audit trail."""

    collection: ClassVar[str] = "admin_audit_log"
    server_timestamps: ClassVar[tuple[str, ...]] = ("created_at",)

    id: Key = Field(default_factory=_new_audit_id)
    actor_uid: Key
    action: Text
    resource_type: Text
    resource_id: OptionalText = None
    old_value: StoredValue = None
    new_value: StoredValue = None
    ip_address: Annotated[str | None, Field(default=None, max_length=64)] = None
    user_agent: Annotated[str | None, Field(default=None, max_length=1024)] = None
    created_at: UtcDateTime | None = None


class ConfigEntry(Document):
    """A runtime configuration value, editable from the dashboard."""

    collection: ClassVar[str] = "admin_config"
    id_field: ClassVar[str] = "key"
    server_timestamps: ClassVar[tuple[str, ...]] = ("updated_at",)

    key: Key
    value: StoredValue = None
    description: Annotated[str | None, Field(default=None, max_length=1024)] = None
    is_sensitive: bool = False
    updated_by: OptionalText = None
    updated_at: UtcDateTime | None = None
