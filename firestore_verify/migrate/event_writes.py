"""The commit of one event batch, encoded straight into protobuf (pure, no I/O).

The migration commits `plan_batch()` plans as the
event writer does, in the same order (events, the counter shard, daily
rollups, group rollups, users) and with the same preconditions. Only the
encoding differs: every write is built in place inside one ``CommitRequest``
message, instead of through the client's proto-plus layer and then copied into
the request, which costs this process more CPU than the emulator spends
applying the commit. What is sent:

* events and new users: the document, create-only (the bytes
  `firestore_verify._encode.create_write()` gives, checked in the tests);
* rollups and the counter shard: what ``set(..., merge=True)`` of plain
  values and increments sends (`merge_write()`, checked against the client);
* users already stored: an update of only what changed (whole fields, single
  entries of the ``groups`` and ``group_first`` maps, days appended as an array
  union) under an ``update_time`` precondition (`user_write()`). The
  precondition means the stored document is the state the plan started from,
  so the result is the document a rewrite of the whole state would leave.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from google.cloud.firestore import SERVER_TIMESTAMP
from google.cloud.firestore_v1.field_path import FieldPath
from google.cloud.firestore_v1.transforms import Increment
from google.cloud.firestore_v1.types import firestore, write

from firestore_verify._encode import encode_value
from firestore_verify.counters import increments, stats_ref
from firestore_verify.models import Verification
from firestore_verify.rollups import DAILY, GROUP_DAILY, USERS, BatchPlan, UserState

if TYPE_CHECKING:
    from firestore_verify.store import Store

__all__ = ["BatchEncoder", "EncodedBatch", "event_write", "merge_write", "user_write"]

_Write: Any = write.Write.pb()
_CommitRequest: Any = firestore.CommitRequest.pb()
_REQUEST_TIME = 1  # ServerValue.REQUEST_TIME
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MISSING = object()


@functools.lru_cache(maxsize=8192)
def _render(parts: tuple[str, ...]) -> str:
    # Few distinct paths (hours, statuses, group ids), each rendered thousands of times.
    rendered: str = FieldPath(*parts).to_api_repr()
    return rendered


def _set_time(target: Any, moment: datetime) -> None:
    """Fill the ``Timestamp`` message ``target`` with ``moment`` (aware; nanoseconds kept)."""
    exact = getattr(moment, "timestamp_pb", None)
    if exact is not None:  # DatetimeWithNanoseconds, as read from Firestore
        target.CopyFrom(exact())
        return
    if moment.utcoffset() is None:
        raise TypeError("naive datetimes cannot be encoded")
    delta = moment - _EPOCH
    target.seconds = delta.days * 86400 + delta.seconds
    target.nanos = delta.microseconds * 1000


def _set(target: Any, value: Any) -> None:
    """Fill the ``Value`` message ``target`` with a plain Python value, in place."""
    kind = type(value)
    if kind is str:
        target.string_value = value
    elif kind is int:
        target.integer_value = value
    elif kind is bool:
        target.boolean_value = value
    elif kind is float:
        target.double_value = value
    elif value is None:
        target.null_value = 0
    elif isinstance(value, datetime):
        _set_time(target.timestamp_value, value)
    elif isinstance(value, list | tuple):
        array = target.array_value
        array.SetInParent()
        for item in value:
            _set(array.values.add(), item)
    elif isinstance(value, Mapping):
        _set_fields(target.map_value.fields, value)
        target.map_value.SetInParent()
    else:  # subclasses of the above (an IntEnum...): the general encoder, or its TypeError
        target.CopyFrom(encode_value(value))


def _set_fields(target: Any, data: Mapping[str, Any]) -> None:
    for key, value in data.items():
        _set(target[key], value)


def _document_into(raw: Any, path: str, data: Mapping[str, Any]) -> None:
    """A create-only write of ``data`` (server timestamps at the top level) into ``raw``."""
    raw.update.name = path
    fields = raw.update.fields
    for key, value in data.items():
        if value is SERVER_TIMESTAMP:
            transform = raw.update_transforms.add()
            transform.field_path = key
            transform.set_to_server_value = _REQUEST_TIME
        else:
            _set(fields[key], value)
    raw.current_document.exists = False


def _merge_into(raw: Any, path: str, data: Mapping[str, Any]) -> None:
    """``set(data, merge=True)``: plain top-level values, increments and server timestamps."""
    plain: list[str] = []
    transforms: list[tuple[tuple[str, ...], Any]] = []

    def walk(prefix: tuple[str, ...], node: Mapping[str, Any]) -> None:
        for key, value in node.items():
            parts = (*prefix, key)
            if isinstance(value, Increment) or value is SERVER_TIMESTAMP:
                transforms.append((parts, value))
            elif isinstance(value, Mapping) and value:
                walk(parts, value)
            elif prefix:
                raise TypeError(f"plain value at {'.'.join(parts)}: not on the fast path")
            else:
                plain.append(key)

    walk((), data)
    raw.update.name = path
    fields = raw.update.fields
    for key in plain:
        _set(fields[key], data[key])
    # The client sorts both by field path; so do we, for the same bytes.
    raw.update_mask.field_paths.extend(_render((key,)) for key in sorted(plain))
    raw.update_mask.SetInParent()
    for parts, value in sorted(transforms, key=lambda item: item[0]):
        transform = raw.update_transforms.add()
        transform.field_path = _render(parts)
        if value is SERVER_TIMESTAMP:
            transform.set_to_server_value = _REQUEST_TIME
        else:
            _set(transform.increment, value.value)


def _appended(before: Any, after: Any) -> list[Any] | None:
    """What ``after`` adds at the end of the list ``before`` (``None``: not a pure append).

    An empty ``before`` is no list to append to: the stored field may as well be
    missing or null, and is then written whole.
    """
    if not isinstance(before, list) or not isinstance(after, list) or not before:
        return None
    added = after[len(before):]
    if after[:len(before)] != before or not added:
        return None
    if len(set(added)) != len(added) or any(value in before for value in added):
        return None
    return added


def _user_into(raw: Any, path: str, before: UserState, after: UserState) -> None:
    new = after.to_document()
    if not before.exists:
        _document_into(raw, path, new)
        return
    old = before.to_document()
    fields: dict[str, Any] = {}
    masked: list[tuple[str, ...]] = []
    unions: list[tuple[tuple[str, ...], list[Any]]] = []

    def change(parts: tuple[str, ...], previous: Any, value: Any) -> None:
        added = _appended(previous, value)
        if added is not None:
            unions.append((parts, added))
            return
        node = fields
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
        masked.append(parts)

    for name, value in new.items():
        previous = old.get(name, _MISSING)
        # plan_batch adds map entries and never removes one: write the entries that changed
        # (into a map known to be stored: an empty one may be missing or null, written whole).
        if (isinstance(value, dict) and isinstance(previous, dict) and previous
                and previous.keys() <= value.keys()):
            for key, entry in value.items():
                if previous.get(key, _MISSING) != entry:
                    change((name, key), previous.get(key), entry)
        elif value != previous:
            change((name,), previous, value)
    if not masked and not unions:
        # Nothing changed (plan_batch does not plan such users): rewrite the state.
        fields, masked = new, [(name,) for name in new]
    raw.update.name = path
    _set_fields(raw.update.fields, fields)
    raw.update_mask.field_paths.extend(_render(parts) for parts in sorted(masked))
    raw.update_mask.SetInParent()
    for parts, added in unions:
        transform = raw.update_transforms.add()
        transform.field_path = _render(parts)
        values = transform.append_missing_elements
        for item in added:
            _set(values.values.add(), item)
    _set_time(raw.current_document.update_time, before.update_time)


def event_write(path: str, event: Verification) -> Any:
    """The create-only write of ``event`` at the full document ``path`` (a raw ``Write``)."""
    raw = _Write()
    _document_into(raw, path, event.to_document())
    return raw


def merge_write(path: str, data: Mapping[str, Any]) -> Any:
    """``set(data, merge=True)`` at the full document ``path`` (a raw ``Write``).

    ``data`` holds plain values at the top level and increments or the server
    timestamp at any depth (the shape of rollup and counter documents);
    anything else raises ``TypeError`` (a bug in the caller).
    """
    raw = _Write()
    _merge_into(raw, path, data)
    return raw


def user_write(path: str, before: UserState, after: UserState) -> Any:
    """The write taking a ``verification_users`` document from ``before`` to ``after``.

    Create-only when ``before`` is not stored; otherwise, if the document's
    ``update_time`` is still ``before``'s, an update of what changed: whole
    fields, single entries of the ``groups`` and ``group_first`` maps, and
    days added at the end of a list as an array union (events mostly come in
    time order, so a user's new day is usually the latest). A raw ``Write``.
    """
    raw = _Write()
    _user_into(raw, path, before, after)
    return raw


@dataclass(frozen=True)
class EncodedBatch:
    """One commit: the raw ``CommitRequest``, and where its user writes are."""

    request: Any
    #: Users whose document the commit writes, in the order of their writes.
    users: list[int]
    #: Index of the first user write among the request's writes (they come last).
    first_user: int


class BatchEncoder:
    """Encodes `BatchPlan` commits for one store.

    Counters and rollups go to shard 0 (``_metadata/stats``, one rollup per
    day): the layout every reader, the Firebase JS SDK included, reads first.
    """

    def __init__(self, store: Store) -> None:
        def folder(collection: str) -> str:
            ref = store.collection(collection).document("x")
            return str(ref._document_path).rsplit("/", 1)[0]

        self._database = str(store.client._database_string)
        self._events = folder(Verification.collection)
        self._daily = folder(DAILY)
        self._group_daily = folder(GROUP_DAILY)
        self._users = folder(USERS)
        self._stats = str(stats_ref(store)._document_path)

    def encode(self, plan: BatchPlan, before: Mapping[int, UserState]) -> EncodedBatch:
        """The commit of ``plan``; ``before`` holds the states the plan started from."""
        request = _CommitRequest(database=self._database)
        writes = request.writes
        for event in plan.events:
            _document_into(writes.add(), f"{self._events}/{event.id}", event.to_document())
        _merge_into(writes.add(), self._stats, increments(plan.counters))
        for day, doc in plan.daily.items():
            _merge_into(writes.add(), f"{self._daily}/{day}", doc)
        for key, doc in plan.group_daily.items():
            _merge_into(writes.add(), f"{self._group_daily}/{key}", doc)
        first_user = len(writes)
        users = list(plan.users)
        for user_id in users:
            _user_into(writes.add(), f"{self._users}/{user_id}", before[user_id],
                       plan.users[user_id])
        return EncodedBatch(request=request, users=users, first_user=first_user)
