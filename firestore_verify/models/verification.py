"""``verifications/{event_id}``: one membership check by a bot."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from enum import Enum
from typing import ClassVar

from pydantic import Field

from firestore_verify.models._base import (
    ChatId,
    Document,
    DocumentKey,
    OptionalText,
    UserId,
    UtcDateTime,
)

__all__ = ["Status", "Verification"]


class Status(str, Enum):
    """The outcome of a membership check."""

    SUCCESS = "success"
    """The user is a member of every enforced channel."""
    FAILED = "failed"
    """The user is missing from at least one channel."""
    ERROR = "error"
    """The Telegram API failed; treated as not verified."""


def _new_event_id() -> str:
    return uuid.uuid4().hex


def _now() -> datetime:
    return datetime.now(timezone.utc)


class Verification(Document):
    """A verification event. Its id is chosen by the client, so writes are create-only."""

    collection: ClassVar[str] = "verifications"
    server_timestamps: ClassVar[tuple[str, ...]] = ("created_at",)

    id: DocumentKey = Field(default_factory=_new_event_id)
    """The event id (the document id): a random hex UUID unless given; create-only."""
    user_id: UserId
    """Telegram user id of the user checked (positive)."""
    group_id: ChatId
    """Telegram chat id of the group the check was for (negative)."""
    channel_id: ChatId | None = None
    """Telegram chat id of the channel checked (negative), or ``None``."""
    status: Status
    """The outcome: ``success``, ``failed`` or ``error``."""
    latency_ms: float | None = Field(default=None, ge=0, le=3_600_000)
    """How long the check took, in milliseconds (0 to 3,600,000), or ``None``."""
    cached: bool = False
    """The answer came from the membership cache, not from Telegram."""
    error_type: OptionalText = None
    """The exception class name when the check failed (status ``error``), or ``None``."""
    repeats: int = Field(default=0, ge=0, le=1_000_000_000)
    """Further checks with the same outcome folded into this event (cache hits of one
    user, group and channel, see ``LoggerSettings.cache_hits``): it counts as
    ``1 + repeats`` checks in the counters and rollups.
    """
    occurred_at: UtcDateTime = Field(default_factory=_now)
    """When the check happened, by the bot's clock (UTC)."""
    created_at: UtcDateTime | None = None
    """When Firestore stored it (server timestamp); ``None`` until written."""
    expires_at: UtcDateTime | None = None
    """When a TTL policy may delete it (``LoggerSettings.retention_days`` sets it);
    ``None``: kept for good."""

    @property
    def checks(self) -> int:
        """How many membership checks this event stands for: ``1 + repeats``."""
        return 1 + self.repeats
