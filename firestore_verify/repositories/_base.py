"""The generic async repository: get / list with cursors / create / update / delete."""

from __future__ import annotations

import asyncio
import base64
import builtins
import contextlib
import json
import logging
import random
import reprlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import partial
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import anyio
import anyio.lowlevel
from google.api_core import exceptions as gexc
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter
from pydantic import ValidationError

from firestore_verify.errors import (
    AlreadyExistsError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
)
from firestore_verify.live import LiveStream, document_source, query_source
from firestore_verify.models import Actor
from firestore_verify.models._base import (
    Document,
    check_document_id,
    check_storable,
    invalid_input,
    plain_value,
)
from firestore_verify.repositories._audit import stage_audit

if TYPE_CHECKING:
    from firestore_verify.store import Store

__all__ = ["Filter", "Page", "Repository", "run_transaction"]

log = logging.getLogger("firestore_verify.repositories")

DocT = TypeVar("DocT", bound=Document)
T = TypeVar("T")

Filter = tuple[str, str, Any]
"""A filter on one field: ``(field, operator, value)``, e.g. ``("enabled", "==", True)``."""
_OPERATORS = frozenset({"==", "!=", "<", "<=", ">", ">=", "in", "not-in", "array-contains",
                        "array-contains-any"})
MAX_PAGE_SIZE = 1000


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a listing, and the cursor to fetch the next one."""

    items: list[T]
    """The items of this page, in the listing's order (at most the ``limit`` asked for)."""
    next_cursor: str | None = None
    """Pass to ``list(cursor=...)`` for the next page; ``None`` on the last page."""

    def __iter__(self) -> Any:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


