"""The bot's runtime configuration: typed, validated, audited, live.

Settings an admin edits from a dashboard (message templates, rate limits,
membership cache TTLs, the log level, the webhook secret) are stored in
``admin_config``, one `ConfigEntry` per dotted key
(``cache.positive_ttl``), so any Firestore client reads them as plain values.
`BotConfig` is their typed view; `BotConfigRepository` reads,
changes and watches them::

    config = BotConfigRepository(store)
    schema = config.schema()                 # for the dashboard's form
    values = await config.get()              # {"cache.positive_ttl": 600.0, ...}, secrets masked
    await config.update({"cache.negative_ttl": 30}, actor=Actor(uid="admin-1"))
    async with config.watch() as live:       # a new BotConfig after every change
        async for current in live:
            cache.settings = current.cache_settings(cache.settings)

An update is validated whole before anything is written (one
`InvalidInputError` lists every bad key), then
every changed key and its audit entry commit in one transaction. Sensitive
values read as `MASK`, in reads and
in audit entries; sending the mask back means "keep the current value".
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, Literal

import annotated_types
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from firestore_verify.cache import CacheSettings, _bounded
from firestore_verify.errors import InvalidInputError
from firestore_verify.models._base import TypedErrorsModel
from firestore_verify.repositories.admin import MASK

if TYPE_CHECKING:
    pass

__all__ = [
    "DEFAULT_WARNING_TEMPLATE",
    "PLACEHOLDERS",
    "BotConfig",
    "CacheConfig",
    "ConfigField",
    "CONFIG_KEYS",
    "SCHEMA",
    "SENSITIVE_KEYS",
    "ConfigSchema",
    "LoggingConfig",
    "MessageConfig",
    "RateLimitConfig",
    "WebhookConfig",
]


DEFAULT_WARNING_TEMPLATE = (
    "{user}, to write in {group} please join {channels} first, "
    "then press \u201cI have joined\u201d."
)
"""The warning a bot sends when neither the group nor the config sets one."""
PLACEHOLDERS = ("{user}", "{group}", "{channels}")
"""The placeholders a warning template may use."""
_PLACEHOLDER = re.compile(r"\{[^{}]*\}")


def _template(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    unknown = sorted(set(_PLACEHOLDER.findall(value)) - set(PLACEHOLDERS))
    if unknown:
        raise ValueError(f"unknown placeholder(s) {', '.join(unknown)}; "
                         f"use {', '.join(PLACEHOLDERS)}")
    return value


def _extra(*, sensitive: bool = False, live: bool = True) -> dict[str, Any]:
    return {"sensitive": sensitive, "live": live}


def _cache_field(name: str, description: str) -> Any:
    """A pydantic Field with `CacheSettings`' default and range for ``name``."""
    return _bounded(name, CacheSettings.model_fields[name].default,
                    description=description, json_schema_extra=_extra())


