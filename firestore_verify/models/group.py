"""``protected_groups/{group_id}``: groups whose members must join channels."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, computed_field

from firestore_verify.models._base import (
    ChatId,
    Count,
    Document,
    InputModel,
    JsonMap,
    Text,
    UserId,
    UtcDateTime,
)
from firestore_verify.models.channel import ChannelRef

__all__ = ["GroupInfo", "ProtectedGroup", "search_key"]

MAX_CHANNELS_PER_GROUP = 50
"""Telegram allows at most this many enforced channels to be useful in one warning."""


def search_key(text: str) -> str:
    """The case-insensitive form of a title that prefix searches compare (``casefold``)."""
    return text.strip().casefold()


class GroupInfo(InputModel):
    """A group as the bot knows it from Telegram (input to protect)."""

    id: ChatId
    """Telegram chat id of the group (negative, e.g. ``-1001234567890``)."""
    title: Text
    """The group's title (1-255 characters, stripped)."""
    member_count: Count | None = None
    """Members as Telegram reports them (not negative); ``None`` keeps the stored count."""


class ProtectedGroup(Document):
    """A stored protected group, with its enforced channels embedded."""

    collection: ClassVar[str] = "protected_groups"
    server_timestamps: ClassVar[tuple[str, ...]] = ("created_at", "updated_at")

    id: ChatId
    """Telegram chat id of the group (negative); the document id."""
    owner_id: UserId
    """Telegram user id of the owner who protects it (an ``owners`` document)."""
    title: Text
    """The group's title (1-255 characters); ``title_lower`` is stored beside it."""
    enabled: bool = True
    """Whether the bot enforces the channels here; ``disable()`` keeps the document."""
    params: JsonMap = Field(default_factory=dict)
    """Per-group settings: ``warning_template`` and the like."""
    member_count: Count | None = None
    """Members as Telegram last reported them (not negative); ``None``: unknown."""
    enforced_channels: list[ChannelRef] = Field(
        default_factory=list, max_length=MAX_CHANNELS_PER_GROUP
    )
    """The channels members must join, embedded: at most 50, in order."""
    created_at: UtcDateTime | None = None
    """When the document was created (server timestamp, UTC); ``None`` until stored."""
    updated_at: UtcDateTime | None = None
    """When the document last changed (server timestamp, UTC); ``None`` until stored."""

    @computed_field  # type: ignore[prop-decorator]
    @property
    def title_lower(self) -> str:
        """``title`` case-folded and stored beside it, for case-insensitive prefix search."""
        return search_key(self.title)

    @property
    def channel_ids(self) -> list[int]:
        """Ids of the enforced channels, in order."""
        return [ref.channel_id for ref in self.enforced_channels]