def _encode_cursor(values: list[Any]) -> str:
    def enc(value: Any) -> Any:
        if isinstance(value, datetime):
            return {"$dt": value.isoformat()}
        return value

    raw = json.dumps([enc(v) for v in values], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


_MAX_ID_BYTES = 1500
"""Longest document id Firestore stores, in UTF-8 bytes."""


def _decode_cursor(cursor: str, expected: int) -> list[Any]:
    """The ``expected`` values of a cursor ``_encode_cursor`` made, or ``InvalidInputError``.

    A cursor comes back from the caller, so it may be tampered with: every value
    must be one Firestore accepts in ``start_after``, and the last a document id.
    """
    def dec(value: Any) -> Any:
        if isinstance(value, dict) and set(value) == {"$dt"}:
            moment = datetime.fromisoformat(value["$dt"])
            # The client converts to UTC, where 9999-12-31T23:59-05:00 overflows.
            moment.astimezone(timezone.utc)
            return moment
        return value

    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(values, list) or len(values) != expected:
            raise ValueError("wrong shape")
        last = values[-1]
        # Unchecked, a bad value reaches Firestore and comes back as a raw
        # InvalidArgument (or the client raises its own ValueError).
        if not isinstance(last, str) or not last or "/" in last:
            raise ValueError("no document id at its end")
        check_document_id(last)
        for index, value in enumerate(values):
            check_storable(value, f"value {index}")
        if len(last.encode("utf-8")) > _MAX_ID_BYTES:
            raise ValueError(f"a document id is at most {_MAX_ID_BYTES} bytes")
        return [dec(v) for v in values]
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:
        # RecursionError: JSON nested thousands deep, which json.loads cannot parse.
        raise InvalidInputError(
            f"cursor {reprlib.repr(cursor)} is not one this listing returned "
            f"({exc!s:.200}); start again without a cursor, with the same order_by.",
            errors=["cursor: not one this listing returned"],
        ) from None


def _check_int64(name: str, value: Any) -> None:
    """Firestore integers are 64-bit: a filter on a larger one is bad input, not a crash."""
    values = value if isinstance(value, (list, tuple, set, frozenset)) else [value]
    for item in values:
        if isinstance(item, int) and not isinstance(item, bool) and not -2**63 <= item < 2**63:
            raise InvalidInputError(f"{name}: {item} does not fit a 64-bit integer.",
                                    errors=[f"{name}: out of the 64-bit integer range"])


async def run_transaction(
    store: Store, body: Callable[[firestore.AsyncTransaction], Awaitable[T]], *, attempts: int = 8
) -> T:
    """Run ``body`` in a Firestore transaction, retried on contention.

    Each retry first waits a jittered, growing delay (see `_retry_delay()`).
    Raises `ConflictError` when contention outlasts every attempt, and
    `UnavailableError` when the attempts outlast ``store.calls.timeout``.
    """
    transaction = store.client.transaction(max_attempts=attempts)
    tries = 0

    @firestore.async_transactional
    async def wrapped(tx: firestore.AsyncTransaction) -> T:
        nonlocal tries
        if tries:
            # google's shell retries at once; writers that collided would collide again
            # (the emulator aborts both, over and over). Nothing is read yet, so the
            # begun transaction holds no lock while it waits.
            await anyio.sleep(_retry_delay(tries))
        tries += 1
        return await body(tx)

    # One bound for every attempt: google's shell passes no deadline to the commit.
    bound = anyio.CancelScope(deadline=anyio.current_time() + store.calls.timeout)
    try:
        with store.calls.translate():
            with bound:
                try:
                    return await wrapped(transaction)
                finally:
                    await _release(transaction)
            raise TimeoutError  # the bound expired (the result was returned otherwise)
    except ValueError as exc:
        if isinstance(exc.__context__, asyncio.CancelledError):
            if bound.cancel_called:
                raise store.calls.unavailable() from exc
            # Cancelled before the transaction began, google's shell tries to roll it back
            # and raises "no transaction ID", swallowing the cancellation: a checkpoint
            # lets the cancel scope deliver it again, as the caller expects.
            await anyio.lowlevel.checkpoint()
            raise ConflictError("the transaction was interrupted before it began; retry.") from exc
        if tries >= attempts and isinstance(exc.__cause__, gexc.Aborted):
            raise ConflictError(
                f"the change kept colliding with concurrent writers after {attempts} "
                "attempts; retry later."
            ) from exc
        raise
    except (gexc.Aborted, gexc.Conflict) as exc:
        raise ConflictError(f"a concurrent change won ({exc.message}); retry.") from exc


_RETRY_BASE, _RETRY_CAP = 0.2, 2.0
"""Largest wait before the first retry of a transaction, and before any, in seconds."""


def _retry_delay(retry: int) -> float:
    """The wait before retry number ``retry`` (1, 2, ...): random up to a doubling ceiling.

    Colliding transactions are all aborted at the same moment (the emulator after
    its 2 s lock timeout); waits drawn from a window wider than one transaction
    let them go one after the other.
    """
    return random.uniform(0, min(_RETRY_CAP, _RETRY_BASE * 2 ** (retry - 1)))


async def _release(transaction: firestore.AsyncTransaction) -> None:
    """Roll back a transaction still held open (a cancellation cut google's rollback short).

    Firestore keeps the documents a transaction read locked until it ends, so an
    abandoned one would stall every writer of those documents until it expires.
    The rollback is shielded, and bounded: the cancellation then goes on.
    """
    if getattr(transaction, "_id", None) is None:  # committed, rolled back or never begun
        return
    with anyio.CancelScope(shield=True), anyio.move_on_after(5), contextlib.suppress(Exception):
        await transaction._rollback()


class Repository(Generic[DocT]):
    """Typed async access to one collection of ``model`` documents.

    Subclasses set ``model`` and ``resource`` (a human name for messages), and
    may list fields that plain `update()` must not touch (``guarded``),
    because a domain operation keeps them consistent.
    """

    model: type[DocT]
    resource: str = "document"
    audit_type: str = "document"
    """``resource_type`` of this collection's audit entries (actions are ``<type>.<verb>``)."""
    guarded: frozenset[str] = frozenset()

    def __init__(self, store: Store) -> None:
        self._store = store
        self._collection = store.collection(self.model.collection)

    # -- references ---------------------------------------------------------
    @property
    def collection(self) -> firestore.AsyncCollectionReference:
        """The underlying Firestore collection (for queries this API does not cover)."""
        return self._collection

    def key(self, value: object) -> str:
        """The document id for ``value`` (an id or a model)."""
        if isinstance(value, Document):
            return value.document_id()
        text = str(value)
        if not text or "/" in text or text in {".", ".."} or text.startswith("__"):
            raise InvalidInputError(f"{text!r} cannot be a {self.resource} id.")
        return text

    def ref(self, key: object) -> firestore.AsyncDocumentReference:
        """The document reference of ``key``."""
        return self._collection.document(self.key(key))

    def _from_snapshot(self, snapshot: Any) -> DocT:
        return self.model.from_document(snapshot.id, snapshot.to_dict() or {})

    # -- reads ----------------------------------------------------------------
    async def find(self, key: object) -> DocT | None:
        """The document with id ``key``, or ``None``."""
        snapshot = await self.ref(key).get(**self._store.calls.options)
        return self._from_snapshot(snapshot) if snapshot.exists else None

    async def get(self, key: object) -> DocT:
        """The document with id ``key``.

        Raises:
            NotFoundError: when it does not exist.

        """
        found = await self.find(key)
        if found is None:
            raise NotFoundError(self.resource, key)
        return found

    async def get_many(self, keys: Sequence[object]) -> dict[str, DocT]:
        """The existing documents among ``keys``, by id, in one round trip."""
        refs = [self.ref(key) for key in keys]
        found: dict[str, DocT] = {}
        calls = self._store.calls
        for snapshot in await calls.collect(
                lambda: self._store.client.get_all(refs, **calls.attempt)):
            if snapshot.exists:
                found[snapshot.id] = self._from_snapshot(snapshot)
        return found

    async def exists(self, key: object) -> bool:
        """Whether the document with id ``key`` exists."""
        return bool((await self.ref(key).get(**self._store.calls.options)).exists)

    def _stored_fields(self) -> set[str]:
        """Fields a query may filter or order on: stored ones, derived ones included."""
        model = self.model
        return (set(model.model_fields) | set(model.model_computed_fields)) - {model.id_field}

    def _query(self, filters: Sequence[Filter], where: Mapping[str, Any],
               base: Any = None) -> Any:
        query: Any = self._collection if base is None else base
        known = self._stored_fields()
        for name, op, value in [*filters, *((k, "==", v) for k, v in where.items())]:
            if name not in known:
                raise InvalidInputError(
                    f"{self.resource} has no field {name!r}; filter on one of "
                    f"{', '.join(sorted(known))}."
                )
            if op not in _OPERATORS:
                raise InvalidInputError(
                    f"unknown operator {op!r}; use one of {', '.join(sorted(_OPERATORS))}."
                )
            _check_int64(name, value)
            query = query.where(filter=FieldFilter(name, op, plain_value(value)))
        return query

    async def list(
        self,
        *,
        limit: int = 50,
        cursor: str | None = None,
        order_by: str | None = None,
        descending: bool = False,
        filters: Sequence[Filter] = (),
        **where: Any,
    ) -> Page[DocT]:
        """One page of documents, optionally filtered and ordered.

        Args:
            limit: Page size (1 to 1000).
            cursor: ``next_cursor`` of the previous page.
            order_by: A field to sort by (ties broken by id); by id if omitted.
            descending: Sort newest/largest first.
            filters: ``(field, operator, value)`` triples.
            **where: Equality filters, e.g. ``enabled=True``.

        """
        if not 1 <= limit <= MAX_PAGE_SIZE:
            raise InvalidInputError(f"limit must be between 1 and {MAX_PAGE_SIZE}, not {limit}.")
        direction = firestore.Query.DESCENDING if descending else firestore.Query.ASCENDING
        query = self._query(filters, where)
        orders: list[str] = []
        if order_by is not None:
            if order_by not in self._stored_fields():
                raise InvalidInputError(f"{self.resource} cannot be ordered by {order_by!r}.")
            query = query.order_by(order_by, direction=direction)
            orders.append(order_by)
        query = query.order_by("__name__", direction=direction)
        if cursor is not None:
            values = _decode_cursor(cursor, len(orders) + 1)
            query = query.start_after(dict(zip([*orders, "__name__"], values, strict=True)))
        calls = self._store.calls
        snapshots = await calls.collect(partial(query.limit(limit + 1).stream, **calls.attempt))
        items = [self._from_snapshot(s) for s in snapshots[:limit]]
        next_cursor = None
        if len(snapshots) > limit:
            last = snapshots[limit - 1]
            data = last.to_dict() or {}
            next_cursor = _encode_cursor([*(data.get(o) for o in orders), last.id])
        return Page(items=items, next_cursor=next_cursor)

    async def iterate(
        self,
        *,
        page_size: int = 200,
        order_by: str | None = None,
        descending: bool = False,
        filters: Sequence[Filter] = (),
        **where: Any,
    ) -> AsyncIterator[DocT]:
        """Every matching document, fetched page by page."""
        cursor: str | None = None
        while True:
            page = await self.list(limit=page_size, cursor=cursor, order_by=order_by,
                                   descending=descending, filters=filters, **where)
            for item in page.items:
                yield item
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    async def count(self, *, filters: Sequence[Filter] = (), **where: Any) -> int:
        """How many documents match (one aggregation query)."""
        result = await self._query(filters, where).count().get(**self._store.calls.options)
        return int(result[0][0].value)

    # -- live -------------------------------------------------------------------------
    def watch(
        self, *, filters: Sequence[Filter] = (), **where: Any
    ) -> LiveStream[builtins.list[DocT]]:
        """Every matching document, live: a new list (by id) whenever one changes.

        Use ``async with repo.watch() as stream: async for docs in stream: ...``.
        """
        sync = self._store.sync_client.collection(self._store.collection_name(
            self.model.collection))
        query = self._query(filters, where, base=sync)

        def combine(sources: builtins.list[builtins.list[Any]]) -> builtins.list[DocT]:
            models = []
            for snapshot in sorted(sources[0], key=lambda s: s.id):
                try:
                    models.append(self._from_snapshot(snapshot))
                except InvalidInputError as exc:
                    # One bad document (written by another client) must not kill the stream.
                    log.warning("skipping invalid %s %s: %s", self.resource, snapshot.id, exc)
            return models

        return LiveStream([query_source(query)], combine)

    def watch_document(self, key: object) -> LiveStream[DocT | None]:
        """One document, live: the model, or ``None`` while it does not exist."""
        ref = self._store.sync_client.collection(self._store.collection_name(
            self.model.collection)).document(self.key(key))

        def combine(sources: builtins.list[builtins.list[Any]]) -> DocT | None:
            snapshot = sources[0][0] if sources[0] else None
            return self._from_snapshot(snapshot) if snapshot and snapshot.exists else None

        return LiveStream([document_source(ref)], combine)

    # -- writes ---------------------------------------------------------------
    def _validate(self, data: DocT | Mapping[str, Any]) -> DocT:
        return self.model.parse(data)

    async def create(self, data: DocT | Mapping[str, Any], *, actor: Actor | None = None) -> DocT:
        """Create a document; fails if its id is taken.

        With ``actor``, its audit entry (``<type>.create``) commits in the same batch.

        Raises:
            AlreadyExistsError: when a document with that id exists.
            InvalidInputError: when ``data`` is not a valid model.

        """
        doc = self._validate(data)
        ref = self.ref(doc)
        batch = self._store.client.batch()
        batch.create(ref, doc.to_document())
        self._stage(batch, actor, "create", doc.document_id(), new_value=self._audited(doc))
        try:
            await batch.commit(**self._store.calls.options)
        except gexc.AlreadyExists:
            raise AlreadyExistsError(self.resource, doc.document_id()) from None
        return self._from_snapshot(await ref.get(**self._store.calls.options))

    def _audited(self, doc: DocT) -> dict[str, Any]:
        """What an audit entry records of ``doc`` (subclasses hide secrets here)."""
        data: dict[str, Any] = plain_value(doc.model_dump(
            mode="json", exclude_none=True, exclude=set(self.model.model_computed_fields)))
        return data

    def _stage(self, tx: Any, actor: Actor | None, verb: str, key: object, *,
               old_value: Any = None, new_value: Any = None) -> None:
        """Stage the audit entry of one change of this collection in ``tx``."""
        stage_audit(self._store, tx, actor, f"{self.audit_type}.{verb}", self.audit_type, key,
                    old_value=old_value, new_value=new_value)

    def _changed(self, current: DocT, changes: Mapping[str, Any]) -> tuple[DocT, dict[str, Any]]:
        """Validate ``changes`` against ``current``: the new model and the fields to write."""
        bad = set(changes) - set(self.model.model_fields)
        if bad:
            raise InvalidInputError(f"{self.resource} has no field(s) {', '.join(sorted(bad))}.")
        locked = set(changes) & (self.guarded | {self.model.id_field, "created_at"})
        if locked:
            raise InvalidInputError(
                f"{', '.join(sorted(locked))} of a {self.resource} cannot be set by update(); "
                "use the dedicated operation, which keeps linked data and counters true."
            )
        derived = set(self.model.model_computed_fields)
        merged = {**current.model_dump(exclude=derived), **changes}
        try:
            updated = self.model.model_validate(merged)
        except ValidationError as exc:
            raise invalid_input(exc, self.resource) from None
        document = updated.to_document()
        fields = {
            name: document[name]
            for name in [*changes, *derived]
            if getattr(updated, name) != getattr(current, name)
        }
        return updated, fields

    async def update(self, key: object, *, actor: Actor | None = None, **changes: Any) -> DocT:
        """Change some fields of an existing document, atomically.

        Only fields that actually change are written; ``updated_at`` (when the
        model has it) is refreshed with them. With ``actor``, the audit entry
        (``<type>.update``, old and new values of the changed fields) commits in
        the same transaction; a change that changes nothing writes no entry.

        Raises:
            NotFoundError: when the document does not exist.
            InvalidInputError: for unknown fields or invalid values.

        """
        ref = self.ref(key)

        async def body(tx: firestore.AsyncTransaction) -> bool:
            snapshot = await ref.get(transaction=tx)
            if not snapshot.exists:
                raise NotFoundError(self.resource, key)
            current = self._from_snapshot(snapshot)
            updated, fields = self._changed(current, changes)
            if not fields:
                return False
            self._stage(tx, actor, "update", key, **self._diff(current, updated, fields))
            if "updated_at" in self.model.model_fields and "updated_at" not in fields:
                fields["updated_at"] = firestore.SERVER_TIMESTAMP
            tx.update(ref, fields)
            return True

        await run_transaction(self._store, body)
        return await self.get(key)

    def _diff(self, current: DocT, updated: DocT, fields: Mapping[str, Any],
              ) -> dict[str, dict[str, Any]]:
        """Old and new audited values of the changed ``fields``."""
        old, new = self._audited(current), self._audited(updated)
        named = [f for f in fields if f not in self.model.model_computed_fields]
        return {"old_value": {f: old.get(f) for f in named},
                "new_value": {f: new.get(f) for f in named}}

    async def delete(self, key: object, *, actor: Actor | None = None) -> bool:
        """Delete a document. Returns whether it existed (deleting twice is harmless).

        With ``actor``, the audit entry (``<type>.delete``, the old document)
        commits in the same transaction; deleting nothing writes no entry.
        """
        ref = self.ref(key)

        async def body(tx: firestore.AsyncTransaction) -> bool:
            snapshot = await ref.get(transaction=tx)
            if snapshot.exists:
                self._stage(tx, actor, "delete", key,
                            old_value=self._audited(self._from_snapshot(snapshot)))
                tx.delete(ref)
            return bool(snapshot.exists)

        return await run_transaction(self._store, body)

