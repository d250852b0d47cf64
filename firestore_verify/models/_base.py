"""The base every stored model derives from, and the shared field types."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timezone
from enum import Enum
from typing import Annotated, Any, ClassVar

from google.cloud.firestore import SERVER_TIMESTAMP
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from typing_extensions import Self

from firestore_verify.errors import InvalidInputError

__all__ = [
    "ChatId",
    "Document",
    "InputModel",
    "JsonMap",
    "OptionalText",
    "Text",
    "UserId",
    "UtcDateTime",
    "Username",
    "invalid_input",
    "plain_value",
]

#: Largest id Firestore integers (and Telegram) can hold.
_INT64 = 2**63


def invalid_input(exc: ValidationError, what: str) -> InvalidInputError:
    """Turn a pydantic ``ValidationError`` into our typed error, one line per problem."""
    lines = []
    for err in exc.errors():
        where = ".".join(str(part) for part in err["loc"]) or "value"
        lines.append(f"{where}: {err['msg']}")
    return InvalidInputError(f"invalid {what}: " + "; ".join(lines), errors=lines)


def plain_value(value: Any) -> Any:
    """Enums become their values, recursively, so every Firestore client reads plain data."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {key: plain_value(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain_value(item) for item in value]
    return value


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(
            "naive datetime: pass a timezone-aware value, e.g. datetime.now(timezone.utc)"
        )
    as_utc = value.astimezone(timezone.utc)
    # Firestore returns DatetimeWithNanoseconds; keep plain datetimes so values compare equal.
    return datetime(
        as_utc.year, as_utc.month, as_utc.day, as_utc.hour, as_utc.minute, as_utc.second,
        as_utc.microsecond, tzinfo=timezone.utc,
    )


def _json_map(value: dict[str, Any]) -> dict[str, Any]:
    try:
        size = len(json.dumps(value, default=str))
    except (TypeError, ValueError) as exc:  # pragma: no cover - pydantic checks types first
        raise ValueError(f"must be JSON-like: {exc}") from None
    if size > 32_000:
        raise ValueError(f"is {size} bytes as JSON; keep maps under 32000 bytes")
    return value


#: A timezone-aware timestamp, normalised to UTC.
UtcDateTime = Annotated[datetime, AfterValidator(_utc)]
#: A Telegram user id (positive).
UserId = Annotated[int, Field(gt=0, lt=_INT64, description="Telegram user id (positive)")]
#: A Telegram group or channel id (negative, e.g. -1001234567890).
ChatId = Annotated[
    int, Field(lt=0, gt=-_INT64, description="Telegram chat id (negative for groups/channels)")
]
#: A non-empty, stripped text of at most 255 characters.
Text = Annotated[str, Field(min_length=1, max_length=255)]
#: Optional text of at most 255 characters.
OptionalText = Annotated[str | None, Field(default=None, max_length=255)]
#: A Telegram username without the leading ``@``.
Username = Annotated[
    str,
    Field(pattern=r"^@?[A-Za-z][A-Za-z0-9_]{3,31}$", description="Telegram username"),
    AfterValidator(lambda v: v.lstrip("@")),
]
#: A small JSON-like map (under 32 KB).
JsonMap = Annotated[dict[str, Any], AfterValidator(_json_map)]


class InputModel(BaseModel):
    """Strict input model: unknown fields are errors, text is stripped.

    Validation problems raise :class:`~firestore_verify.errors.InvalidInputError`
    (a ``ValueError``) listing every bad field.
    """

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        validate_assignment=True,
        populate_by_name=True,
    )

    def __init__(self, /, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise invalid_input(exc, type(self).__name__) from None

    # Tell pydantic this __init__ only translates errors: validation (model_validate,
    # nested models) must not call it, or our error would be wrapped into a pydantic
    # "Value error" at the top level and lose the names of the bad fields.
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]

    @classmethod
    def parse(cls, data: Mapping[str, Any] | Self) -> Self:
        """Validate ``data`` (a model or a mapping) into this model, with typed errors."""
        if isinstance(data, cls):
            return data
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise invalid_input(exc, cls.__name__) from None


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
        known = {key: value for key, value in data.items() if key in cls.model_fields}
        return cls.parse({**known, cls.id_field: document_id})
