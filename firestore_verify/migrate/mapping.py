"""One legacy row -> one validated model of the data contract.

Every function takes a row (a dict of the columns `.schema` lists) and
returns the model it becomes, or raises `BadRowError` with a reason a
person can act on. Validation is the models' own (the same rules the library
applies to every write); error lines name the legacy column, not the model field.
Cross-table checks (foreign keys) live in `.catalog`.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar

from firestore_verify.errors import InvalidInputError
from firestore_verify.migrate.values import (
    BadValue,
    check_storable,
    to_bool,
    to_datetime,
    to_json,
    to_text,
    to_uuid,
)
from firestore_verify.models import (
    AdminUser,
    AuditEntry,
    ConfigEntry,
    EnforcedChannel,
    Owner,
    ProtectedGroup,
    Role,
    Status,
    Verification,
)
from firestore_verify.models._base import InputModel

__all__ = [
    "EVENT_ID_PREFIX",
    "ROLES",
    "STATUSES",
    "UNRESOLVED_UID",
    "BadRowError",
    "admin_user",
    "audit_entry",
    "config_entry",
    "enforced_channel",
    "event_id",
    "owner",
    "protected_group",
    "verification",
]

#: Legacy ``verification_log.status`` -> event status.
STATUSES: dict[str, Status] = {
    "verified": Status.SUCCESS,
    "restricted": Status.FAILED,
    "error": Status.ERROR,
}
#: Legacy ``admin_users.role`` (lower-cased) -> dashboard role.
ROLES: dict[str, Role] = {
    "owner": Role.OWNER,
    "super_admin": Role.OWNER,
    "superadmin": Role.OWNER,
    "admin": Role.ADMIN,
    "viewer": Role.VIEWER,
    "read_only": Role.VIEWER,
    "readonly": Role.VIEWER,
}
#: Verification events from ``verification_log`` row ``N`` get the id ``legacy-N``.
EVENT_ID_PREFIX = "legacy-"
#: The stand-in uid of an admin row validated before its uid is resolved by email.
UNRESOLVED_UID = "unresolved"


class BadRowError(ValueError):
    """A row that cannot be migrated; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


M = TypeVar("M", bound=InputModel)
T = TypeVar("T")


def _build(model: type[M], data: dict[str, Any], columns: dict[str, str] | None = None) -> M:
    """Validate ``data`` into ``model``; error lines name legacy ``columns`` (field -> column)."""
    try:
        return model.parse(data)
    except InvalidInputError as exc:
        names = columns or {}
        lines = []
        for line in exc.errors or [str(exc)]:
            field, _, message = line.partition(": ")
            head, _, rest = field.partition(".")
            column = names.get(head, head) + ("." + rest if rest else "")
            lines.append(f"{column}: {message}" if message else line)
        raise BadRowError("; ".join(lines)) from None


def _title(row: dict[str, Any]) -> str:
    title = to_text(row.get("title"))
    if title is None:
        raise BadRowError("title: empty (every group and channel needs a title)")
    return title


def _times(row: dict[str, Any], *names: str) -> dict[str, Any]:
    return {name: to_datetime(row.get(name), name) for name in names}


def _guard(build: Callable[[], T]) -> T:
    try:
        return build()
    except BadValue as exc:
        raise BadRowError(str(exc)) from None


def owner(row: dict[str, Any]) -> Owner:
    """``owners`` row -> ``owners/{user_id}``."""
    return _guard(lambda: _build(Owner, {
        "id": row["user_id"],
        "username": to_text(row.get("username")),
        **_times(row, "created_at", "updated_at"),
    }, {"id": "user_id"}))


def enforced_channel(row: dict[str, Any]) -> EnforcedChannel:
    """``enforced_channels`` row -> ``enforced_channels/{channel_id}`` (groups linked later)."""
    return _guard(lambda: _build(EnforcedChannel, {
        "id": row["channel_id"],
        "title": _title(row),
        "username": to_text(row.get("username")),
        "invite_link": to_text(row.get("invite_link")),
        "subscriber_count": row.get("subscriber_count"),
        **_times(row, "created_at", "updated_at"),
    }, {"id": "channel_id"}))


def _params(value: Any) -> dict[str, Any]:
    params = to_json(value, "params")
    if params is None:
        return {}
    if not isinstance(params, dict):
        raise BadValue(f"params: a JSON object was expected, not {type(params).__name__}")
    check_storable(params, "params")
    return params


