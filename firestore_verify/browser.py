"""A read-only browser over the Firestore collections of one store.

`CollectionBrowser` lists the collections of a `Store`,
pages through their documents and watches one document live, and encodes every
Firestore value as JSON **with its type**, so an admin tool can show the raw
database behind an API (and describe it in an OpenAPI schema: every answer is a
pydantic model). It never writes.

What it shows:

- Only this store's collections: the root collections of the data contract
  (`COLLECTIONS`) under the store's prefix, shown without the
  prefix (``protected_groups``, not ``staging_protected_groups``). Collections of
  other prefixes, and collections outside the contract (other apps sharing the
  database), are neither listed nor browsable.
- Subcollections by their store-relative path, e.g. ``_metadata/stats/shards``.
- Sensitive configuration (``admin_config`` documents with ``is_sensitive: true``)
  with its ``value`` replaced by `MASK`.

Put it behind the ``database:read`` permission
(`READ_DATABASE`): it shows
everything else as stored, including ``admin_users`` and the audit trail.

Value encoding (``{"type": ..., "value": ...}``, recursively):

===============  ============================================================
``type``         ``value``
===============  ============================================================
``null``         ``null``
``boolean``      ``true`` / ``false``
``integer``      a JSON number (64-bit; beyond ±(2^53-1) JavaScript rounds it)
``double``       a JSON number, or the string ``"NaN"``, ``"Infinity"`` or
                 ``"-Infinity"`` (JSON has none of these; the same spelling as
                 Firestore's REST API)
``string``       the text
``bytes``        standard base64
``timestamp``    RFC 3339 in UTC with a ``Z`` (nanoseconds kept when stored)
``geopoint``     ``{"latitude": ..., "longitude": ...}``
``reference``    the document path; prefix-aware: ``protected_groups/-100`` when
                 it points into this store (``in_store: true``), the path as
                 stored otherwise
``vector``       a list of numbers (Firestore vector embeddings)
``array``        a list of encoded values
``map``          an object of encoded values
``other``        a value type this version cannot encode, as text
===============  ============================================================
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import math
import re
from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from functools import partial
from typing import TYPE_CHECKING, Annotated, Any, Literal

from google.api_core import exceptions as gexc
from google.cloud import firestore
from google.cloud.firestore_v1.vector import Vector
from pydantic import BaseModel, ConfigDict, Field

from firestore_verify.errors import InvalidInputError, NotFoundError
from firestore_verify.live import LiveStream, document_source
from firestore_verify.models import (
    AdminUser,
    AuditEntry,
    ConfigEntry,
    EnforcedChannel,
    Owner,
    ProtectedGroup,
    Verification,
)
from firestore_verify.repositories._base import MAX_PAGE_SIZE, _decode_cursor, _encode_cursor
from firestore_verify.repositories.admin import MASK
from firestore_verify.rollups import DAILY, GROUP_DAILY, USERS

if TYPE_CHECKING:
    from firestore_verify.store import Store

__all__ = [
    "COLLECTIONS",
    "ArrayValue",
    "BooleanValue",
    "BrowserCollection",
    "BrowserDocument",
    "BrowserPage",
    "BytesValue",
    "CollectionBrowser",
    "DoubleValue",
    "EncodedValue",
    "GeoPoint",
    "GeoPointValue",
    "IntegerValue",
    "MapValue",
    "NullValue",
    "OtherValue",
    "ReferenceValue",
    "StringValue",
    "TimestampValue",
    "VectorValue",
    "encode_fields",
    "encode_value",
]

COLLECTIONS: tuple[str, ...] = (
    Owner.collection,
    ProtectedGroup.collection,
    EnforcedChannel.collection,
    Verification.collection,
    AdminUser.collection,
    AuditEntry.collection,
    ConfigEntry.collection,
    "_metadata",
    DAILY,
    GROUP_DAILY,
    USERS,
)
"""The root collections of the data contract (unprefixed), in the order they are listed."""
_ROOTS = frozenset(COLLECTIONS)
_RESERVED_ID = re.compile(r"^__.*__$")
_MAX_ID_BYTES = 1500


class _Encoded(BaseModel):
    model_config = ConfigDict(frozen=True)


class NullValue(_Encoded):
    """A Firestore ``null``."""

    type: Literal["null"] = "null"
    """Always ``"null"``."""
    value: None = None
    """Always ``None``."""


class BooleanValue(_Encoded):
    """A Firestore boolean."""

    type: Literal["boolean"] = "boolean"
    """Always ``"boolean"``."""
    value: bool
    """The boolean."""


class IntegerValue(_Encoded):
    """A Firestore 64-bit integer (a JSON number; JavaScript rounds beyond ±(2^53-1))."""

    type: Literal["integer"] = "integer"
    """Always ``"integer"``."""
    value: int
    """The integer."""


class DoubleValue(_Encoded):
    """A Firestore double; NaN and the infinities are spelled as strings (JSON has none)."""

    type: Literal["double"] = "double"
    """Always ``"double"``."""
    value: float | Literal["NaN", "Infinity", "-Infinity"]
    """The number, or ``"NaN"``, ``"Infinity"``, ``"-Infinity"``."""


class StringValue(_Encoded):
    """A Firestore string."""

    type: Literal["string"] = "string"
    """Always ``"string"``."""
    value: str
    """The text (``"********"`` when masked)."""


class BytesValue(_Encoded):
    """Firestore bytes, as standard base64."""

    type: Literal["bytes"] = "bytes"
    """Always ``"bytes"``."""
    value: str
    """The bytes, base64-encoded (standard alphabet, padded)."""


class TimestampValue(_Encoded):
    """A Firestore timestamp, as RFC 3339 in UTC (``2024-05-01T12:00:00.123456Z``)."""

    type: Literal["timestamp"] = "timestamp"
    """Always ``"timestamp"``."""
    value: str
    """RFC 3339, UTC, ``Z`` suffix; fractional seconds as stored (up to nanoseconds)."""


class GeoPoint(_Encoded):
    """A latitude / longitude pair."""

    latitude: float
    """Degrees, -90 to 90."""
    longitude: float
    """Degrees, -180 to 180."""


class GeoPointValue(_Encoded):
    """A Firestore geo point."""

    type: Literal["geopoint"] = "geopoint"
    """Always ``"geopoint"``."""
    value: GeoPoint
    """The point."""


class ReferenceValue(_Encoded):
    """A Firestore document reference."""

    type: Literal["reference"] = "reference"
    """Always ``"reference"``."""
    value: str
    """The document path: store-relative (prefix stripped) when ``in_store``, else as stored."""
    in_store: bool
    """Whether it points at a document of this store (browsable with this browser)."""


class VectorValue(_Encoded):
    """A Firestore vector embedding."""

    type: Literal["vector"] = "vector"
    """Always ``"vector"``."""
    value: list[float]
    """The components."""


class OtherValue(_Encoded):
    """A value type this version cannot encode (e.g. BSON types), shown as text."""

    type: Literal["other"] = "other"
    """Always ``"other"``."""
    value: str
    """``repr()`` of the value the client decoded."""
    python_type: str
    """The Python type the client decoded it into."""


class ArrayValue(_Encoded):
    """A Firestore array."""

    type: Literal["array"] = "array"
    """Always ``"array"``."""
    value: list[EncodedValue]
    """The elements, encoded."""


class MapValue(_Encoded):
    """A Firestore map (nested object)."""

    type: Literal["map"] = "map"
    """Always ``"map"``."""
    value: dict[str, EncodedValue]
    """The entries, encoded."""


EncodedValue = Annotated[
    NullValue | BooleanValue | IntegerValue | DoubleValue | StringValue | BytesValue
    | TimestampValue | GeoPointValue | ReferenceValue | VectorValue | ArrayValue | MapValue
    | OtherValue,
    Field(discriminator="type"),
]
"""Any encoded Firestore value; ``type`` tells which."""
ArrayValue.model_rebuild()
MapValue.model_rebuild()


class BrowserCollection(BaseModel):
    """One collection of the store, as `CollectionBrowser.collections()` lists it."""

    name: str
    """The collection name without the store's prefix, e.g. ``protected_groups``."""
    count: int | None = None
    """How many documents it holds (an aggregation count), or ``None`` when not asked for."""


