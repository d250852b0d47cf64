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
    username: Username | None = None


class Owner(Document):
    """A stored group owner."""

    collection: ClassVar[str] = "owners"
    server_timestamps: ClassVar[tuple[str, ...]] = ("created_at", "updated_at")

    id: UserId
    username: Username | None = None
    #: Free-form per-owner settings (language, notification choices...).
    settings: JsonMap = Field(default_factory=dict)
    created_at: UtcDateTime | None = None
    updated_at: UtcDateTime | None = None
