"""The docs show their code inline (readable on GitHub), in step with the files it is from.

``scripts/docs_snippets.py --write`` rewrites every block marked
``<!-- snippet: path:section -->`` from its source; these tests fail when one is stale.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_snippets",
                                                  ROOT / "scripts" / "docs_snippets.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


snippets = _load_script()


def test_every_snippet_block_is_current() -> None:
    stale = [str(problem) for problem in snippets.stale_blocks()]
    assert not stale, "run python scripts/docs_snippets.py --write:\n" + "\n".join(stale)


def test_the_pages_show_code_through_markers() -> None:
    """The check above looks at something: every page that showed a file still does."""
    shown = {block.target for page in snippets.pages()
             for block in snippets.find_blocks(page.read_text(encoding="utf-8"))}
    assert len(shown) >= 40
    assert {"docs/examples/tutorial.py", "docs/examples/migrate_cutover.sh:check",
            "deploy/compose.yaml"} <= shown


def test_no_pymdownx_include_is_left() -> None:
    """GitHub shows ``--8<-- "file"`` as it is: the code itself goes on the page."""
    include = re.compile(r'^\s*--8<--\s+"', flags=re.M)
    pages = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]
    left = [str(page.relative_to(ROOT)) for page in pages
            if include.search(page.read_text(encoding="utf-8"))]
    assert not left, f"--8<-- includes in {left}"
    assert "pymdownx.snippets" not in (ROOT / "mkdocs.yml").read_text(encoding="utf-8")


# -- the tool itself, on a project of its own ------------------------------------------------

SOURCE = """\
import os


def outer() -> None:
    # --8<-- [start:body]
    value = os.sep
    # --8<-- [start:inner]
    print(value)
    # --8<-- [end:inner]

    # --8<-- [end:body]
"""
PAGE = """\
# A page

<!-- snippet: src/example.py:body -->
```python title="example.py"
value = "stale"
```

1. A list item:

    <!-- snippet: src/example.py:inner -->
    ```python
    print(value)
    ```

2. An include:

    ```python
    --8<-- "src/example.py:inner"
    ```

```markdown
<!-- snippet: src/example.py:missing -->
```
"""
FIXED = """\
# A page

<!-- snippet: src/example.py:body -->
```python title="example.py"
value = os.sep
print(value)
```

1. A list item:

    <!-- snippet: src/example.py:inner -->
    ```python
    print(value)
    ```

2. An include:

    <!-- snippet: src/example.py:inner -->
    ```python
    print(value)
    ```

```markdown
<!-- snippet: src/example.py:missing -->
```
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "docs").mkdir()
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "example.py").write_text(SOURCE)
    (tmp_path / "docs" / "page.md").write_text(PAGE)
    return tmp_path


def test_check_reports_each_stale_block_and_include(project: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert snippets.main(["--check", "--root", str(project)]) == 1
    assert capsys.readouterr().out.splitlines() == [
        "docs/page.md:3: src/example.py:body: stale",
        "docs/page.md:18: src/example.py:inner: a --8<-- include",
    ]
    assert (project / "docs" / "page.md").read_text() == PAGE  # --check writes nothing


def test_write_fixes_them(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert snippets.main(["--write", "--root", str(project)]) == 0
    assert (project / "docs" / "page.md").read_text() == FIXED
    capsys.readouterr()
    assert snippets.main(["--check", "--root", str(project)]) == 0
    assert capsys.readouterr().out == ""


def test_a_changed_source_makes_the_block_stale(project: Path) -> None:
    snippets.main(["--write", "--root", str(project)])
    source = project / "src" / "example.py"
    source.write_text(source.read_text().replace("print(value)", "print(value, end='')"))
    stale = [str(problem) for problem in snippets.stale_blocks(project)]
    assert stale == ["docs/page.md:3: src/example.py:body: stale",
                     "docs/page.md:11: src/example.py:inner: stale",
                     "docs/page.md:18: src/example.py:inner: stale"]


@pytest.mark.parametrize(("target", "reason"), [
    ("src/example.py:nowhere", "src/example.py has no section 'nowhere'"),
    ("src/missing.py", "src/missing.py: no such file"),
])
def test_an_unknown_source_is_reported_and_left_alone(
        project: Path, capsys: pytest.CaptureFixture[str], target: str, reason: str) -> None:
    page = f"<!-- snippet: {target} -->\n```python\nx = 1\n```\n"
    (project / "docs" / "page.md").write_text(page)
    assert snippets.main(["--write", "--root", str(project)]) == 1
    assert reason in capsys.readouterr().out
    assert (project / "docs" / "page.md").read_text() == page


def test_a_marker_needs_its_fenced_block(project: Path) -> None:
    (project / "docs" / "page.md").write_text("<!-- snippet: src/example.py -->\n\ntext\n")
    [problem] = snippets.stale_blocks(project)
    assert "a fenced block must follow the marker" in str(problem)
    assert not problem.fixable


def test_a_fence_in_the_source_gets_a_longer_fence(project: Path) -> None:
    (project / "src" / "notes.md").write_text("```text\nhi\n```\n")
    (project / "docs" / "page.md").write_text("<!-- snippet: src/notes.md -->\n```markdown\n```\n")
    snippets.main(["--write", "--root", str(project)])
    assert (project / "docs" / "page.md").read_text() == (
        "<!-- snippet: src/notes.md -->\n````markdown\n```text\nhi\n```\n````\n")
