"""firestore-verify: the Firestore data layer for Telegram verification bots.

Everything public is re-exported here::

    import firestore_verify as fv

    store = await fv.connect(project="my-bot")
    await store.groups.protect(group=fv.GroupInfo(...), owner=fv.OwnerInfo(...),
                               channels=[fv.ChannelInfo(...)])
"""

from firestore_verify import errors
from firestore_verify._version import __version__
from firestore_verify.admin_accounts import AdminAccounts
from firestore_verify.admin_backend import AdminBackend, admin_backend
from firestore_verify.analytics import (
    Activity,
    Analytics,
    Comparison,
    Counts,
    GroupStats,
    GrowthPoint,
    Overview,
    Report,
    Summary,
    TrendPoint,
)
from firestore_verify.auth import Authenticator, Principal
from firestore_verify.bot_config import (
    DEFAULT_WARNING_TEMPLATE,
    BotConfig,
    CacheConfig,
    ConfigField,
    ConfigSchema,
    LoggingConfig,
    MessageConfig,
    RateLimitConfig,
    WebhookConfig,
)
from firestore_verify.browser import (
    BrowserCollection,
    BrowserDocument,
    BrowserPage,
    CollectionBrowser,
    EncodedValue,
)
from firestore_verify.cache import CacheSettings, CacheStats, MembershipCache
from firestore_verify.calls import CallPolicy
from firestore_verify.env_settings import EnvSettings
from firestore_verify.errors import (
    AlreadyExistsError,
    AuthenticationError,
    BufferFullError,
    ConfigurationError,
    ConflictError,
    FirestoreVerifyError,
    FlushTimeoutError,
    InvalidInputError,
    LoggerClosedError,
    LoggerFailedError,
    NotFoundError,
    PermissionDeniedError,
    SpoolError,
    SubscriberDroppedError,
    TooManyAttemptsError,
    UnavailableError,
)
from firestore_verify.events import EventWriter, WriteOutcome
from firestore_verify.fanout import FanOut, FanOutStats, Subscription
from firestore_verify.folds import CacheHitPolicy
from firestore_verify.group_index import GroupIndex
from firestore_verify.json_logs import JsonFormatter, setup_json_logging
from firestore_verify.live import LiveStream
from firestore_verify.logger import (
    LoggerHealth,
    LoggerSettings,
    LoggerStats,
    VerificationLogger,
)
from firestore_verify.membership import (
    ChannelResult,
    CheckResult,
    MembershipChecker,
    MembershipLookup,
    SharedMembershipCache,
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
from firestore_verify.page_streams import StreamSpec, merged
from firestore_verify.permissions import ROLE_PERMISSIONS, Permission, allows
from firestore_verify.redis_cache import RedisCacheStats, RedisMembershipCache
from firestore_verify.repositories import BulkOutcome, Filter, Page, ProtectResult
from firestore_verify.repositories.admin import MASK
from firestore_verify.repositories.bot_config import BotConfigRepository
from firestore_verify.repositories.stats import Drift, StatsRepository
from firestore_verify.repositories.verifications import VerificationRepository
from firestore_verify.serving import run_admin_app, serve
from firestore_verify.sign_in import PasswordSignIn
from firestore_verify.spool import EventSpool
from firestore_verify.store import Store, connect

__all__ = [
    "Activity",
    "Actor",
    "AdminAccounts",
    "AdminBackend",
    "AdminUser",
    "AlreadyExistsError",
    "Analytics",
    "AuditEntry",
    "AuthenticationError",
    "Authenticator",
    "BotConfig",
    "BotConfigRepository",
    "BrowserCollection",
    "BrowserDocument",
    "BrowserPage",
    "BufferFullError",
    "BulkOutcome",
    "CacheHitPolicy",
    "CacheConfig",
    "CacheSettings",
    "CacheStats",
    "CallPolicy",
    "ChannelInfo",
    "ChannelRef",
    "ChannelResult",
    "CheckResult",
    "CollectionBrowser",
    "Comparison",
    "ConfigEntry",
    "ConfigField",
    "ConfigSchema",
    "ConfigurationError",
    "ConflictError",
    "Counts",
    "DEFAULT_WARNING_TEMPLATE",
    "Drift",
    "EncodedValue",
    "EnforcedChannel",
    "EnvSettings",
    "EventSpool",
    "EventWriter",
    "FanOut",
    "FanOutStats",
    "Filter",
    "FirestoreVerifyError",
    "FlushTimeoutError",
    "GroupIndex",
    "GroupInfo",
    "GroupStats",
    "GrowthPoint",
    "InvalidInputError",
    "JsonFormatter",
    "LiveStream",
    "LoggerClosedError",
    "LoggerFailedError",
    "LoggerHealth",
    "LoggerSettings",
    "LoggerStats",
    "LoggingConfig",
    "MASK",
    "MembershipCache",
    "MembershipChecker",
    "MembershipLookup",
    "MessageConfig",
    "NotFoundError",
    "Overview",
    "Owner",
    "OwnerInfo",
    "Page",
    "PasswordSignIn",
    "Permission",
    "PermissionDeniedError",
    "Principal",
    "ProtectResult",
    "ProtectedGroup",
    "ROLE_PERMISSIONS",
    "RateLimitConfig",
    "RedisCacheStats",
    "RedisMembershipCache",
    "Report",
    "Role",
    "SharedMembershipCache",
    "SpoolError",
    "Stats",
    "StatsRepository",
    "Status",
    "Store",
    "StreamSpec",
    "SubscriberDroppedError",
    "Subscription",
    "Summary",
    "TooManyAttemptsError",
    "TrendPoint",
    "UnavailableError",
    "Verification",
    "VerificationLogger",
    "VerificationRepository",
    "WebhookConfig",
    "WriteOutcome",
    "__version__",
    "admin_backend",
    "allows",
    "connect",
    "errors",
    "merged",
    "run_admin_app",
    "serve",
    "setup_json_logging",
]
