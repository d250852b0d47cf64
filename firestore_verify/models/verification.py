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
    user_id: UserId
    group_id: ChatId
    channel_id: ChatId | None = None
    status: Status
    latency_ms: float | None = Field(default=None, ge=0, le=3_600_000)
    cached: bool = False
    error_type: OptionalText = None
    #: Further checks with the same outcome folded into this event (cache hits of one
    #: user, group and channel, see ``LoggerSettings.cache_hits``): it counts as
    #: ``1 + repeats`` checks in the counters and rollups.
    repeats: int = Field(default=0, ge=0, le=1_000_000_000)
    #: When the check happened, by the bot's clock (UTC).
    occurred_at: UtcDateTime = Field(default_factory=_now)
    #: When Firestore stored it (server timestamp); ``None`` until written.
    created_at: UtcDateTime | None = None

    @property
    def checks(self) -> int:
        """How many membership checks this event stands for: ``1 + repeats``."""
        return 1 + self.repeats
