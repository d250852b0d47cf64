"""Every public field of every public model has a docstring the API reference shows.

mkdocstrings reads the source with griffe, which sees attribute docstrings (a string
literal right after the field) and nothing else: ``#:`` comments and pydantic's
``Field(description=...)`` do not reach the reference. This test reads the package
the same way and lists every public ``Model.field`` left without one.
"""

from __future__ import annotations

import dataclasses
from functools import cache
from typing import Any

import griffe
import pytest
from pydantic import BaseModel

import firestore_verify

EXEMPT: dict[str, str] = {}
"""Models exported in ``__all__`` whose fields are not checked, with the reason (none now)."""


def _public_models() -> list[tuple[str, type[Any]]]:
    models = []
    for name in firestore_verify.__all__:
        obj = getattr(firestore_verify, name)
        if not isinstance(obj, type):
            continue
        if issubclass(obj, BaseModel) or dataclasses.is_dataclass(obj):
            models.append((name, obj))
    return models


def _field_names(model: type[Any]) -> list[str]:
    if issubclass(model, BaseModel):
        names = list(model.model_fields)
    else:
        names = [f.name for f in dataclasses.fields(model)]
    return [name for name in names if not name.startswith("_")]


def _declaring_class(model: type[Any], field: str) -> type[Any]:
    """The class of ``model``'s MRO whose body declares ``field`` (inherited fields)."""
    for klass in model.__mro__:
        if field in vars(klass).get("__annotations__", {}):
            return klass
    raise AssertionError(f"{model.__qualname__}.{field}: no class declares it")


@cache
def _package() -> griffe.Module:
    package = griffe.load("firestore_verify", resolve_aliases=False)
    assert isinstance(package, griffe.Module)
    return package


def _griffe_class(klass: type[Any]) -> griffe.Object | griffe.Alias:
    path = f"{klass.__module__}.{klass.__qualname__}"
    assert path.startswith("firestore_verify."), path
    return _package()[path.removeprefix("firestore_verify.")]


def _docstring(klass: type[Any], field: str) -> str:
    member = _griffe_class(klass).members.get(field)
    if member is None or member.docstring is None:
        return ""
    return member.docstring.value.strip()


MODELS = _public_models()


def test_models_are_found() -> None:
    names = {name for name, _ in MODELS}
    # A sample across modules: if discovery breaks, the real test would check nothing.
    assert {"Verification", "LoggerSettings", "LoggerStats", "LoggerHealth", "CacheSettings",
            "Stats", "Report", "Principal", "BrowserDocument"} <= names
    assert set(EXEMPT) <= names, "EXEMPT names a class that is not an exported model"


def test_every_public_field_has_a_docstring() -> None:
    missing = []
    for name, model in MODELS:
        if name in EXEMPT:
            continue
        for field in _field_names(model):
            if not _docstring(_declaring_class(model, field), field):
                missing.append(f"{name}.{field}")
    assert not missing, (
        f"{len(missing)} public model fields have no attribute docstring (a string literal on "
        "the line after the field), so the API reference shows them bare:\n  "
        + "\n  ".join(missing))


@pytest.mark.parametrize(("name", "model"), MODELS, ids=[name for name, _ in MODELS])
def test_declaring_class_is_in_griffe(name: str, model: type[Any]) -> None:
    # The check above looks fields up by path; a path griffe cannot find is a bug here.
    for field in _field_names(model):
        klass = _declaring_class(model, field)
        assert field in _griffe_class(klass).members, f"{name}.{field} ({klass.__qualname__})"


def test_every_public_name_is_in_the_reference() -> None:
    """Each name of ``firestore_verify.__all__`` defined by the package is rendered by a
    ``::: module`` directive of docs/reference.md (and is in its ``members`` list, if any)."""
    import re
    from pathlib import Path

    page = (Path(__file__).resolve().parent.parent / "docs" / "reference.md").read_text()
    directives: dict[str, list[str] | None] = {}
    for block in re.split(r"\n(?=::: )", page):
        match = re.match(r"::: (\S+)", block)
        if match:
            members = re.search(r"members:\n((?:\s+- \w+\n?)+)", block)
            directives[match.group(1)] = (
                re.findall(r"- (\w+)", members.group(1)) if members else None)
    missing = []
    for name in firestore_verify.__all__:
        module = getattr(getattr(firestore_verify, name), "__module__", "")
        if not module.startswith("firestore_verify"):
            continue  # an alias of a typing construct; its module documents it
        if module not in directives:
            missing.append(f"{name} ({module})")
        elif directives[module] is not None and name not in (directives[module] or []):
            missing.append(f"{name} (not in the members of {module})")
    assert not missing, f"not in docs/reference.md: {missing}"
