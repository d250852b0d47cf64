"""Request and response bodies of the API's own; stored documents use the library's models."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

import firestore_verify as fv

__all__ = [
    "AdminCreate",
    "AdminPatch",
    "BulkResult",
    "BulkToggle",
    "ChannelCreate",
    "ChannelDetail",
    "ChannelPatch",
    "ConfigUpdate",
    "CountsOut",
    "DashboardStats",
    "GroupDetail",
    "GroupPatch",
    "GroupStatsOut",
    "Health",
    "Me",
    "PageOut",
    "Ready",
    "SessionIn",
    "TrendPointOut",
    "UserGrowthPointOut",
    "UsersAnalytics",
    "VerificationsAnalytics",
]

T = TypeVar("T")
ChatId = Annotated[int, Field(lt=0, ge=-(2**63), description="A Telegram chat id (negative).")]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class PageOut(BaseModel, Generic[T]):
    """One page of a listing."""

    #: The items of this page.
    items: list[T]
    #: Pass as ``cursor`` for the next page; ``null`` on the last page.
    next_cursor: str | None = None

    @classmethod
    def of(cls, page: fv.Page[Any]) -> PageOut[T]:
        """From a library :class:`~firestore_verify.Page`."""
        return cls(items=list(page.items), next_cursor=page.next_cursor)


class SessionIn(_In):
    """An ID token from a Firebase sign-in, to exchange for a session cookie."""

    #: The Firebase ID token (from ``user.getIdToken()``).
    id_token: str = Field(min_length=1, max_length=8192)


class Me(BaseModel):
    """The signed-in admin."""

    #: Firebase Auth uid.
    uid: str
    #: E-mail address.
    email: str | None
    #: Role from ``admin_users``.
    role: fv.Role
    #: Everything this role may do.
    permissions: list[fv.Permission]
    #: For cookie sessions: send it back as ``X-CSRF-Token`` on writes.
    csrf_token: str | None = None


class CountsOut(BaseModel):
    """Verification counts by status."""

    #: All checks.
    total: int
    #: Checks that found the user in every channel.
    success: int
    #: Checks that found the user missing from a channel.
    failed: int
    #: Checks that failed to get an answer from Telegram.
    error: int
    #: ``success / total`` in percent (0 when there are none).
    success_rate: float

    @classmethod
    def of(cls, counts: fv.Counts) -> CountsOut:
        """From the library's counts."""
        return cls(total=counts.total, success=counts.success, failed=counts.failed,
                   error=counts.error, success_rate=counts.success_rate)


class DashboardStats(BaseModel):
    """The dashboard's cards."""

    #: Groups protected now.
    total_groups: int
    #: Enforced channels.
    total_channels: int
    #: Distinct users ever checked.
    total_users: int
    #: Verifications ever.
    total_verifications: int
    #: Success rate over every verification, in percent.
    success_rate: float
    #: Verifications since 00:00 UTC.
    today: CountsOut
    #: Verifications yesterday (UTC).
    yesterday: CountsOut
    #: Today's count against yesterday's, in percent (``null`` when yesterday had none).
    today_change: float | None

    @classmethod
    def of(cls, overview: fv.Overview) -> DashboardStats:
        """From the library's overview."""
        s = overview.stats
        return cls(total_groups=s.total_groups, total_channels=s.total_channels,
                   total_users=s.total_users, total_verifications=s.total_verifications,
                   success_rate=s.success_rate, today=CountsOut.of(overview.today),
                   yesterday=CountsOut.of(overview.yesterday), today_change=overview.today_change)


class GroupStatsOut(BaseModel):
    """A group's verifications today and over 7 days."""

    #: Since 00:00 UTC.
    today: CountsOut
    #: The last 7 UTC days, today included.
    week: CountsOut
    #: Distinct users checked today.
    unique_users_today: int
    #: Users seen for the first time in the week.
    new_users_week: int
    #: The week's success rate, in percent.
    success_rate: float

    @classmethod
    def of(cls, stats: fv.GroupStats) -> GroupStatsOut:
        """From the library's group stats."""
        return cls(today=CountsOut.of(stats.today), week=CountsOut.of(stats.week),
                   unique_users_today=stats.unique_users_today,
                   new_users_week=stats.new_users_week, success_rate=stats.success_rate)


class GroupDetail(BaseModel):
    """One group with its channels, stats and latest events."""

    #: The stored group.
    group: fv.ProtectedGroup
    #: Its enforced channels (missing documents left out).
    channels: list[fv.EnforcedChannel]
    #: Its verifications today and this week.
    stats: GroupStatsOut
    #: Its latest verification events, newest first.
    recent: list[fv.Verification]