def protected_group(row: dict[str, Any]) -> ProtectedGroup:
    """``protected_groups`` row -> ``protected_groups/{group_id}`` (channels embedded later)."""
    return _guard(lambda: _build(ProtectedGroup, {
        "id": row["group_id"],
        "owner_id": row["owner_id"],
        "title": _title(row),
        "enabled": to_bool(row.get("enabled"), "enabled", True),
        "params": _params(row.get("params")),
        "member_count": row.get("member_count"),
        **_times(row, "created_at", "updated_at"),
    }, {"id": "group_id"}))


def admin_user(row: dict[str, Any]) -> AdminUser:
    """``admin_users`` row -> ``admin_users/{firebase_uid}`` (the password hash is never read)."""
    uid = to_text(row.get("firebase_uid"))
    if uid is None:
        raise BadRowError(
            "firebase_uid: empty; create the user in Firebase Auth, store its uid in "
            "admin_users.firebase_uid and migrate again (or migrate with "
            "--resolve-admins-by-email)"
        )
    role_text = (to_text(row.get("role")) or "viewer").lower()
    if role_text not in ROLES:
        raise BadRowError(f"role: unknown role {row.get('role')!r} (known: {', '.join(ROLES)})")
    return _guard(lambda: _build(AdminUser, {
        "uid": uid,
        "email": to_text(row.get("email")),
        "full_name": to_text(row.get("full_name")),
        "role": ROLES[role_text],
        "is_active": to_bool(row.get("is_active"), "is_active", True),
        "telegram_id": row.get("telegram_id"),
        **_times(row, "last_login", "created_at"),
    }, {"uid": "firebase_uid"}))


def _json_value(row: dict[str, Any], column: str) -> Any:
    value = to_json(row.get(column), column)
    check_storable(value, column)
    return value


def audit_entry(row: dict[str, Any], actor_uid: str) -> AuditEntry:
    """``admin_audit_log`` row -> ``admin_audit_log/{uuid}``, acted by ``actor_uid``."""
    return _guard(lambda: _build(AuditEntry, {
        "id": to_uuid(row["id"], "id"),
        "actor_uid": actor_uid,
        "action": to_text(row.get("action")),
        "resource_type": to_text(row.get("resource_type")),
        "resource_id": to_text(row.get("resource_id")),
        "old_value": _json_value(row, "old_value"),
        "new_value": _json_value(row, "new_value"),
        "ip_address": to_text(row.get("ip_address")),
        "user_agent": to_text(row.get("user_agent")),
        **_times(row, "created_at"),
    }, {"actor_uid": "user_id"}))


def config_entry(row: dict[str, Any]) -> ConfigEntry:
    """``admin_config`` row -> ``admin_config/{key}`` (sensitive values keep their flag)."""
    return _guard(lambda: _build(ConfigEntry, {
        "key": to_text(row.get("key")),
        "value": _json_value(row, "value"),
        "description": to_text(row.get("description")),
        "is_sensitive": to_bool(row.get("is_sensitive"), "is_sensitive", False),
        "updated_by": to_text(row.get("updated_by")),
        **_times(row, "updated_at"),
    }))


def event_id(legacy_id: Any) -> str:
    """The deterministic event id of ``verification_log`` row ``legacy_id``."""
    return f"{EVENT_ID_PREFIX}{legacy_id}"


def verification(row: dict[str, Any]) -> Verification:
    """``verification_log`` row -> ``verifications/legacy-{id}``."""
    raw_status = to_text(row.get("status"))
    status = STATUSES.get((raw_status or "").lower())
    if status is None:
        raise BadRowError(
            f"status: unknown status {row.get('status')!r} (expected verified, restricted "
            "or error)"
        )
    latency = row.get("latency_ms")
    if isinstance(latency, Decimal):
        latency = float(latency)

    def build() -> Verification:
        occurred_at = to_datetime(row.get("timestamp"), "timestamp")
        if occurred_at is None:
            raise BadRowError("timestamp: empty (an event needs the time it happened)")
        return _build(Verification, {
            "id": event_id(row["id"]),
            "user_id": row.get("user_id"),
            "group_id": row.get("group_id"),
            "channel_id": row.get("channel_id"),
            "status": status,
            "latency_ms": latency,
            "cached": to_bool(row.get("cached"), "cached", False),
            "error_type": to_text(row.get("error_type")),
            "occurred_at": occurred_at,
        }, {"occurred_at": "timestamp"})

    return _guard(build)
