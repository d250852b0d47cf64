"""Every code example of the docs runs against the emulator."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

import firestore_verify as fv

pytestmark = pytest.mark.anyio
EXAMPLES = Path(__file__).resolve().parent.parent / "docs" / "examples"
# Modules with `async def main(store)`; pytest files in docs/examples run on their own.
MAIN_EXAMPLES = sorted(
    p for p in EXAMPLES.glob("*.py")
    if not p.name.startswith(("test_", "conftest")) and "async def main(store" in p.read_text()
)


def load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"docs_example_{path.stem}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_examples_are_found() -> None:
    assert {p.stem for p in MAIN_EXAMPLES} >= {"log_verifications", "analytics_summary",
                                               "live_totals"}


@pytest.mark.parametrize("path", MAIN_EXAMPLES, ids=lambda p: p.stem)
async def test_example_runs(path: Path, store: fv.Store) -> None:
    await load(path).main(store)
