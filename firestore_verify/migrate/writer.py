"""Compare-then-write: documents land in batches only when they differ from the source.

Each batch of at most 500 documents is read first (one ``get_all``), then
every document is classified: missing (created, create-only precondition),
different (only the differing fields updated, with an ``update_time``
precondition) or already right (not written at all). Re-running therefore
writes nothing, not even ``updated_at``, and a document changed by someone
else between the read and the commit makes the batch fail whole and be
planned again rather than be overwritten blindly.

A commit Firestore refuses as invalid is split into single writes, so one
unstorable document is reported as a bad row and the others still land.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from google.api_core import exceptions as gexc
from google.cloud import firestore

from firestore_verify.errors import ConflictError
from firestore_verify.events import CONFLICT, MAX_WRITES_PER_COMMIT
from firestore_verify.migrate.report import MigrationReport, TableResult
from firestore_verify.models import Document

if TYPE_CHECKING:
    from firestore_verify.store import Store

__all__ = ["DocPlan", "DocumentWriter", "changed_fields", "plan_document", "same_value"]

log = logging.getLogger("firestore_verify.migrate")


@dataclass(frozen=True)
class DocPlan:
    """The document one source row becomes."""

    #: The legacy primary key (for the report).
    key: Any
    doc_id: str
    #: The whole document, written when it does not exist yet.
    create: dict[str, Any]
    #: The fields the source owns: compared with what is stored, and updated when different.
    fields: dict[str, Any]


def plan_document(model: Document, key: Any, *, create_only: Iterable[str] = ()) -> DocPlan:
    """Plan ``model`` as a document.

    Fields that are ``None`` in the source but filled by the server on create
    (``created_at``...) and ``create_only`` fields (``owners.settings``, which
    the bot owns afterwards) are written on create and never compared.
    """
    create = model.to_document()
    skip = set(create_only)
    fields = {name: value for name, value in create.items()
              if name not in skip and value is not firestore.SERVER_TIMESTAMP}
    return DocPlan(key=key, doc_id=model.document_id(), create=create, fields=fields)


def same_value(left: Any, right: Any) -> bool:
    """Whether two Firestore values are equal (instants, not representations; ``1 != True``)."""
    if isinstance(left, bool) or isinstance(right, bool):
        return type(left) is type(right) and left == right
    if isinstance(left, datetime) and isinstance(right, datetime):
        return left == right
    if isinstance(left, Mapping) and isinstance(right, Mapping):
        return left.keys() == right.keys() and all(same_value(left[k], right[k]) for k in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(same_value, left, right))
    return bool(left == right)


_MISSING = object()


def changed_fields(stored: Mapping[str, Any], plan: DocPlan) -> list[str]:
    """The fields of ``plan`` whose stored value differs (or is missing)."""
    return [name for name, value in plan.fields.items()
            if not same_value(stored.get(name, _MISSING), value)]


class DocumentWriter:
    """Writes the documents of one legacy table into one collection."""

    def __init__(self, store: Store, collection: str, *, table: str, result: TableResult,
                 report: MigrationReport, dry_run: bool = False, max_attempts: int = 10,
                 max_retry_seconds: float | None = None) -> None:
        self._store = store
        self._collection = store.collection(collection)
        self._table = table
        self._result = result
        self._report = report
        self._dry_run = dry_run
        self._max_attempts = max_attempts
        self._max_retry_seconds = max_retry_seconds

    async def write(self, plans: Sequence[DocPlan]) -> None:
        """Bring ``plans`` (at most 500) into Firestore; count what was done in the result."""
        if len(plans) > MAX_WRITES_PER_COMMIT:
            raise ValueError(f"at most {MAX_WRITES_PER_COMMIT} documents per call")
        for _ in range(self._max_attempts):
            refs = [self._collection.document(p.doc_id) for p in plans]
            calls = self._store.calls
            snaps = {s.id: s for s in await calls.collect(
                partial(self._store.client.get_all, refs, **calls.attempt))}
            writes: list[tuple[str, DocPlan, Any, dict[str, Any]]] = []
            unchanged = 0
            for plan, ref in zip(plans, refs, strict=True):
                snap = snaps.get(plan.doc_id)
                if snap is None or not snap.exists:
                    writes.append(("created", plan, ref, plan.create))
                    continue
                changed = changed_fields(snap.to_dict() or {}, plan)
                if not changed:
                    unchanged += 1
                    continue
                option = self._store.client.write_option(last_update_time=snap.update_time)
                writes.append(("updated", plan, (ref, option),
                               {name: plan.fields[name] for name in changed}))
            if self._dry_run or not writes:
                self._result.unchanged += unchanged
                self._count(writes)
                return
            try:
                await self._commit(writes)
            except CONFLICT:
                log.info("%s changed while being migrated; planning the batch again", self._table)
                continue
            except gexc.InvalidArgument:
                writes = await self._one_by_one(writes)
            self._result.unchanged += unchanged
            self._count(writes)
            return
        raise ConflictError(
            f"{self._table}: documents kept changing under the migration after "
            f"{self._max_attempts} attempts; stop the writers and migrate again."
        )

    def _count(self, writes: Sequence[tuple[str, DocPlan, Any, dict[str, Any]]]) -> None:
        for kind, *_ in writes:
            if kind == "created":
                self._result.created += 1
            else:
                self._result.updated += 1

    async def _commit(self, writes: Sequence[tuple[str, DocPlan, Any, dict[str, Any]]]) -> None:
        batch = self._store.client.batch()
        for kind, _, target, data in writes:
            if kind == "created":
                batch.create(target, data)
            else:
                ref, option = target
                batch.update(ref, data, option=option)
        # Transient errors are retried by the store's policy: a resend of a commit that
        # did land fails its preconditions, and the batch is planned again (CONFLICT).
        calls = self._store.calls
        await batch.commit(retry=calls.retry(timeout=self._max_retry_seconds),
                           timeout=calls.attempt_timeout)

    async def _one_by_one(
        self, writes: Sequence[tuple[str, DocPlan, Any, dict[str, Any]]]
    ) -> list[tuple[str, DocPlan, Any, dict[str, Any]]]:
        """Commit each write alone; report those Firestore refuses. Returns the ones that landed."""
        landed = []
        for write in writes:
            try:
                await self._commit([write])
            except gexc.InvalidArgument as exc:
                self._report.bad(self._table, write[1].key,
                                 f"Firestore refused the document: {exc.message}")
                continue
            landed.append(write)
        return landed
