"""``docs/cli.md`` is the parser's own help: regenerated here and compared."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_cli_reference_is_current() -> None:
    spec = importlib.util.spec_from_file_location("cli_reference",
                                                  ROOT / "scripts" / "cli_reference.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    page = (ROOT / "docs" / "cli.md").read_text()
    stale = "docs/cli.md is out of date: run python scripts/cli_reference.py"
    assert page == module.render(), stale
    for command in ("migrate", "check", "admins", "admins add", "rules", "indexes"):
        assert f"`firestore-verify {command}`" in page
