"""The base every stored model derives from, and the shared field types."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime, timezone
from enum import Enum
from typing import Annotated, Any, ClassVar

from google.cloud.firestore import SERVER_TIMESTAMP, GeoPoint
from google.cloud.firestore_v1.base_document import BaseDocumentReference
from google.cloud.firestore_v1.vector import Vector
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from typing_extensions import Self

from firestore_verify.errors import InvalidInputError

__all__ = [
    "MAX_DEPTH",
    "ChatId",
    "Count",
    "Document",
    "DocumentKey",
    "InputModel",
    "TypedErrorsModel",
    "JsonMap",
    "OptionalText",
    "StoredValue",
    "Text",
    "UserId",
    "UtcDateTime",
    "Username",
    "check_document_id",
    "check_storable",
    "invalid_input",
    "plain_value",
]

_INT64 = 2**63
"""Largest id Firestore integers (and Telegram) can hold."""
MAX_DEPTH = 20
"""Deepest nesting of maps and arrays accepted in one value (Firestore's limit is 20)."""
_RESERVED = re.compile(r"^__.*__$", re.DOTALL)
"""Names Firestore reserves, for document ids and map keys alike."""
_NATIVE = (bytes, datetime, GeoPoint, BaseDocumentReference, Vector)
"""Values Firestore stores as they are, besides the JSON ones (reads hand them back)."""


def invalid_input(exc: ValidationError, what: str) -> InvalidInputError:
    """Turn a pydantic ``ValidationError`` into our typed error, one line per problem."""
    lines = []
    for err in exc.errors():
        where = ".".join(str(part) for part in err["loc"]) or "value"
        lines.append(f"{where}: {err['msg']}")
    return InvalidInputError(f"invalid {what}: " + "; ".join(lines), errors=lines)


def _too_deep(what: str) -> InvalidInputError:
    # Validators that repr a bad value (enum lookups do) overflow the stack on values
    # nested thousands deep: that is the input's fault, so it is the input's error.
    return InvalidInputError(f"invalid {what}: a value is nested too deeply to validate",
                             errors=["value: nested too deeply"])


def plain_value(value: Any) -> Any:
    """Enums become their values, recursively, so every Firestore client reads plain data."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {key: plain_value(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain_value(item) for item in value]
    return value


def check_document_id(value: str) -> str:
    """Return ``value`` if Firestore accepts it as a document id; else raise ``ValueError``."""
    if value in (".", "..") or _RESERVED.match(value):
        raise ValueError(
            f"{value!r} is reserved by Firestore: '.', '..' and ids like __name__ "
            "cannot be document ids"
        )
    return value


def _at(where: str, problem: str) -> str:
    return f"{where}: {problem}" if where else problem


def _child(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def _check_text(text: str, where: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(_at(where, "text with a lone surrogate is not valid UTF-8")) from None


def check_storable(value: Any, where: str = "", *, _depth: int = 0,
                   _in_array: bool = False) -> None:
    """Raise ``ValueError`` (naming ``where``, a field path) unless Firestore can store ``value``.

    Accepted: ``None``, booleans, 64-bit integers, floats, UTF-8 text, bytes,
    datetimes, Firestore's own types (geo points, references, vectors), enums
    of those, lists (not directly inside lists) and maps with text keys that
    are non-empty and not reserved (``__name__``), nested at most
    `MAX_DEPTH` levels. Sizes are not checked here.
    """
    if isinstance(value, Enum):
        value = value.value
    if value is None or isinstance(value, (bool, float, *_NATIVE)):
        return
    if isinstance(value, int):
        if not -_INT64 <= value < _INT64:
            raise ValueError(_at(where, f"integer {value} does not fit in 64 bits"))
        return
    if isinstance(value, str):
        _check_text(value, where)
        return
    if isinstance(value, (list, tuple, dict)) and _depth >= MAX_DEPTH:
        raise ValueError(_at(where, f"nested deeper than {MAX_DEPTH} levels of maps and arrays"))
    if isinstance(value, (list, tuple)):
        if _in_array:
            raise ValueError(_at(where, "Firestore cannot store an array directly inside "
                                        "an array"))
        for index, item in enumerate(value):
            check_storable(item, f"{where}[{index}]", _depth=_depth + 1, _in_array=True)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str) or not key or _RESERVED.match(key):
                raise ValueError(_at(where, "map keys must be non-empty text and not reserved "
                                            f"(like __name__), not {key!r}"))
            _check_text(key, _child(where, "key"))
            check_storable(item, _child(where, key), _depth=_depth + 1)
        return
    raise ValueError(_at(where, f"{type(value).__name__} values cannot be stored in Firestore"))


def _storable(value: Any) -> Any:
    check_storable(value)
    return value


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(
            "naive datetime: pass a timezone-aware value, e.g. datetime.now(timezone.utc)"
        )
    try:
        as_utc = value.astimezone(timezone.utc)
    except OverflowError:
        # datetime.max in UTC-5 is past 9999-12-31 in UTC: no datetime can hold it.
        raise ValueError("out of range once converted to UTC (years 1 to 9999)") from None
    # Firestore returns DatetimeWithNanoseconds; keep plain datetimes so values compare equal.
    return datetime(
        as_utc.year, as_utc.month, as_utc.day, as_utc.hour, as_utc.minute, as_utc.second,
        as_utc.microsecond, tzinfo=timezone.utc,
    )


def _json_map(value: dict[str, Any]) -> dict[str, Any]:
    check_storable(value)
    try:
        size = len(json.dumps(value, default=str))
    except (TypeError, ValueError) as exc:  # pragma: no cover - check_storable vets types
        raise ValueError(f"must be JSON-like: {exc}") from None
    if size > 32_000:
        raise ValueError(f"is {size} bytes as JSON; keep maps under 32000 bytes")
    return value


UtcDateTime = Annotated[datetime, AfterValidator(_utc)]
"""A timezone-aware timestamp, normalised to UTC."""
UserId = Annotated[int, Field(gt=0, lt=_INT64, description="Telegram user id (positive)")]
"""A Telegram user id (positive)."""
Count = Annotated[int, Field(ge=0, lt=_INT64)]
"""A count stored in Firestore: not negative, and a 64-bit integer."""
DocumentKey = Annotated[
    str,
    Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$"),
    AfterValidator(check_document_id),
]
"""A text document id: ``A-Z a-z 0-9 _ . : -``, not one of Firestore's reserved ids."""
StoredValue = Annotated[Any, AfterValidator(_storable)]
"""Any value Firestore can store (see `check_storable()`)."""
ChatId = Annotated[
    int, Field(lt=0, gt=-_INT64, description="Telegram chat id (negative for groups/channels)")
]
"""A Telegram group or channel id (negative, e.g. -1001234567890)."""
Text = Annotated[str, Field(min_length=1, max_length=255)]
"""A non-empty, stripped text of at most 255 characters."""
OptionalText = Annotated[str | None, Field(default=None, max_length=255)]
"""Optional text of at most 255 characters."""
Username = Annotated[
    str,
    Field(pattern=r"^@?[A-Za-z][A-Za-z0-9_]{3,31}$", description="Telegram username"),
    AfterValidator(lambda v: v.lstrip("@")),
]
"""A Telegram username without the leading ``@``."""
JsonMap = Annotated[dict[str, Any], AfterValidator(_json_map)]
"""A small JSON-like map (under 32 KB)."""


class TypedErrorsModel(BaseModel):
    """A pydantic model whose invalid input raises ``InvalidInputError``, never pydantic's error.

    The one place where a construction error is translated: every public model
    and settings class of the library derives from it.
    """

    def __init__(self, /, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise invalid_input(exc, type(self).__name__) from None
        except RecursionError:
            raise _too_deep(type(self).__name__) from None

    # Tell pydantic this __init__ only translates errors: validation (model_validate,
    # nested models) must not call it, or our error would be wrapped into a pydantic
    # "Value error" at the top level and lose the names of the bad fields.
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]


class InputModel(TypedErrorsModel):
    """Strict input model: unknown fields are errors, text is stripped.

    Validation problems raise `InvalidInputError`
    (a ``ValueError``) listing every bad field.
    """

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        validate_assignment=True,
        populate_by_name=True,
    )


    def __setattr__(self, name: str, value: Any) -> None:
        """Assign a field, validated (``validate_assignment``), with typed errors."""
        try:
            super().__setattr__(name, value)
        except ValidationError as exc:
            raise invalid_input(exc, type(self).__name__) from None
        except RecursionError:
            raise _too_deep(type(self).__name__) from None

    @classmethod
    def parse(cls, data: Mapping[str, Any] | Self) -> Self:
        """Validate ``data`` (a model or a mapping) into this model, with typed errors."""
        if isinstance(data, cls):
            return data
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise invalid_input(exc, cls.__name__) from None
        except RecursionError:
            raise _too_deep(cls.__name__) from None


