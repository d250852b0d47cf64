"""Roles and what they may do: the one permission table of the admin side.

The admin API, the dashboard, the security rules' tests and the test suite all
read `ROLE_PERMISSIONS`; nothing else decides who may do what.

=========  ==============================================================
role       may
=========  ==============================================================
``owner``  everything, including managing admins
``admin``  change groups, channels and config; read logs, audit, database
``viewer`` read the dashboard, groups, channels and analytics
=========  ==============================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum

from firestore_verify.errors import PermissionDeniedError
from firestore_verify.models import Role

__all__ = ["ROLE_PERMISSIONS", "Permission", "allows", "require"]


class Permission(str, Enum):
    """One thing an admin may do; the value is ``area:verb``."""

    READ_DASHBOARD = "dashboard:read"
    READ_GROUPS = "groups:read"
    WRITE_GROUPS = "groups:write"
    READ_CHANNELS = "channels:read"
    WRITE_CHANNELS = "channels:write"
    READ_ANALYTICS = "analytics:read"
    READ_CONFIG = "config:read"
    WRITE_CONFIG = "config:write"
    READ_LOGS = "logs:read"
    READ_AUDIT = "audit:read"
    READ_DATABASE = "database:read"
    MANAGE_ADMINS = "admins:manage"


_VIEWER = frozenset({
    Permission.READ_DASHBOARD,
    Permission.READ_GROUPS,
    Permission.READ_CHANNELS,
    Permission.READ_ANALYTICS,
})
_ADMIN = _VIEWER | {
    Permission.WRITE_GROUPS,
    Permission.WRITE_CHANNELS,
    Permission.READ_CONFIG,
    Permission.WRITE_CONFIG,
    Permission.READ_LOGS,
    Permission.READ_AUDIT,
    Permission.READ_DATABASE,
}

ROLE_PERMISSIONS: Mapping[Role, frozenset[Permission]] = {
    Role.VIEWER: _VIEWER,
    Role.ADMIN: frozenset(_ADMIN),
    Role.OWNER: frozenset(Permission),
}
"""What each role may do. Each role has everything the role below it has."""


def allows(role: Role | str, permission: Permission | str) -> bool:
    """Whether ``role`` grants ``permission`` (unknown roles grant nothing)."""
    try:
        return Permission(permission) in ROLE_PERMISSIONS.get(Role(role), frozenset())
    except ValueError:
        return False


def require(role: Role | str, permission: Permission | str) -> None:
    """Raise `PermissionDeniedError` unless ``role`` may.

    Raises:
        PermissionDeniedError: when the role lacks the permission.
    """
    if not allows(role, permission):
        raise PermissionDeniedError(
            role.value if isinstance(role, Role) else str(role),
            permission.value if isinstance(permission, Permission) else str(permission),
        )
