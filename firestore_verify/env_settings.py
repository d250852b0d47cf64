"""One way to read settings from the environment: pydantic-settings, with plain errors.

`EnvSettings` is a pydantic-settings ``BaseSettings`` that reads the environment
only when asked to (`EnvSettings.from_env`), from ``os.environ`` or from any
mapping a test passes, and turns every invalid value into one line naming the
variable, in a `ConfigurationError`::

    class BotSettings(fv.EnvSettings):
        model_config = fv.EnvSettings.config(env_prefix="MYBOT_")

        port: int = Field(default=8080, ge=1, le=65535)
        \"\"\"Port the webhook listens on (``MYBOT_PORT``).\"\"\"

    BotSettings.from_env({"MYBOT_PORT": "http"})
    # ConfigurationError: MYBOT_PORT must be an integer, got 'http'

Building one in code (``BotSettings(port=8443)``) reads no environment at all,
so tests and libraries get exactly the values they pass.
"""

from __future__ import annotations

import os
import typing
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, ClassVar, Literal

import annotated_types
from pydantic import AliasChoices, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from typing_extensions import Self

from firestore_verify.errors import ConfigurationError

__all__ = ["EnvSettings"]

_READING: ContextVar[Mapping[str, str] | None] = ContextVar("fv_env_settings_reading",
                                                             default=None)
"""The environment `EnvSettings.from_env` is reading now; ``None`` outside it."""
_PARSE_ERRORS = {"int_parsing", "int_type", "int_from_float", "float_parsing", "float_type",
                 "bool_parsing", "bool_type"}
_RANGE_ERRORS = {"greater_than", "greater_than_equal", "less_than", "less_than_equal",
                 "finite_number"}


class EnvSettings(BaseSettings):
    """Settings read from environment variables by `from_env`, with plain errors.

    Invalid values raise `ConfigurationError`, one problem per variable. Subclass
    it as any pydantic-settings class: ``env_prefix`` names the variables
    (``FSV_API_`` + ``PORT``), a string ``validation_alias`` names one directly.
    Empty variables count as unset. Constructing an instance directly reads no
    environment; invalid arguments raise `ConfigurationError` naming the field.
    """

    model_config = SettingsConfigDict(extra="ignore", frozen=True, env_ignore_empty=True,
                                      populate_by_name=True, use_attribute_docstrings=True)

    config: ClassVar = SettingsConfigDict
    """Shorthand for ``pydantic_settings.SettingsConfigDict``, for subclasses' ``model_config``."""

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            problems = _problems(type(self), exc, by_variable=reading_env())
            raise ConfigurationError(_summary(problems), problems=problems) from None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **values: Any) -> Self:
        """Read the settings from ``env`` (``os.environ`` when omitted).

        Unset variables keep their defaults; ``values`` win over the environment.
        Raises `ConfigurationError` whose ``problems`` name every invalid variable
        at once.
        """
        with _reading(os.environ if env is None else env):
            return cls(**values)

    @classmethod
    def variable(cls, field: str) -> str:
        """The environment variable that sets ``field``."""
        alias = cls.model_fields[field].validation_alias
        if isinstance(alias, AliasChoices) and alias.choices:
            return str(alias.choices[0]).upper()
        if isinstance(alias, str):
            return alias.upper()
        return f"{cls.model_config.get('env_prefix', '')}{field}".upper()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Arguments only, or arguments then the environment `from_env` reads."""
        env = _READING.get()
        if env is None or not isinstance(env_settings, EnvSettingsSource):
            return (init_settings,)
        ignore_empty = bool(settings_cls.model_config.get("env_ignore_empty"))
        env_settings.env_vars = {
            name.lower(): value for name, value in env.items()
            if not (ignore_empty and not value.strip())
        }
        return init_settings, env_settings


def reading_env() -> bool:
    """Whether an `EnvSettings.from_env` is validating now (its values are text)."""
    return _READING.get() is not None


@contextmanager
def _reading(env: Mapping[str, str]) -> Iterator[None]:
    token = _READING.set(env)
    try:
        yield
    finally:
        _READING.reset(token)


def _summary(problems: list[str]) -> str:
    if len(problems) == 1:
        return problems[0]
    return "invalid settings:\n" + "\n".join(f"  - {p}" for p in problems)


def _problems(cls: type[EnvSettings], exc: ValidationError, *, by_variable: bool) -> list[str]:
    """One line per error of ``exc``, naming the variable (or the field)."""
    fields: dict[str, str] = {}  # every name an error's location may use -> the field
    for name, info in cls.model_fields.items():
        fields[name] = name
        if isinstance(info.validation_alias, str):
            fields[info.validation_alias] = fields[info.validation_alias.lower()] = name
    lines = []
    for error in exc.errors(include_url=False):
        key = str(error["loc"][0]) if error["loc"] else ""
        field = fields.get(key)
        if field is None:
            lines.append(_problem(key or cls.__name__, error, None))
        else:
            shown = cls.variable(field) if by_variable else field
            lines.append(_problem(shown, error, cls.model_fields[field]))
    return lines


def _problem(name: str, error: Any, info: FieldInfo | None) -> str:
    kind: str = error["type"]
    if kind == "missing":
        return f"{name} is not set"
    if kind in ("value_error", "assertion_error"):
        return f"{name} {error['ctx']['error']}".rstrip()
    given = _shown(error.get("input"))
    if kind == "literal_error":
        return f"{name} must be one of {error['ctx']['expected']}, got {given}"
    if info is not None and kind in _PARSE_ERRORS:
        return f"{name} must be {_kind_of(info, parsing=True)}, got {given}"
    if info is not None and kind in _RANGE_ERRORS:
        return f"{name} must be {_kind_of(info, parsing=False)}{_bounds(info)}, got {given}"
    return f"{name}: {error['msg']}, got {given}"


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _kind_of(info: FieldInfo, *, parsing: bool) -> str:
    """"an integer", "a number"... for the field's type (``None`` left out)."""
    kinds = [t for t in typing.get_args(info.annotation) or (info.annotation,)
             if t is not type(None)]
    kind = kinds[0] if kinds else None
    if kind is bool:
        return "true or false (1/0, yes/no, on/off)"
    if kind is int:
        return "an integer"
    if kind is float:
        return "a number" if parsing else "a finite number"
    if typing.get_origin(kind) is Literal:
        return "one of " + ", ".join(map(str, typing.get_args(kind)))
    return f"a valid {getattr(kind, '__name__', kind)}"


def _bounds(info: FieldInfo) -> str:
    """`` between 1 and 10``, `` in [0, 1)``, `` >= 0``... from the field's constraints."""
    low: object = None
    high: object = None
    low_open = high_open = False
    for item in info.metadata:
        if isinstance(item, annotated_types.Ge):
            low = item.ge
        elif isinstance(item, annotated_types.Gt):
            low, low_open = item.gt, True
        elif isinstance(item, annotated_types.Le):
            high = item.le
        elif isinstance(item, annotated_types.Lt):
            high, high_open = item.lt, True
    if low is not None and high is not None:
        if not low_open and not high_open:
            return f" between {low} and {high}"
        return f" in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
    if low is not None:
        return f" {'>' if low_open else '>='} {low}"
    if high is not None:
        return f" {'<' if high_open else '<='} {high}"
    return ""
