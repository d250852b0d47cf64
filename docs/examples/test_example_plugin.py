import pytest

import firestore_verify as fv

pytestmark = pytest.mark.anyio  # run every async test of this module with anyio


async def test_write_and_read_back(store: fv.Store) -> None:
    ref = store.collection("owners").document("42")
    await ref.set({"username": "alice"})

    snapshot = await ref.get()
    assert snapshot.to_dict() == {"username": "alice"}


async def test_every_test_starts_empty(store: fv.Store) -> None:
    # A fresh project per test: nothing written by another test is visible here.
    owners = [doc async for doc in store.collection("owners").stream()]
    assert owners == []


def test_project_ids_are_unique(firestore_project: str) -> None:
    assert firestore_project.startswith("test-")