class _Section(TypedErrorsModel):
    """A frozen, strict config model whose invalid input is an ``InvalidInputError``."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class MessageConfig(_Section):
    """Texts the bot sends."""

    warning_template: Annotated[str, Field(min_length=1, max_length=1000),
                                AfterValidator(_template)] = Field(
        default=DEFAULT_WARNING_TEMPLATE, json_schema_extra=_extra(),
        description="Warning for users who have not joined, in groups without their own: "
                    "{user}, {group} and {channels} are filled in.")
    """Warning for users who have not joined, in groups without their own:
    ``{user}``, ``{group}`` and ``{channels}`` are filled in (1-1000 characters,
    no other placeholder; default `DEFAULT_WARNING_TEMPLATE`).
    """
    verified_text: Annotated[str, Field(min_length=1, max_length=200)] = Field(
        default="Verified, you can write now.", json_schema_extra=_extra(),
        description="Answer to \u201cI have joined\u201d once the user is verified.")
    """Answer to "I have joined" once the user is verified (1-200 characters)."""


class RateLimitConfig(_Section):
    """How fast the bot may call Telegram."""

    moderation_per_second: float | None = Field(
        default=None, gt=0, le=1000, json_schema_extra=_extra(),
        description="Most moderation calls (delete, mute, warn) per second; unset: no limit "
                    "but Telegram's flood control, which the bot honours.")
    """Most moderation calls (delete, mute, warn) per second, in ``(0, 1000]``;
    ``None``: no limit but Telegram's flood control.
    """


class CacheConfig(_Section):
    """The membership cache (the ranges are `CacheSettings`')."""

    positive_ttl: float = _cache_field(
        "positive_ttl", "Seconds a \u201cis a member\u201d answer is kept (0: not cached).")
    """Seconds a "is a member" answer is kept, at least 0 (0: not cached; default 600)."""
    negative_ttl: float = _cache_field(
        "negative_ttl", "Seconds a \u201cis not a member\u201d answer is kept (0: not cached).")
    """Seconds a "is not a member" answer is kept, at least 0 (0: not cached; default 60)."""
    jitter: float = _cache_field(
        "jitter", "Relative spread of each entry's TTL (0.15 = \u00b115 %), below 1.")
    """Relative spread of each entry's TTL, in ``[0, 1)`` (default 0.15 = ±15 %)."""
    max_entries: int = _cache_field(
        "max_entries", "Most answers kept; the least recently used go first.")
    """Most answers kept, at least 1 (default 100,000); the least recently used go first."""


class LoggingConfig(_Section):
    """The bot's own logging."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] | None = Field(
        default=None, json_schema_extra=_extra(),
        description="Log level of the bot's process; unset: the level it was started with.")
    """Log level of the bot's process (``DEBUG``, ``INFO``, ``WARNING``, ``ERROR``);
    ``None``: the level it was started with.
    """


_SECRET = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,256}$")]


class WebhookConfig(_Section):
    """Receiving updates by webhook."""

    secret: _SECRET | None = Field(
        default=None, json_schema_extra=_extra(sensitive=True, live=False),
        description="Telegram's X-Telegram-Bot-Api-Secret-Token for the webhook "
                    "(1-256 of A-Z a-z 0-9 _ -); applied when the bot starts.")
    """Telegram's ``X-Telegram-Bot-Api-Secret-Token`` for the webhook (1-256 of
    ``A-Z a-z 0-9 _ -``), or ``None``; sensitive, applied when the bot starts.
    """


class BotConfig(_Section):
    """Every runtime setting of the bot, defaults filled in.

    `explicit` tells which keys are stored (the rest are defaults), so
    an app can let settings it got elsewhere (the environment) stand until an
    admin sets them.
    """

    messages: MessageConfig = Field(default_factory=MessageConfig)
    """Texts the bot sends."""
    rate_limits: RateLimitConfig = Field(default_factory=RateLimitConfig)
    """How fast the bot may call Telegram."""
    cache: CacheConfig = Field(default_factory=CacheConfig)
    """The membership cache."""
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    """The bot's own logging."""
    webhook: WebhookConfig = Field(default_factory=WebhookConfig)
    """Receiving updates by webhook."""

    _explicit: frozenset[str] = PrivateAttr(default=frozenset())

    @property
    def explicit(self) -> frozenset[str]:
        """The dotted keys that have a stored value."""
        return self._explicit

    def flat(self) -> dict[str, Any]:
        """Every value by dotted key (``cache.positive_ttl``), unmasked."""
        return {key: getattr(getattr(self, section), name)
                for key, (section, name) in _KEYS.items()}

    def cache_settings(self, base: CacheSettings | None = None) -> CacheSettings:
        """``base`` (default: `CacheSettings`' defaults) with the stored cache keys."""
        base = base or CacheSettings()
        stored = {name: getattr(self.cache, name) for key, (section, name) in _KEYS.items()
                  if section == "cache" and key in self._explicit}
        return CacheSettings(**{**base.model_dump(), **stored})

    @classmethod
    def from_flat(cls, values: Mapping[str, Any]) -> BotConfig:
        """Build from dotted keys (missing ones take their defaults).

        Raises:
            InvalidInputError: naming every unknown key and invalid value.

        """
        problems = [f"{key}: unknown setting" for key in sorted(set(values) - set(_KEYS))]
        nested: dict[str, dict[str, Any]] = {}
        for key, value in values.items():
            if key in _KEYS:
                section, name = _KEYS[key]
                nested.setdefault(section, {})[name] = value
        try:
            config = cls.model_validate(nested)
        except ValidationError as exc:
            problems += [f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
                         for err in exc.errors()]
            config = None
        if problems or config is None:
            raise InvalidInputError("invalid bot config: " + "; ".join(problems),
                                    errors=problems)
        config._explicit = frozenset(values)
        return config


