"""Write the packaged rules and indexes beside a firebase.json, ready to deploy."""

import json
import tempfile
from pathlib import Path

import firestore_verify as fv
from firestore_verify.cli import main as firestore_verify


def write_deploy_files(directory: Path) -> dict[str, str]:
    # --8<-- [start:write]
    # The same as `firestore-verify rules --output firestore.rules` (and indexes).
    firestore_verify(["rules", "--output", str(directory / "firestore.rules")])
    firestore_verify(["indexes", "--output", str(directory / "firestore.indexes.json")])
    firebase_json = {"firestore": {"rules": "firestore.rules",
                                   "indexes": "firestore.indexes.json"}}
    (directory / "firebase.json").write_text(json.dumps(firebase_json, indent=2) + "\n")
    # --8<-- [end:write]
    return {path.name: path.read_text() for path in sorted(directory.iterdir())}


async def main(store: fv.Store) -> dict[str, str]:
    with tempfile.TemporaryDirectory() as directory:
        files = write_deploy_files(Path(directory))
    print("written:", *files)
    print(files["firebase.json"], end="")
    print("client writes allowed:", "allow write" in files["firestore.rules"])
    # The library writes through the Admin SDK, which the rules do not apply to.
    await store.config.set("mode", "strict")
    return files
