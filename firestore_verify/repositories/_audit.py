"""Audit entries staged inside the transaction of the change they describe.

Every audited operation takes ``actor=`` and, when it is given, calls
`stage_audit()` in its own transaction body: the change and its
``admin_audit_log`` entry commit together or not at all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from google.cloud import firestore

from firestore_verify.models import Actor, AuditEntry
from firestore_verify.models._base import plain_value

if TYPE_CHECKING:
    from firestore_verify.store import Store

__all__ = ["stage_audit"]


def stage_audit(
    store: Store,
    tx: firestore.AsyncTransaction | firestore.AsyncWriteBatch,
    actor: Actor | None,
    action: str,
    resource_type: str,
    resource_id: object,
    *,
    old_value: Any = None,
    new_value: Any = None,
) -> AuditEntry | None:
    """Create the audit entry of one change in ``tx``; nothing when ``actor`` is ``None``."""
    if actor is None:
        return None
    entry = AuditEntry(
        actor_uid=actor.uid, action=action, resource_type=resource_type,
        resource_id=None if resource_id is None else str(resource_id),
        old_value=plain_value(old_value), new_value=plain_value(new_value),
        ip_address=actor.ip_address, user_agent=actor.user_agent,
    )
    ref = store.collection(AuditEntry.collection).document(entry.document_id())
    tx.create(ref, entry.to_document())
    return entry
