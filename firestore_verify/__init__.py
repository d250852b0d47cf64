"""firestore-verify: the Firestore data layer for Telegram verification bots.

Everything public is re-exported here::

    import firestore_verify as fv

    store = await fv.connect(project="my-bot")
    await store.groups.protect(group=fv.GroupInfo(...), owner=fv.OwnerInfo(...),
                               channels=[fv.ChannelInfo(...)])
"""

from firestore_verify import errors
from firestore_verify.analytics import (
    Activity,
    Analytics,
    Comparison,
    Counts,
    GroupStats,
    GrowthPoint,
    Overview,
    Summary,
    TrendPoint,
)
from firestore_verify.cache import CacheSettings, CacheStats, MembershipCache
from firestore_verify.counters import Drift, StatsRepository
from firestore_verify.errors import (
    AlreadyExistsError,
    AuthenticationError,
    ConfigurationError,
    ConflictError,
    FirestoreVerifyError,
    InvalidInputError,
    LoggerClosedError,
    NotFoundError,
    PermissionDeniedError,
)
from firestore_verify.events import EventWriter, VerificationRepository, WriteOutcome
from firestore_verify.group_index import GroupIndex
from firestore_verify.live import LiveStream
from firestore_verify.logger import (
    BufferFullError,
    FlushTimeoutError,
    LoggerSettings,
    LoggerStats,
    VerificationLogger,
)
from firestore_verify.membership import (
    ChannelResult,
    CheckResult,
    MembershipChecker,
    MembershipLookup,
)
from firestore_verify.models import (
    Actor,
    AdminUser,
    AuditEntry,
    ChannelInfo,
    ChannelRef,
    ConfigEntry,
    EnforcedChannel,
    GroupInfo,
    Owner,
    OwnerInfo,
    ProtectedGroup,
    Role,
    Stats,
    Status,
    Verification,
)
from firestore_verify.permissions import ROLE_PERMISSIONS, Permission
from firestore_verify.repositories import Filter, Page, ProtectResult
from firestore_verify.store import Store, connect

__version__ = "0.1.0"

__all__ = [
    "ROLE_PERMISSIONS",
    "Activity",
    "Actor",
    "AdminUser",
    "AlreadyExistsError",
    "Analytics",
    "AuditEntry",
    "AuthenticationError",
    "BufferFullError",
    "CacheSettings",
    "CacheStats",
    "ChannelInfo",
    "ChannelRef",
    "ChannelResult",
    "CheckResult",
    "Comparison",
    "ConfigEntry",
    "ConfigurationError",
    "ConflictError",
    "Counts",
    "Drift",
    "EnforcedChannel",
    "EventWriter",
    "Filter",
    "FirestoreVerifyError",
    "FlushTimeoutError",
    "GroupIndex",
    "GroupInfo",
    "GroupStats",
    "GrowthPoint",
    "InvalidInputError",
    "LiveStream",
    "LoggerClosedError",
    "LoggerSettings",
    "LoggerStats",
    "MembershipCache",
    "MembershipChecker",
    "MembershipLookup",
    "NotFoundError",
    "Overview",
    "Owner",
    "OwnerInfo",
    "Page",
    "Permission",
    "PermissionDeniedError",
    "ProtectResult",
    "ProtectedGroup",
    "Role",
    "Stats",
    "StatsRepository",
    "Status",
    "Store",
    "Summary",
    "TrendPoint",
    "Verification",
    "VerificationLogger",
    "VerificationRepository",
    "WriteOutcome",
    "connect",
    "errors",
    "__version__",
]