_KEYS: dict[str, tuple[str, str]] = {
    f"{section}.{name}": (section, name)
    for section, info in BotConfig.model_fields.items()
    for name in (info.annotation.model_fields if isinstance(info.annotation, type) else {})
}
"""dotted key -> (section, field), in schema order."""
SENSITIVE_KEYS = frozenset(
    key for key, (section, name) in _KEYS.items()
    if (BotConfig.model_fields[section].annotation.model_fields[name]  # type: ignore[union-attr]
        .json_schema_extra or {}).get("sensitive"))
"""The dotted keys whose values are secrets: masked on read, kept when sent masked."""


class ConfigField(BaseModel):
    """How a UI shows and checks one setting."""

    model_config = ConfigDict(frozen=True)

    key: str
    """The dotted key, e.g. ``cache.positive_ttl``."""
    type: Literal["string", "number", "integer", "boolean", "choice"]
    """``string``, ``number``, ``integer``, ``boolean`` or ``choice``."""
    default: Any = None
    """The value when none is stored."""
    nullable: bool = False
    """Whether the value may be unset (``null``)."""
    minimum: float | None = None
    """Lowest allowed value (inclusive)."""
    exclusive_minimum: float | None = None
    """Lowest allowed value (exclusive)."""
    maximum: float | None = None
    """Highest allowed value (inclusive)."""
    exclusive_maximum: float | None = None
    """Highest allowed value (exclusive)."""
    min_length: int | None = None
    """Shortest allowed text."""
    max_length: int | None = None
    """Longest allowed text."""
    pattern: str | None = None
    """A regular expression the text must match."""
    choices: list[str] | None = None
    """The allowed values of a ``choice``."""
    description: str = ""
    """What the setting does."""
    sensitive: bool = False
    """A secret: read as the mask, audited as the mask; send the mask back to keep it."""
    live: bool = True
    """Whether a running bot applies it without a restart."""


class ConfigSchema(BaseModel):
    """Every setting a UI may edit, in display order."""

    model_config = ConfigDict(frozen=True)

    settings: list[ConfigField]
    """The settings."""
    mask: str = MASK
    """What a sensitive value that is set reads as."""


def _describe(key: str) -> ConfigField:
    section, name = _KEYS[key]
    model: Any = BotConfig.model_fields[section].annotation
    info = model.model_fields[name]
    args = getattr(info.annotation, "__args__", ())
    nullable = type(None) in args
    inner = next((a for a in args if a is not type(None)), info.annotation)
    spec: dict[str, Any] = {}
    literal = getattr(inner, "__origin__", None) is Literal
    if literal:
        spec["type"], spec["choices"] = "choice", list(inner.__args__)
    else:
        base = getattr(inner, "__origin__", inner)
        spec["type"] = {bool: "boolean", int: "integer", float: "number"}.get(base, "string")
    metadata = list(info.metadata)
    for arg in getattr(inner, "__metadata__", ()):
        metadata += getattr(arg, "metadata", [arg])
    for item in metadata:
        if isinstance(item, annotated_types.Ge):
            spec["minimum"] = item.ge
        elif isinstance(item, annotated_types.Gt):
            spec["exclusive_minimum"] = item.gt
        elif isinstance(item, annotated_types.Le):
            spec["maximum"] = item.le
        elif isinstance(item, annotated_types.Lt):
            spec["exclusive_maximum"] = item.lt
        elif isinstance(item, annotated_types.MinLen):
            spec["min_length"] = item.min_length
        elif isinstance(item, annotated_types.MaxLen):
            spec["max_length"] = item.max_length
        elif getattr(item, "pattern", None) is not None:
            spec["pattern"] = item.pattern
    extra = info.json_schema_extra or {}
    return ConfigField(key=key, default=info.get_default(call_default_factory=True),
                       nullable=nullable, description=info.description or "",
                       sensitive=bool(extra.get("sensitive")), live=bool(extra.get("live", True)),
                       **spec)


SCHEMA = ConfigSchema(settings=[_describe(key) for key in _KEYS])
"""Every setting: type, default, bounds, description, sensitivity."""
CONFIG_KEYS: tuple[str, ...] = tuple(_KEYS)
"""Every setting's dotted key (``section.name``), in schema order."""