class GroupPatch(_In):
    """Fields of a group an admin may change (omitted fields stay)."""

    #: A new title.
    title: str | None = Field(default=None, min_length=1, max_length=255)
    #: Protect (``true``) or stop protecting (``false``).
    enabled: bool | None = None
    #: New per-group settings (replaces the map).
    params: dict[str, Any] | None = None


class BulkToggle(_In):
    """Enable or disable many groups."""

    #: The groups, at most 100.
    group_ids: list[ChatId] = Field(min_length=1, max_length=100)
    #: ``true`` to protect them, ``false`` to stop.
    enabled: bool


class BulkResult(BaseModel):
    """What a bulk change did."""

    #: Groups that changed.
    changed: list[int]
    #: Groups already in the asked state.
    unchanged: list[int]
    #: Ids with no group.
    missing: list[int]


class ChannelCreate(_In):
    """A channel to enforce."""

    #: The channel's Telegram id (negative, e.g. -1001234567890).
    id: ChatId
    #: Its title.
    title: str = Field(min_length=1, max_length=255)
    #: Its public @username, without the @.
    username: str | None = Field(default=None, max_length=32)
    #: An invite link for private channels.
    invite_link: str | None = Field(default=None, max_length=2048)


class ChannelPatch(_In):
    """Fields of a channel an admin may change."""

    #: A new title.
    title: str | None = Field(default=None, min_length=1, max_length=255)
    #: A new @username.
    username: str | None = Field(default=None, max_length=32)
    #: A new invite link.
    invite_link: str | None = Field(default=None, max_length=2048)


class ChannelDetail(BaseModel):
    """One channel with the groups that enforce it."""

    #: The stored channel.
    channel: fv.EnforcedChannel
    #: The groups linked to it.
    groups: list[fv.ProtectedGroup]
    #: Verifications of this channel today (UTC).
    today: CountsOut


class ConfigUpdate(_In):
    """Changes to the bot's settings, by dotted key."""

    #: ``{"cache.positive_ttl": 300, ...}``; a masked value sent back means "keep".
    changes: dict[str, Any] = Field(min_length=1, max_length=100)


class TrendPointOut(BaseModel):
    """One day (or hour) of verifications."""

    #: Start of the bucket (UTC).
    start: datetime
    #: Counts in the bucket.
    counts: CountsOut


class VerificationsAnalytics(BaseModel):
    """Verifications over a period, against the previous period."""

    #: ``24h``, ``7d``, ``30d`` or ``90d``.
    period: str
    #: Counts in the period.
    current: CountsOut
    #: Counts in the same-length period before.
    previous: CountsOut
    #: Change of the total against the previous period, in percent.
    change: float | None
    #: Change of the success rate, in percentage points.
    success_rate_change: float
    #: Per day (per hour for 24h), oldest first.
    trend: list[TrendPointOut]


class UserGrowthPointOut(BaseModel):
    """Users on one UTC day."""

    #: The day.
    day: str
    #: Users seen for the first time that day.
    new_users: int
    #: Users seen up to the end of that day.
    total_users: int
    #: Distinct users checked that day.
    unique_users: int


class UsersAnalytics(BaseModel):
    """Users over a period, against the previous period."""

    #: ``24h``, ``7d``, ``30d`` or ``90d``.
    period: str
    #: Distinct users ever checked.
    total_users: int
    #: Users first seen in the period.
    new_users: int
    #: Users first seen in the previous period.
    previous_new_users: int
    #: New users against the previous period, in percent.
    growth_rate: float | None
    #: Per day, oldest first.
    growth: list[UserGrowthPointOut]


class AdminCreate(_In):
    """An admin to invite."""

    #: Their e-mail address (the Firebase user is found or created).
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)
    #: Their role.
    role: fv.Role
    #: Display name.
    full_name: str | None = Field(default=None, max_length=255)
    #: Initial password of a new Firebase user (else they use a reset link).
    password: str | None = Field(default=None, min_length=6, max_length=128)


class AdminPatch(_In):
    """Changes to an admin."""

    #: A new role.
    role: fv.Role | None = None
    #: ``false`` locks them out (their tokens are revoked), ``true`` lets them in.
    is_active: bool | None = None


class Health(BaseModel):
    """The process is alive."""

    #: Always ``ok``.
    status: str = "ok"


class Ready(BaseModel):
    """Whether the dependencies answer."""

    #: ``ready`` or ``unavailable``.
    status: str
    #: ``ok``, or what failed, for Firestore.
    firestore: str
    #: ``ok``, or what failed, for Firebase Auth.
    auth: str
