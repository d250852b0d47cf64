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

#: Telegram allows at most this many enforced channels to be useful in one warning.
MAX_CHANNELS_PER_GROUP = 50


def search_key(text: str) -> str:
    """The case-insensitive form of a title that prefix searches compare (``casefold``)."""
    return text.strip().casefold()


class GroupInfo(InputModel):
    """A group as the bot knows it from Telegram (input to protect)."""

    id: ChatId
    title: Text
    member_count: Count | None = None


class ProtectedGroup(Document):
    """A stored protected group, with its enforced channels embedded."""

    collection: ClassVar[str] = "protected_groups"
    server_timestamps: ClassVar[tuple[str, ...]] = ("created_at", "updated_at")

    id: ChatId
    owner_id: UserId
    title: Text
    enabled: bool = True
    #: Per-group settings: ``warning_template`` and the like.
    params: JsonMap = Field(default_factory=dict)
    member_count: Count | None = None
    enforced_channels: list[ChannelRef] = Field(
        default_factory=list, max_length=MAX_CHANNELS_PER_GROUP
    )
    created_at: UtcDateTime | None = None
    updated_at: UtcDateTime | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def title_lower(self) -> str:
        """``title`` case-folded and stored beside it, for case-insensitive prefix search."""
        return search_key(self.title)

    @property
    def channel_ids(self) -> list[int]:
        """Ids of the enforced channels, in order."""
        return [ref.channel_id for ref in self.enforced_channels]
