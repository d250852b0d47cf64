"""The shipped security rules, tested with @firebase/rules-unit-testing on the emulator.

The cases live in ``tests/rules/firestore.rules.test.mjs`` (node's test runner);
this test runs them against the session's emulator, in a fresh ``demo-`` project,
with the permission table of ``firestore_verify.permissions`` as the expectation.
Without node or the npm packages (``npm ci``) it skips, or fails when
``FIRESTORE_VERIFY_REQUIRE_EMULATOR=1``, like the other emulator tests.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import uuid
from importlib import resources
from pathlib import Path

import pytest

from firestore_verify.browser import COLLECTIONS
from firestore_verify.cli import main
from firestore_verify.permissions import ROLE_PERMISSIONS
from firestore_verify.testing import FirestoreEmulator
from firestore_verify.testing.plugin import REQUIRE_ENV_VAR

ROOT = Path(__file__).resolve().parent.parent
RULES_TEST = ROOT / "tests" / "rules" / "firestore.rules.test.mjs"
NPM_PACKAGE = ROOT / "node_modules" / "@firebase" / "rules-unit-testing"
#: Generous: ~500 emulator round trips, on a shared machine.
NODE_TIMEOUT_SECONDS = 300


def packaged_rules() -> Path:
    path = Path(str(resources.files("firestore_verify") / "firestore.rules"))
    assert path.is_file(), path
    return path


def node_or_skip() -> str:
    node = shutil.which("node")
    missing = None
    if node is None:
        missing = "node is not on PATH"
    elif not NPM_PACKAGE.is_dir():
        missing = f"{NPM_PACKAGE} is missing (run `npm ci` at the repository root)"
    if missing is None:
        assert node is not None
        return node
    if os.environ.get(REQUIRE_ENV_VAR, "").strip().lower() in {"1", "true", "yes", "on"}:
        pytest.fail(f"{missing} ({REQUIRE_ENV_VAR} is set, so this fails instead of skipping)",
                    pytrace=False)
    pytest.skip(f"security rules tests need node and @firebase/rules-unit-testing: {missing}")


def spec() -> str:
    return json.dumps({
        "roles": {role.value: sorted(p.value for p in perms)
                  for role, perms in ROLE_PERMISSIONS.items()},
        "collections": list(COLLECTIONS),
    })


def test_rules_allow_reads_by_role_and_no_writes(firestore_emulator: FirestoreEmulator) -> None:
    node = node_or_skip()
    project = f"demo-{uuid.uuid4().hex[:16]}"
    env = {
        **os.environ,
        "FIRESTORE_EMULATOR_HOST": firestore_emulator.host,
        "FV_PROJECT": project,
        "FV_RULES_PATH": str(packaged_rules()),
        "FV_RULES_SPEC": spec(),
    }
    env.pop("NODE_OPTIONS", None)
    try:
        done = subprocess.run(
            [node, "--test", "--test-reporter=spec", str(RULES_TEST)],
            cwd=ROOT, env=env, capture_output=True, text=True, check=False,
            timeout=NODE_TIMEOUT_SECONDS,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"the rules tests took over {NODE_TIMEOUT_SECONDS}s:\n{exc.stdout}\n"
                    f"{exc.stderr}", pytrace=False)
    finally:
        firestore_emulator.wipe(project)
    output = f"{done.stdout}\n{done.stderr}"
    if done.returncode != 0:
        pytest.fail(f"node --test {RULES_TEST.name} failed ({done.returncode}):\n{output}",
                    pytrace=False)
    assert re.search(r"^\S+ fail 0$", output, re.MULTILINE), output
    assert re.search(r"^\S+ pass [1-9]", output, re.MULTILINE), output


def test_rules_name_only_contract_collections() -> None:
    text = packaged_rules().read_text()
    assert "allow write" not in text
    assert "allow create" not in text
    assert "allow update" not in text
    assert "allow delete" not in text
    for name in COLLECTIONS:
        if name != "verification_users":
            assert f"match /{name}/" in text, name


def test_cli_prints_and_writes_the_rules(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    expected = packaged_rules().read_text()
    assert main(["rules"]) == 0
    assert capsys.readouterr().out == expected
    target = tmp_path / "firestore.rules"
    assert main(["rules", "--output", str(target)]) == 0
    assert target.read_text() == expected
    assert "wrote firestore.rules" in capsys.readouterr().err
    assert main(["rules", "-o", str(tmp_path / "missing" / "x.rules")]) == 2
    assert "cannot write" in capsys.readouterr().err
