"""``owners/{telegram_user_id}``: the Telegram users who protect groups."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from firestore_verify.models._base import (
    Document,
    InputModel,
    JsonMap,
    UserId,
    Username,
    UtcDateTime,
)

__all__ = ["Owner", "OwnerInfo"]


class OwnerInfo(InputModel):
    """Who protects a group, as the bot knows them from Telegram."""

    id: UserId
    """Telegram user id of the owner (positive)."""
    username: Username | None = None
    """Telegram username without the ``@`` (4-32 characters), or ``None``."""


class Owner(Document):
    """A stored group owner."""

    collection: ClassVar[str] = "owners"
    server_timestamps: ClassVar[tuple[str, ...]] = ("created_at", "updated_at")

    id: UserId
    """Telegram user id of the owner (positive); the document id."""
    username: Username | None = None
    """Telegram username without the ``@`` (4-32 characters), or ``None``."""
    settings: JsonMap = Field(default_factory=dict)
    """Free-form per-owner settings (language, notification choices...)."""
    created_at: UtcDateTime | None = None
    """When the document was created (server timestamp, UTC); ``None`` until stored."""
    updated_at: UtcDateTime | None = None
    """When the document last changed (server timestamp, UTC); ``None`` until stored."""