class BrowserDocument(BaseModel):
    """One document, every field encoded with its type."""

    collection: str
    """Store-relative path of its collection, e.g. ``verifications`` or ``_metadata/stats/shards``.
    """
    id: str
    """The document id."""
    path: str
    """Store-relative path of the document, e.g. ``_metadata/stats``."""
    fields: dict[str, EncodedValue]
    """The fields, each ``{"type": ..., "value": ...}``."""
    masked: list[str] = Field(default_factory=list)
    """Fields whose value is hidden (``admin_config`` entries with ``is_sensitive: true``)."""
    create_time: str | None = None
    """When the document was created (RFC 3339, UTC)."""
    update_time: str | None = None
    """When the document last changed (RFC 3339, UTC)."""


class BrowserPage(BaseModel):
    """A page of documents, ordered by document id."""

    collection: str
    """Store-relative path of the collection."""
    items: list[BrowserDocument]
    """The documents of this page."""
    next_cursor: str | None = None
    """Pass to ``documents(cursor=...)`` for the next page; ``None`` on the last page."""


def _rfc3339(value: datetime) -> str:
    rfc = getattr(value, "rfc3339", None)  # DatetimeWithNanoseconds keeps nanoseconds
    if callable(rfc) and value.tzinfo is not None:
        return str(rfc())
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)  # Firestore times are UTC
    text = value.astimezone(timezone.utc).isoformat()
    return text.removesuffix("+00:00") + "Z"


