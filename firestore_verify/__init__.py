"""firestore-verify: the Firestore data layer for Telegram verification bots.

Everything public is re-exported here::

    import firestore_verify as fv

    store = await fv.connect(project="my-bot")
    await store.groups.protect(group=fv.GroupInfo(...), owner=fv.OwnerInfo(...),
                               channels=[fv.ChannelInfo(...)])
"""

from firestore_verify import errors
from firestore_verify.errors import (
    AlreadyExistsError,
    ConfigurationError,
    ConflictError,
    FirestoreVerifyError,
    InvalidInputError,
    NotFoundError,
)
from firestore_verify.models import (
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
from firestore_verify.repositories import Filter, Page, ProtectResult
from firestore_verify.store import Store, connect

__version__ = "0.1.0"

__all__ = [
    "AdminUser",
    "AlreadyExistsError",
    "AuditEntry",
    "ChannelInfo",
    "ChannelRef",
    "ConfigEntry",
    "ConfigurationError",
    "ConflictError",
    "EnforcedChannel",
    "Filter",
    "FirestoreVerifyError",
    "GroupInfo",
    "InvalidInputError",
    "NotFoundError",
    "Owner",
    "OwnerInfo",
    "Page",
    "ProtectResult",
    "ProtectedGroup",
    "Role",
    "Stats",
    "Status",
    "Store",
    "Verification",
    "__version__",
    "connect",
    "errors",
]
