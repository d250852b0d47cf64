"""Typed async repositories, one per aggregate; reach them through a ``Store``."""

from firestore_verify.repositories._base import Filter, Page, Repository
from firestore_verify.repositories.admin import AdminRepository, AuditRepository, ConfigRepository
from firestore_verify.repositories.channels import ChannelRepository
from firestore_verify.repositories.groups import BulkOutcome, GroupRepository, ProtectResult
from firestore_verify.repositories.owners import OwnerRepository

__all__ = [
    "AdminRepository",
    "AuditRepository",
    "BulkOutcome",
    "ChannelRepository",
    "ConfigRepository",
    "Filter",
    "GroupRepository",
    "OwnerRepository",
    "Page",
    "ProtectResult",
    "Repository",
]