def _double(value: float) -> DoubleValue:
    if math.isnan(value):
        return DoubleValue(value="NaN")
    if math.isinf(value):
        return DoubleValue(value="Infinity" if value > 0 else "-Infinity")
    return DoubleValue(value=value)


def encode_value(value: Any, *, prefix: str = "") -> EncodedValue:
    """Encode one value, as google-cloud-firestore decodes it, into its typed JSON form.

    Args:
        value: A field value of a document snapshot.
        prefix: The store's collection prefix: references into it are shown without it.

    """
    if value is None:
        return NullValue()
    if isinstance(value, bool):
        return BooleanValue(value=value)
    if isinstance(value, int):
        return IntegerValue(value=value)
    if isinstance(value, float):
        return _double(value)
    if isinstance(value, str):
        return StringValue(value=value)
    if isinstance(value, bytes | bytearray):
        return BytesValue(value=base64.b64encode(bytes(value)).decode("ascii"))
    if isinstance(value, datetime):
        return TimestampValue(value=_rfc3339(value))
    if isinstance(value, firestore.GeoPoint):
        return GeoPointValue(value=GeoPoint(latitude=value.latitude, longitude=value.longitude))
    if isinstance(value, firestore.DocumentReference | firestore.AsyncDocumentReference):
        path = str(value.path)
        root = path.split("/", 1)[0]
        in_store = root.startswith(prefix) and root[len(prefix):] in _ROOTS
        return ReferenceValue(value=path[len(prefix):] if in_store else path, in_store=in_store)
    if isinstance(value, Vector):
        return VectorValue(value=[float(item) for item in value])
    if isinstance(value, list | tuple):
        return ArrayValue(value=[encode_value(item, prefix=prefix) for item in value])
    if isinstance(value, Mapping):
        return MapValue(value=encode_fields(value, prefix=prefix))
    return OtherValue(value=repr(value), python_type=type(value).__name__)


def encode_fields(data: Mapping[str, Any], *, prefix: str = "") -> dict[str, EncodedValue]:
    """Encode every field of a document (see `encode_value()`), keys sorted."""
    return {str(key): encode_value(data[key], prefix=prefix) for key in sorted(data)}


