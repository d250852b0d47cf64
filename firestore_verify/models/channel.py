"""``enforced_channels/{channel_id}``: channels users must join."""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import Field

from firestore_verify.models._base import (
    ChatId,
    Count,
    Document,
    InputModel,
    Text,
    Username,
    UtcDateTime,
)

__all__ = ["ChannelInfo", "ChannelRef", "EnforcedChannel", "InviteLink"]

InviteLink = Annotated[str, Field(pattern=r"^https?://\S+$", max_length=2048)]
"""A ``https://t.me/...`` style invite link (any https URL is accepted)."""


class ChannelInfo(InputModel):
    """A channel as the bot knows it from Telegram (input to protect/link)."""

    id: ChatId
    """Telegram chat id of the channel (negative, e.g. ``-1001234567890``)."""
    title: Text
    """The channel's title (1-255 characters, stripped)."""
    username: Username | None = None
    """Public username without the ``@`` (4-32 characters); ``None`` when it has none."""
    invite_link: InviteLink | None = None
    """Invite link (``http(s)://``, at most 2048 characters), or ``None``."""
    subscriber_count: Count | None = None
    """Subscribers as Telegram reports them (not negative); ``None``: unknown."""

    def ref(self) -> ChannelRef:
        """The reference embedded in a protected group's ``enforced_channels``."""
        return ChannelRef(
            channel_id=self.id,
            title=self.title,
            username=self.username,
            invite_link=self.invite_link,
        )

    def join_url(self) -> str | None:
        """A URL users can open to join: the invite link, else ``https://t.me/<username>``."""
        return self.ref().join_url()


class ChannelRef(InputModel):
    """A channel embedded in a protected group (one read per verification lookup)."""

    channel_id: ChatId
    """Telegram chat id of the channel (negative); its ``enforced_channels`` id."""
    title: Text
    """The channel's title (1-255 characters), copied into the group."""
    username: Username | None = None
    """Public username without the ``@`` (4-32 characters); ``None`` when it has none."""
    invite_link: InviteLink | None = None
    """Invite link (``http(s)://``, at most 2048 characters), or ``None``."""

    def join_url(self) -> str | None:
        """A URL users can open to join: the invite link, else ``https://t.me/<username>``."""
        if self.invite_link:
            return self.invite_link
        return f"https://t.me/{self.username}" if self.username else None


class EnforcedChannel(Document):
    """A stored enforced channel, with the groups it protects."""

    collection: ClassVar[str] = "enforced_channels"
    server_timestamps: ClassVar[tuple[str, ...]] = ("created_at", "updated_at")

    id: ChatId
    """Telegram chat id of the channel (negative); the document id."""
    title: Text
    """The channel's title (1-255 characters, stripped)."""
    username: Username | None = None
    """Public username without the ``@`` (4-32 characters); ``None`` when it has none."""
    invite_link: InviteLink | None = None
    """Invite link (``http(s)://``, at most 2048 characters), or ``None``."""
    subscriber_count: Count | None = None
    """Subscribers as Telegram last reported them (not negative); ``None``: unknown."""
    linked_groups: list[ChatId] = Field(default_factory=list, max_length=10_000)
    """Ids of the protected groups that enforce this channel."""
    created_at: UtcDateTime | None = None
    """When the document was created (server timestamp, UTC); ``None`` until stored."""
    updated_at: UtcDateTime | None = None
    """When the document last changed (server timestamp, UTC); ``None`` until stored."""

    def ref(self) -> ChannelRef:
        """The reference a group embeds for this channel."""
        return ChannelRef(
            channel_id=self.id,
            title=self.title,
            username=self.username,
            invite_link=self.invite_link,
        )
