"""The legacy SQL schema the migration reads (SQLAlchemy-era bots).

Each `LegacyTable` names the columns the migration needs: ``required``
ones must exist when the table does; ``optional`` ones are missing from older
deployments and read as ``NULL``. Columns not listed (``password_hash``,
``last_sync_at``...) are never selected, so they cannot leak into Firestore.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["IGNORED_TABLES", "LEGACY_TABLES", "LegacyTable"]


@dataclass(frozen=True)
class LegacyTable:
    """One legacy table: its key, the columns read, their order and the target collection."""

    name: str
    #: The primary-key column, reported as the ``key`` of bad rows.
    key: str
    required: tuple[str, ...]
    optional: tuple[str, ...]
    #: Columns to stream the rows in (deterministic order, stable across re-runs).
    order_by: tuple[str, ...]
    #: The Firestore collection the rows become documents of.
    target: str

    @property
    def columns(self) -> tuple[str, ...]:
        """Every column the migration reads, required first."""
        return self.required + self.optional


def _table(name: str, key: str, required: str, optional: str, target: str,
           order_by: str | None = None) -> LegacyTable:
    return LegacyTable(name=name, key=key, required=tuple(required.split()),
                       optional=tuple(optional.split()),
                       order_by=tuple((order_by or key).split()), target=target)


#: The tables migrated, in the order they are migrated (referenced tables first).
LEGACY_TABLES: dict[str, LegacyTable] = {t.name: t for t in (
    _table("owners", "user_id", "user_id", "username created_at updated_at", "owners"),
    _table("enforced_channels", "channel_id", "channel_id",
           "title username invite_link subscriber_count created_at updated_at",
           "enforced_channels"),
    _table("protected_groups", "group_id", "group_id owner_id",
           "title enabled params member_count created_at updated_at", "protected_groups"),
    _table("group_channel_links", "id", "id group_id channel_id", "created_at",
           "protected_groups.enforced_channels"),
    _table("admin_users", "id", "id", "firebase_uid email full_name role is_active "
           "telegram_id created_at last_login", "admin_users"),
    _table("admin_audit_log", "id", "id", "user_id action resource_type resource_id "
           "old_value new_value ip_address user_agent created_at", "admin_audit_log",
           order_by="created_at id"),
    _table("admin_config", "key", "key", "value description is_sensitive updated_by updated_at",
           "admin_config"),
    _table("verification_log", "id", "id", "user_id group_id channel_id status latency_ms "
           "cached error_type timestamp", "verifications", order_by="timestamp id"),
)}

#: Legacy tables deliberately not migrated, with the reason put in the report.
IGNORED_TABLES: dict[str, str] = {
    "admin_sessions": "not migrated: dashboard sessions are replaced by Firebase Auth",
    "api_call_log": "not migrated: per-API-call telemetry has no place in the data contract",
    "alembic_version": "not migrated: SQL schema bookkeeping",
}
