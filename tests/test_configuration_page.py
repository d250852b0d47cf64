"""``docs/configuration.md`` lists every environment variable the code reads."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

import firestore_verify as fv

ROOT = Path(__file__).resolve().parent.parent
PAGE = (ROOT / "docs" / "configuration.md").read_text()
SOURCES = [ROOT / "firestore_verify", ROOT / "examples" / "bot" / "fsv_bot",
           ROOT / "examples" / "api" / "fsv_api", ROOT / "examples" / "dashboard" / "fsv_dashboard"]
VARIABLE = re.compile(r"(FSV|FV|FIREBASE|FIRESTORE|GOOGLE|TELEGRAM|JAVA)_[A-Z0-9_]*[A-Z0-9]")
SETTINGS = [
    ("firestore_verify.cache", "CacheSettings"),
    ("firestore_verify.config", "_FirebaseEnv"),
    ("firestore_verify.testing.plugin", "_PluginEnv"),
    ("fsv_bot.config", "Settings"),
    ("fsv_api.settings", "ApiSettings"),
    ("fsv_dashboard.settings", "DashboardSettings"),
]
"""Every `fv.EnvSettings` class of the library and the apps: (module, class)."""
#: Names that look like variables but are not read from the environment.
NOT_READ = {"FIRESTORE_VERIFY_BENCH", "FIREBASE_BIN_ENV_VAR"}  # a bench switch; a constant's name


def _read_variables() -> set[str]:
    """Every string constant in the sources that is a whole variable name."""
    found: set[str] = set()
    for folder in SOURCES:
        for path in folder.rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                        and VARIABLE.fullmatch(node.value):
                    found.add(node.value)
    for module, cls in SETTINGS:
        settings = getattr(importlib.import_module(module), cls)
        found |= {settings.variable(name) for name in settings.model_fields}
    return found - NOT_READ - {"FSV_CACHE"}  # the bot's nested FV_CACHE_* group


def _row(variable: str) -> str:
    rows = [line for line in PAGE.splitlines() if line.startswith(f"| `{variable}` |")]
    assert rows, f"{variable} has no row in docs/configuration.md"
    return rows[0]


def test_every_variable_the_code_reads_is_on_the_page() -> None:
    read = _read_variables()
    assert {"FIRESTORE_EMULATOR_HOST", "FSV_MODE", "FSV_REDIS_URL"} <= read, read
    missing = sorted(v for v in read if f"`{v}`" not in PAGE)
    assert not missing, f"not in docs/configuration.md: {missing}"


@pytest.mark.parametrize(("module", "cls"), SETTINGS)
def test_every_setting_is_on_the_page_with_its_default(module: str, cls: str) -> None:
    """Every `fv.EnvSettings` field of the library and the apps, with its real default."""
    settings = getattr(importlib.import_module(module), cls)
    assert issubclass(settings, fv.EnvSettings)
    for name, field in settings.model_fields.items():
        if issubclass(type(field.default), fv.EnvSettings) or field.exclude:
            continue  # a nested group of settings, listed on its own
        row = _row(settings.variable(name))
        default = field.get_default(call_default_factory=True)
        if default in (None, "", []):
            shown = ("none", "unset", "(required)", "(required for webhooks)")
            assert any(f"| {word} |" in row for word in shown), (name, row)
        else:
            text = str(default).lower() if isinstance(default, bool) else str(default)
            shown = {text, f"{default:g}"} if isinstance(default, float) else {text}
            assert any(f"| `{t}` |" in row for t in shown), (name, default, row)