class Document(InputModel):
    """A model stored as one Firestore document.

    The id field (``id_field``) becomes the document id and is not stored in
    the document. Timestamp fields listed in ``server_timestamps`` that are
    ``None`` are written as Firestore server timestamps.
    """

    collection: ClassVar[str]
    id_field: ClassVar[str] = "id"
    server_timestamps: ClassVar[tuple[str, ...]] = ()

    def document_id(self) -> str:
        """The Firestore document id of this model."""
        return str(getattr(self, self.id_field))

    def to_document(self) -> dict[str, Any]:
        """The Firestore document for this model (id excluded, server timestamps filled)."""
        data: dict[str, Any] = plain_value(self.model_dump(mode="python", exclude={self.id_field}))
        for name in self.server_timestamps:
            if data.get(name) is None:
                data[name] = SERVER_TIMESTAMP
        return data

    @classmethod
    def from_document(cls, document_id: str, data: Mapping[str, Any]) -> Self:
        """Build the model from a Firestore document id and its data.

        Fields this version does not know (written by a newer client) are ignored
        here and left untouched in Firestore, since updates write only named fields.
        """
        if not isinstance(data, Mapping):
            raise InvalidInputError(
                f"invalid {cls.__name__}: document data must be a mapping, not "
                f"{type(data).__name__}", errors=["value: not a mapping"])
        known = {key: value for key, value in data.items() if key in cls.model_fields}
        return cls.parse({**known, cls.id_field: document_id})
