"""Fast encoding of the logger's hot-path writes straight to protobuf.

The google client builds every write through proto-plus wrappers, which costs
about seven times what building the underlying protobuf messages does. The
verification writer encodes the event and user documents of every batch (the
bulk of its writes) here instead, and hands them to the batch as ready
``Write`` messages. Only plain data is supported: what the library's own
models produce (None, bool, int, float, str, aware datetimes, lists, maps)
and the server-timestamp sentinel at the top level; anything else raises
``TypeError`` (a bug in the caller, never user input).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from google.cloud.firestore import SERVER_TIMESTAMP
from google.cloud.firestore_v1.types import common, document, write
from google.protobuf import timestamp_pb2

__all__ = ["create_write", "update_write"]

_Write: Any = write.Write.pb()
_Document: Any = document.Document.pb()
_Value: Any = document.Value.pb()
_MapValue: Any = document.MapValue.pb()
_ArrayValue: Any = document.ArrayValue.pb()
_Precondition: Any = common.Precondition.pb()
_DocumentMask: Any = common.DocumentMask.pb()
_FieldTransform: Any = write.DocumentTransform.FieldTransform.pb()
_REQUEST_TIME = 1  # ServerValue.REQUEST_TIME


def _timestamp(value: datetime) -> Any:
    exact = getattr(value, "timestamp_pb", None)
    if exact is not None:  # DatetimeWithNanoseconds: keep the nanoseconds preconditions need
        return exact()
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(value)
    return stamp


def encode_value(value: Any) -> Any:
    """The protobuf ``Value`` of a plain Python value."""
    if value is None:
        return _Value(null_value=0)
    if isinstance(value, bool):
        return _Value(boolean_value=value)
    if isinstance(value, int):
        return _Value(integer_value=value)
    if isinstance(value, float):
        return _Value(double_value=value)
    if isinstance(value, str):
        return _Value(string_value=value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise TypeError("naive datetimes cannot be encoded")
        return _Value(timestamp_value=_timestamp(value))
    if isinstance(value, list | tuple):
        return _Value(array_value=_ArrayValue(values=[encode_value(v) for v in value]))
    if isinstance(value, Mapping):
        return _Value(map_value=_MapValue(fields=_fields(value)))
    raise TypeError(f"cannot encode {type(value).__name__} on the fast path")


def _fields(data: Mapping[str, Any]) -> dict[str, Any]:
    return {key: encode_value(value) for key, value in data.items()}


def _split(data: Mapping[str, Any]) -> tuple[dict[str, Any], list[Any]]:
    fields: dict[str, Any] = {}
    transforms = []
    for key, value in data.items():
        if value is SERVER_TIMESTAMP:
            transforms.append(_FieldTransform(field_path=key, set_to_server_value=_REQUEST_TIME))
        else:
            fields[key] = encode_value(value)
    return fields, transforms


def _wrap(raw: Any) -> write.Write:
    wrapped: write.Write = write.Write.wrap(raw)
    return wrapped


def create_write(path: str, data: Mapping[str, Any]) -> write.Write:
    """A create-only write of ``data`` at the full document ``path``."""
    fields, transforms = _split(data)
    return _wrap(_Write(
        update=_Document(name=path, fields=fields),
        update_transforms=transforms,
        current_document=_Precondition(exists=False),
    ))


def update_write(path: str, data: Mapping[str, Any], last_update_time: datetime) -> write.Write:
    """Replace the top-level fields of ``data`` in an existing document, if unchanged since."""
    for key in data:
        if not key.isidentifier():
            raise TypeError(f"field {key!r} needs a quoted path; not on the fast path")
    fields, transforms = _split(data)
    masked = [key for key in data if data[key] is not SERVER_TIMESTAMP]
    return _wrap(_Write(
        update=_Document(name=path, fields=fields),
        update_mask=_DocumentMask(field_paths=masked),
        update_transforms=transforms,
        current_document=_Precondition(update_time=_timestamp(last_update_time)),
    ))