def _check_id(text: str, what: str) -> str:
    if not isinstance(text, str) or not text:
        raise InvalidInputError(f"a {what} cannot be empty.")
    if "/" in text or text in {".", ".."} or _RESERVED_ID.match(text):
        raise InvalidInputError(
            f"{text!r} cannot be a {what}: no '/', not '.' or '..', not '__...__'."
        )
    if len(text.encode()) > _MAX_ID_BYTES:
        raise InvalidInputError(f"a {what} has at most {_MAX_ID_BYTES} bytes.")
    return text


@contextlib.contextmanager
def _typed_errors(what: str) -> Iterator[None]:
    """Turn the google errors a bad name can still cause into ours."""
    try:
        yield
    except gexc.InvalidArgument as exc:
        raise InvalidInputError(f"Firestore refused {what}: {exc.message}") from None
    except gexc.NotFound:
        raise NotFoundError("collection", what) from None


class CollectionBrowser:
    """Read-only access to every collection of one store, values encoded with their types.

    Build it with ``CollectionBrowser(store)``: it keeps nothing but the store,
    so one per request costs nothing. Every answer is a pydantic model
    (`BrowserCollection`, `BrowserPage`, `BrowserDocument`), ready
    for an API to return and for an OpenAPI schema to describe.

    Collection names are store-relative: a root collection of the data contract
    without the store's prefix (``verifications``), or a subcollection path
    below one (``_metadata/stats/shards``).

    Args:
        store: The store whose collections to show.

    """

    def __init__(self, store: Store) -> None:
        self._store = store

    # -- names ------------------------------------------------------------------------
    def _segments(self, name: str) -> list[str]:
        if not isinstance(name, str) or not name.strip("/"):
            raise InvalidInputError("a collection name cannot be empty.")
        segments = name.split("/")
        for index, segment in enumerate(segments):
            _check_id(segment, "collection name" if index % 2 == 0 else "document id")
        if len(segments) % 2 == 0:
            raise InvalidInputError(
                f"{name!r} is a document path, not a collection: collection paths have an "
                "odd number of segments (e.g. '_metadata/stats/shards')."
            )
        if segments[0] not in _ROOTS:
            raise NotFoundError("collection", segments[0])
        return segments

    def _path(self, name: str) -> str:
        """The real (prefixed) path of the store-relative collection path ``name``."""
        root, _, rest = name.partition("/")
        return self._store.collection_name(root) + (f"/{rest}" if rest else "")

    def _collection(self, name: str, client: Any = None) -> Any:
        self._segments(name)
        return (client or self._store.client).collection(self._path(name))

    def _is_sensitive_config(self, name: str, data: Mapping[str, Any]) -> bool:
        return name == ConfigEntry.collection and data.get("is_sensitive") is True

    def _document(self, name: str, snapshot: Any) -> BrowserDocument:
        data: dict[str, Any] = dict(snapshot.to_dict() or {})
        masked: list[str] = []
        if self._is_sensitive_config(name, data) and "value" in data:
            data["value"] = MASK
            masked.append("value")
        created = getattr(snapshot, "create_time", None)
        updated = getattr(snapshot, "update_time", None)
        return BrowserDocument(
            collection=name,
            id=snapshot.id,
            path=f"{name}/{snapshot.id}",
            fields=encode_fields(data, prefix=self._store.prefix),
            masked=masked,
            create_time=_rfc3339(created) if created is not None else None,
            update_time=_rfc3339(updated) if updated is not None else None,
        )

    # -- reads ------------------------------------------------------------------------
    async def collections(self, *, counts: bool = False) -> list[BrowserCollection]:
        """The root collections of this store that hold documents, by name.

        Costs one ``ListCollectionIds`` call (it lists the whole database's root
        collection ids; those of other prefixes and outside the data contract are
        dropped). With ``counts``, one aggregation count per collection on top,
        each billed one read per 1,000 documents counted (at least one): about
        1,000 reads for a million verification events, and as slow.

        Args:
            counts: Also count the documents of each collection.

        """
        prefix = self._store.prefix
        with _typed_errors("the collection listing"):
            found = {
                collection.id[len(prefix):]
                async for collection in self._store.client.collections(**self._store.calls.options)
                if collection.id.startswith(prefix)
            }
        names = [name for name in COLLECTIONS if name in found]
        if not counts:
            return [BrowserCollection(name=name) for name in names]

        async def count(name: str) -> BrowserCollection:
            query: Any = self._store.collection(name)
            with _typed_errors(name):
                answer = await query.count().get(**self._store.calls.options)
            return BrowserCollection(name=name, count=int(answer[0][0].value))

        return list(await asyncio.gather(*(count(name) for name in names)))

    async def documents(
        self, name: str, *, limit: int = 50, cursor: str | None = None
    ) -> BrowserPage:
        """One page of the documents of collection ``name``, ordered by document id.

        Args:
            name: A store-relative collection path (``verifications``,
                ``_metadata/stats/shards``).
            limit: Page size (1 to 1000).
            cursor: ``next_cursor`` of the previous page.

        Raises:
            InvalidInputError: for an invalid name, limit or cursor.
            NotFoundError: when ``name`` is not a collection of this store.

        """
        if not 1 <= limit <= MAX_PAGE_SIZE:
            raise InvalidInputError(f"limit must be between 1 and {MAX_PAGE_SIZE}, not {limit}.")
        query = self._collection(name).order_by("__name__")
        if cursor is not None:
            (after,) = _decode_cursor(cursor, 1)
            try:
                _check_id(after, "document id")
            except InvalidInputError:
                raise InvalidInputError(
                    f"cursor {cursor!r} is not one this listing returned; start again "
                    "without a cursor."
                ) from None
            query = query.start_after({"__name__": after})
        with _typed_errors(name):
            calls = self._store.calls
            snapshots = await calls.collect(
                partial(query.limit(limit + 1).stream, **calls.attempt))
        items = [self._document(name, s) for s in snapshots[:limit]]
        next_cursor = _encode_cursor([snapshots[limit - 1].id]) if len(snapshots) > limit else None
        return BrowserPage(collection=name, items=items, next_cursor=next_cursor)

    async def document(self, name: str, doc_id: str) -> BrowserDocument:
        """The document ``doc_id`` of collection ``name``.

        Raises:
            InvalidInputError: for an invalid name or id.
            NotFoundError: when the collection is not this store's or the document
                does not exist.

        """
        ref = self._collection(name).document(_check_id(doc_id, "document id"))
        with _typed_errors(name):
            snapshot = await ref.get(**self._store.calls.options)
        if not snapshot.exists:
            raise NotFoundError("document", f"{name}/{doc_id}")
        return self._document(name, snapshot)

    async def subcollections(self, name: str, doc_id: str) -> list[str]:
        """The subcollections of a document, as store-relative paths, sorted.

        For example ``["_metadata/stats/shards"]`` for ``("_metadata", "stats")``
        once counters are sharded. The document itself need not exist. Costs one
        ``ListCollectionIds`` call.

        Raises:
            InvalidInputError: for an invalid name or id.
            NotFoundError: when the collection is not this store's.

        """
        ref = self._collection(name).document(_check_id(doc_id, "document id"))
        with _typed_errors(name):
            ids = [collection.id async for collection in ref.collections(
                **self._store.calls.options)]
        return sorted(f"{name}/{doc_id}/{sub}" for sub in ids)

    # -- live -------------------------------------------------------------------------
    def watch_document(self, name: str, doc_id: str) -> LiveStream[BrowserDocument | None]:
        """The document, live: its encoded view whenever it changes, ``None`` while missing.

        Use ``async with browser.watch_document(name, id) as stream: async for doc in
        stream: ...``: one Firestore listener for as long as the block runs.

        Raises:
            InvalidInputError: for an invalid name or id.
            NotFoundError: when the collection is not this store's.

        """
        ref = self._collection(name, self._store.sync_client).document(
            _check_id(doc_id, "document id"))

        def combine(sources: list[list[Any]]) -> BrowserDocument | None:
            snapshot = sources[0][0] if sources[0] else None
            return self._document(name, snapshot) if snapshot and snapshot.exists else None

        return LiveStream([document_source(ref)], combine)
