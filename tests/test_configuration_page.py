"""``docs/configuration.md`` lists every environment variable the code reads."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGE = (ROOT / "docs" / "configuration.md").read_text()
SOURCES = [ROOT / "firestore_verify", ROOT / "examples" / "bot" / "fsv_bot",
           ROOT / "examples" / "api" / "fsv_api", ROOT / "examples" / "dashboard" / "fsv_dashboard"]
VARIABLE = re.compile(r"(FSV|FV|FIREBASE|FIRESTORE|GOOGLE|TELEGRAM|JAVA)_[A-Z0-9_]*[A-Z0-9]")
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
    return found - NOT_READ


def _row(variable: str) -> str:
    rows = [line for line in PAGE.splitlines() if line.startswith(f"| `{variable}` |")]
    assert rows, f"{variable} has no row in docs/configuration.md"
    return rows[0]


def test_every_variable_the_code_reads_is_on_the_page() -> None:
    read = _read_variables()
    assert {"FIRESTORE_EMULATOR_HOST", "FSV_MODE", "FSV_REDIS_URL"} <= read, read
    missing = sorted(v for v in read if f"`{v}`" not in PAGE)
    assert not missing, f"not in docs/configuration.md: {missing}"


@pytest.mark.parametrize(("module", "cls", "prefix"), [
    ("fsv_api.settings", "ApiSettings", "FSV_API_"),
    ("fsv_dashboard.settings", "DashboardSettings", "FSV_DASHBOARD_"),
])
def test_every_app_setting_is_on_the_page_with_its_default(module: str, cls: str,
                                                            prefix: str) -> None:
    import importlib

    settings = getattr(importlib.import_module(module), cls)
    for name, field in settings.model_fields.items():
        row = _row(f"{prefix}{name.upper()}")
        default = field.get_default(call_default_factory=True)
        if default in (None, "", []):
            shown = ("none", "unset")
            assert any(f"| {word} |" in row for word in shown), (name, row)
        else:
            text = str(default).lower() if isinstance(default, bool) else str(default)
            assert f"| `{text}` |" in row, (name, default, row)
