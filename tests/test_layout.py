"""The layout: imports run one way, and every repository lives in ``repositories/``.

The import graph is read from the source (``ast``), counting every import that runs:
module level and inside functions, leaving out ``if TYPE_CHECKING:`` blocks (types
only). ``from package import submodule`` counts as importing the submodule.
"""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import firestore_verify as fv

PACKAGE = Path(fv.__file__).resolve().parent


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = ("firestore_verify", *path.relative_to(PACKAGE).with_suffix("").parts)
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                visit(node.orelse)
                continue
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    kept = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*kept, *([node.module] if node.module else [])])
                submodules = {f"{base}.{a.name}" for a in node.names} & MODULES.keys()
                found.update(submodules)
                if len(submodules) < len(node.names):
                    found.add(base)
            for field in ("body", "orelse", "finalbody", "handlers"):
                inner = getattr(node, field, None)
                if isinstance(inner, list) and inner and isinstance(inner[0], ast.AST):
                    visit([getattr(h, "body", h) if isinstance(h, ast.ExceptHandler) else h
                           for h in inner] if field != "handlers" else
                          [stmt for h in inner for stmt in h.body])

    visit(ast.parse(path.read_text()).body)
    return {m for m in found if m in MODULES and m != name}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph[node]):
            if other not in index:
                connect(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return found


def test_imports_run_one_way() -> None:
    graph = {name: _imports(name, path) for name, path in MODULES.items()}
    assert graph["firestore_verify.logger"] >= {"firestore_verify.events"}, "graph not read"
    cycles = _cycles(graph)
    assert not cycles, "modules that import each other (at run time): " + "; ".join(
        " <-> ".join(c) for c in cycles)


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_every_repository_lives_in_repositories() -> None:
    from firestore_verify import repositories as repos

    repositories = {obj for module in (fv, repos) for name, obj in vars(module).items()
                    if inspect.isclass(obj) and name.endswith("Repository")}
    assert len(repositories) >= 8, repositories
    outside = [f"{r.__name__} in {r.__module__}" for r in sorted(repositories, key=str)
               if not r.__module__.startswith("firestore_verify.repositories.")]
    assert not outside, outside


def test_every_public_error_lives_in_errors_and_is_in_its_tree() -> None:
    from firestore_verify import errors

    exported = [obj for name in fv.__all__
                if inspect.isclass(obj := getattr(fv, name)) and issubclass(obj, Exception)]
    assert len(exported) >= 15, exported
    outside = [f"{e.__name__} in {e.__module__}" for e in exported
               if e.__module__ != "firestore_verify.errors"]
    assert not outside, outside
    tree = errors.__doc__ or ""
    missing = [e.__name__ for e in exported if e.__name__ not in tree]
    assert not missing, f"errors.py's docstring tree lacks {missing}"


def test_docstrings_use_markdown_not_sphinx_roles() -> None:
    """mkdocstrings renders Markdown: a ``:meth:`x``` would show as it is on the site."""
    role = re.compile(r":(meth|class|func|mod|data|attr|exc|obj):`")
    found = [f"{path.relative_to(PACKAGE)}:{number}"
             for path in MODULES.values()
             for number, line in enumerate(path.read_text().splitlines(), 1)
             if role.search(line)]
    assert not found, f"Sphinx roles in {found[:10]}"


def test_the_layout_page_names_every_module() -> None:
    page = (PACKAGE.parent / "docs" / "layout.md").read_text()
    missing = []
    for path in MODULES.values():
        relative = path.relative_to(PACKAGE)
        if path.name == "__init__.py" or f"`{relative}`" in page or f"`{relative.name}`" in page:
            continue
        missing.append(str(relative))
    assert not missing, f"docs/layout.md does not name {missing}"
