"""Group owners."""

from __future__ import annotations

from firestore_verify.models import Owner
from firestore_verify.repositories._base import Repository

__all__ = ["OwnerRepository"]


class OwnerRepository(Repository[Owner]):
    """``owners``: the Telegram users who protect groups (upserted by ``protect``)."""

    model = Owner
    resource = "owner"
