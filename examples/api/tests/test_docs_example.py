"""The "Admin API" docs page's example runs against the app, and prints what the page shows."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import httpx
import pytest
from conftest import World

import firestore_verify as fv

pytestmark = pytest.mark.anyio

EXAMPLE = Path(__file__).resolve().parents[3] / "docs" / "examples" / "admin_api_client.py"


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
    assert capsys.readouterr().out.splitlines() == [
        "signed in as admin@example.org (admin)",
        "1 protected groups, 0 verifications today",
        "groups: ['Crypto Chat']",
        "disabled: True",
        "audit: ['group.disable']",
        "404 application/problem+json Not found",
    ]
    assert result["audit"][0]["actor_uid"] == world.uids["admin"]
