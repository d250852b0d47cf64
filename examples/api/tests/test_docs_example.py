"""The "Admin API" docs page's example runs against the app, and prints what the page shows."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import httpx
import pytest
from conftest import World

import firestore_verify as fv

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "docs" / "examples" / "admin_api_client.py"


def shown_on_the_page() -> str:
    """The output docs/admin-api.md shows for the example (its marked text block)."""
    spec = importlib.util.spec_from_file_location("docs_snippets",
                                                  ROOT / "scripts" / "docs_snippets.py")
    assert spec is not None
    assert spec.loader is not None
    snippets = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = snippets  # its dataclasses look their module up
    spec.loader.exec_module(snippets)
    page = (ROOT / "docs" / "admin-api.md").read_text(encoding="utf-8")
    (block,) = [b for b in snippets.find_blocks(page, "output")
                if b.target == "docs/examples/admin_api_client.py"]
    content: str = block.content
    assert "signed in as admin@example.org (admin)" in content
    return content


async def test_the_client_example(api: httpx.AsyncClient, world: World, admin_store: fv.Store,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    await admin_store.groups.protect(fv.GroupInfo(id=-1001, title="Crypto Chat"),
                                     fv.OwnerInfo(id=42))
    spec = importlib.util.spec_from_file_location("admin_api_client", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = await module.main(api, world.tokens["admin"])
    assert capsys.readouterr().out == shown_on_the_page()
    assert result["audit"][0]["actor_uid"] == world.uids["admin"]
