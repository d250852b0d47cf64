"""Pydantic models for every collection of the data contract."""

from firestore_verify.models._base import Document, InputModel
from firestore_verify.models.admin import Actor, AdminUser, AuditEntry, ConfigEntry, Role
from firestore_verify.models.channel import ChannelInfo, ChannelRef, EnforcedChannel
from firestore_verify.models.group import GroupInfo, ProtectedGroup
from firestore_verify.models.owner import Owner, OwnerInfo
from firestore_verify.models.stats import Stats
from firestore_verify.models.verification import Status, Verification

__all__ = [
    "Actor",
    "AdminUser",
    "AuditEntry",
    "ChannelInfo",
    "ChannelRef",
    "ConfigEntry",
    "Document",
    "EnforcedChannel",
    "GroupInfo",
    "InputModel",
    "Owner",
    "OwnerInfo",
    "ProtectedGroup",
    "Role",
    "Stats",
    "Status",
    "Verification",
]
