"""Run the Cloud Firestore emulator without pytest (scripts, other test runners)."""

from __future__ import annotations

from typing import Any

import anyio

import firestore_verify as fv
from firestore_verify.testing import FirestoreEmulator


async def write_and_read(emulator_host: str) -> dict[str, Any] | None:
    async with await fv.connect(project="demo-project", emulator_host=emulator_host) as store:
        ref = store.collection("owners").document("42")
        await ref.set({"username": "alice"})
        return (await ref.get()).to_dict()


# --8<-- [start:standalone]
def main() -> None:
    # Finds the jar and Java, starts the emulator on a free port of 127.0.0.1,
    # and stops it when the block ends (or, at the latest, when Python exits).
    with FirestoreEmulator() as emulator:
        print(anyio.run(write_and_read, emulator.host))
        emulator.wipe("demo-project")  # delete every document of the project


# --8<-- [end:standalone]


if __name__ == "__main__":
    main()
