import pytest

import firestore_verify as fv
from firestore_verify.testing import FirestoreEmulator

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


async def test_a_second_store(store: fv.Store, firestore_emulator: FirestoreEmulator) -> None:
    # Another project on the same emulator: the two stores never see each other.
    other_project = f"{store.project}-b"
    async with await fv.connect(
        project=other_project, emulator_host=firestore_emulator.host
    ) as other:
        await other.collection("owners").document("42").set({"username": "bob"})
        assert not (await store.collection("owners").document("42").get()).exists
    firestore_emulator.wipe(other_project)


def test_project_ids_are_unique(firestore_project: str) -> None:
    assert firestore_project.startswith("test-")
