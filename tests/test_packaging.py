"""The built wheel carries the whole library: it imports and exposes its entry points."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(ROOT)],
                   check=True, capture_output=True, timeout=300)
    (built,) = out.glob("firestore_verify-*.whl")
    return built


def test_wheel_has_types_plugin_and_cli(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = next(n for n in names if n.endswith("entry_points.txt"))
        text = archive.read(entry_points).decode()
    assert "firestore_verify/py.typed" in names
    assert "firestore_verify/testing/plugin.py" in names
    assert "firestore_verify/migrate/__init__.py" in names
    assert "firestore_verify = firestore_verify.testing.plugin" in text
    assert "firestore-verify = firestore_verify.cli:main" in text
    assert not any(n.startswith(("tests/", "examples/", "bench/")) for n in names)


def test_wheel_imports_on_its_own(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--target", str(target), str(wheel)], check=True, timeout=300)
    env = {**os.environ, "PYTHONPATH": str(target)}
    # Run outside the repository so the source tree cannot be imported instead.
    result = subprocess.run(
        [sys.executable, "-c", "import firestore_verify as fv, firestore_verify.migrate, "
         "firestore_verify.testing; print(fv.__file__, len(fv.__all__))"],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=True, timeout=120)
    assert result.stdout.startswith(str(target))


def test_the_version_is_written_once_and_the_wheel_and_cli_agree(wheel: Path) -> None:
    import firestore_verify as fv

    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in pyproject
    assert f"-{fv.__version__}-" in wheel.name
    with zipfile.ZipFile(wheel) as archive:
        metadata = next(n for n in archive.namelist() if n.endswith("METADATA"))
        text = archive.read(metadata).decode()
    assert f"\nVersion: {fv.__version__}\n" in text
    assert "Requires-Dist: google-cloud-firestore" in text  # used directly: declared
    done = subprocess.run([sys.executable, "-m", "firestore_verify.cli", "--version"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert (done.returncode, done.stdout.strip()) == (0, f"firestore-verify {fv.__version__}")


def test_the_tutorial_runs_from_the_installed_wheel(wheel: Path, tmp_path: Path) -> None:
    """What a new user does: install the package, run Getting started's tutorial."""
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--target", str(target), str(wheel)], check=True, timeout=300)
    tutorial = tmp_path / "tutorial.py"
    source = (ROOT / "docs" / "examples" / "tutorial.py").read_text()
    # The same file, and a line saying which copy of the library it imported.
    tutorial.write_text(source.replace(
        "import firestore_verify as fv\n",
        "import firestore_verify as fv\nprint('library:', fv.__file__)\n", 1))
    env = {**os.environ, "PYTHONPATH": str(target)}
    done = subprocess.run([sys.executable, str(tutorial)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    first, *rest = done.stdout.splitlines()
    assert first.startswith(f"library: {target}"), first
    assert rest == ["protected: Crypto Chat enforcing [-1009876543210]",
                    "verifications: 2 success rate: 50%"]


def test_the_sdist_is_the_library_and_builds_the_same_wheel(tmp_path: Path) -> None:
    import tarfile

    out = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "build", "--sdist", "--outdir", str(out), str(ROOT)],
                   check=True, capture_output=True, timeout=300)
    (sdist,) = out.glob("firestore_verify-*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    assert {"LICENSE", "README.md", "pyproject.toml", "firestore_verify/py.typed"} <= names
    assert "firestore_verify/firestore.indexes.json" in names
    assert not [n for n in names if n.startswith(("tests/", "examples/", "bench/", "docs/"))]
    # And the wheel built from it (as pip does from PyPI) holds the package.
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--wheel-dir", str(out), str(sdist)],
                   check=True, capture_output=True, timeout=300)
    (built,) = out.glob("firestore_verify-*.whl")
    with zipfile.ZipFile(built) as archive:
        assert "firestore_verify/logger.py" in archive.namelist()
        (metadata,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        urls = [line for line in archive.read(metadata).decode().splitlines()
                if line.startswith("Project-URL: ")]
    assert {u.split(": ", 1)[1].split(",")[0] for u in urls} >= {
        "Homepage", "Documentation", "Repository", "Issues", "Changelog"}, urls
    # PyPI would take both files: their metadata, and the README as its page.
    twine = subprocess.run([sys.executable, "-m", "twine", "check", "--strict", str(sdist),
                            str(built)], capture_output=True, text=True, timeout=120, check=False)
    assert twine.returncode == 0, twine.stdout + twine.stderr


def test_the_readme_links_work_on_pypi() -> None:
    """PyPI shows the README without the repository: every link is absolute, and each
    one into the repository names a file that exists."""
    urls = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]
    repository = urls["Repository"]
    links = re.findall(r"\]\(([^)\s]+)\)", (ROOT / "README.md").read_text())
    assert links, "the README has no links"
    relative = [link for link in links if not re.match(r"[a-z]+://", link)]
    assert not relative, f"relative links break on PyPI: {relative}"
    for link in links:
        if link.startswith(repository + "/"):
            path = re.sub(r"^(blob|tree)/main/", "", link[len(repository) + 1:])
            assert (ROOT / path).exists(), f"{link} names no file of the repository"
    mkdocs = (ROOT / "mkdocs.yml").read_text()
    assert f"repo_url: {repository}\n" in mkdocs, "the docs site links another repository"
