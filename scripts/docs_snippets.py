"""Keep the code the docs show in step with the files it comes from.

    python scripts/docs_snippets.py --check   # exit 1, listing every stale block
    python scripts/docs_snippets.py --write   # rewrite the stale blocks from their sources

A page shows a file, or one section of it, as an ordinary fenced block right after
an HTML comment (invisible on GitHub and on the site)::

    <!-- snippet: docs/examples/retention.py:retention -->
    ```python
    ...the lines between `# --8<-- [start:retention]` and `# --8<-- [end:retention]`
    ```

The path is relative to the repository root; without ``:section`` the block holds
the whole file. Section marker lines (of any section) are never shown, a section
is dedented, and leading and trailing blank lines are dropped. The marker may be
indented (in a list item, an admonition): the block is indented the same way.
``--write`` also turns a pymdownx include (a fenced block holding only
``--8<-- "path:section"``) into a marked block.
"""

from __future__ import annotations

import argparse
import re
import sys
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MARKER = re.compile(r"^(?P<indent>[ \t]*)<!-- (?P<kind>[a-z]+): (?P<target>\S+) -->[ \t]*$")
FENCE = re.compile(r"^(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
INCLUDE = re.compile(r'^[ \t]*--8<--[ \t]+"(?P<target>[^"]+)"[ \t]*$')
SECTION = re.compile(r"--8<-- \[(?P<edge>start|end):(?P<name>[\w.-]+)\]")


class SnippetError(Exception):
    """A marker or include that cannot be resolved: no fence, no file, no section."""


@dataclass(frozen=True)
class Block:
    """A fenced block right after a ``<!-- kind: target -->`` marker line."""

    kind: str
    target: str
    #: the marker's line number, from 1
    line: int
    #: the opening fence without its indentation, e.g. ```` ```python title="x" ````
    opening: str
    #: the lines inside the fence, indentation removed
    lines: tuple[str, ...]

    @property
    def content(self) -> str:
        """The text inside the fence, each line ending with a newline."""
        return "".join(f"{line}\n" for line in self.lines)


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def _fenced(lines: Sequence[str], at: int, indent: str) -> tuple[str, list[str], int]:
    """The fence opened at ``lines[at]``: its opening, its inner lines, the index after it."""
    opening = lines[at] if at < len(lines) else ""
    match = FENCE.match(opening[len(indent):]) if opening.startswith(indent) else None
    if match is None:
        raise SnippetError("a fenced block must follow the marker, indented as it is")
    fence = match["fence"]
    inner: list[str] = []
    for number in range(at + 1, len(lines)):
        line = lines[number]
        body = line[len(indent):] if line.startswith(indent) else line.lstrip()
        closing = body.rstrip()
        if closing and set(closing) == {fence[0]} and len(closing) >= len(fence):
            return opening[len(indent):], inner, number + 1
        inner.append(body)
    raise SnippetError(f"the fenced block of line {at + 1} is never closed")


def _skip_fence(lines: Sequence[str], at: int) -> int:
    """The index after the ordinary fenced block opened at ``lines[at]``."""
    try:
        return _fenced(lines, at, _indent(lines[at]))[2]
    except SnippetError:
        return len(lines)


def find_blocks(text: str, kind: str = "snippet") -> list[Block]:
    """Every block of ``text`` marked ``<!-- kind: target -->``, in page order.

    A marker inside another fenced block (a page showing the scheme) is no marker.
    """
    lines = text.split("\n")
    found = []
    number = 0
    while number < len(lines):
        line = lines[number]
        marker = MARKER.match(line)
        if FENCE.match(line.lstrip()):
            number = _skip_fence(lines, number)
        elif marker is None or marker["kind"] != kind:
            number += 1
        else:
            try:
                opening, inner, end = _fenced(lines, number + 1, marker["indent"])
            except SnippetError as exc:
                raise SnippetError(f"line {number + 1}: {exc}") from None
            found.append(Block(kind, marker["target"], number + 1, opening, tuple(inner)))
            number = end
    return found


def source_lines(target: str, root: Path = ROOT) -> list[str]:
    """The lines a page shows for ``path`` or ``path:section`` (relative to ``root``)."""
    path, _, section = target.partition(":")
    file = root / path
    if not file.is_file():
        raise SnippetError(f"{path}: no such file")
    lines = file.read_text(encoding="utf-8").split("\n")
    if section:
        edges = [(m["edge"], number) for number, line in enumerate(lines)
                 if (m := SECTION.search(line)) and m["name"] == section]
        starts = [number for edge, number in edges if edge == "start"]
        ends = [number for edge, number in edges if edge == "end"]
        if len(starts) != 1 or len(ends) != 1 or ends[0] < starts[0]:
            raise SnippetError(f"{path} has no section {section!r} (one start, then one end)")
        lines = lines[starts[0] + 1:ends[0]]
    shown = [line for line in lines if not SECTION.search(line)]
    while shown and not shown[0].strip():
        shown.pop(0)
    while shown and not shown[-1].strip():
        shown.pop()
    return textwrap.dedent("\n".join(shown)).split("\n") if shown else []


def _block(target: str, indent: str, opening: str, code: list[str]) -> list[str]:
    """The marker and fenced block showing ``code``, every line indented by ``indent``."""
    match = FENCE.match(opening)
    if match is None:
        raise SnippetError(f"{opening!r} opens no fenced block")
    char, info = match["fence"][0], match["info"]
    longest = max((len(line) - len(line.lstrip(char)) for line in code), default=0)
    fence = char * max(len(match["fence"]), longest + 1)
    body = [f"{indent}{line}" if line.strip() else "" for line in code]
    return [f"{indent}<!-- snippet: {target} -->", f"{indent}{fence}{info}", *body,
            f"{indent}{fence}"]


@dataclass(frozen=True)
class Problem:
    """A block of a page that differs from its source, or cannot be resolved."""

    page: str
    line: int
    message: str
    #: whether ``--write`` fixes it
    fixable: bool

    def __str__(self) -> str:
        return f"{self.page}:{self.line}: {self.message}"


def _include(lines: Sequence[str], at: int) -> str | None:
    """The target of the pymdownx include ``lines[at]`` opens, if it opens one."""
    if at + 1 >= len(lines) or _indent(lines[at]) != _indent(lines[at + 1]):
        return None
    include = INCLUDE.match(lines[at + 1])
    return include["target"] if include else None


def refresh(text: str, page: str = "<page>", root: Path = ROOT) -> tuple[str, list[Problem]]:
    """``text`` with every snippet block rewritten from its source, and what was stale.

    A pymdownx include (a fenced block holding only ``--8<-- "target"``) becomes a
    marked block, and counts as stale.
    """
    lines = text.split("\n")
    out: list[str] = []
    problems: list[Problem] = []
    number = 0
    while number < len(lines):
        line = lines[number]
        marker = MARKER.match(line)
        snippet = marker if marker and marker["kind"] == "snippet" else None
        include = _include(lines, number) if FENCE.match(line.lstrip()) else None
        if snippet or include:
            indent = snippet["indent"] if snippet else _indent(line)
            target = snippet["target"] if snippet else include or ""
            at = number + 1 if snippet else number
            try:
                opening, inner, end = _fenced(lines, at, indent)
                if include and len(inner) != 1:
                    raise SnippetError("an include must be alone in its fenced block")
                new = _block(target, indent, opening, source_lines(target, root))
            except SnippetError as exc:
                problems.append(Problem(page, number + 1, f"{target}: {exc}", fixable=False))
                out.append(line)
                number += 1
                continue
            if include:
                problems.append(Problem(page, number + 2, f"{target}: a --8<-- include",
                                        fixable=True))
            elif new != lines[number:end]:
                problems.append(Problem(page, number + 1, f"{target}: stale", fixable=True))
            out += new
            number = end
        elif FENCE.match(line.lstrip()):
            end = _skip_fence(lines, number)
            out += lines[number:end]
            number = end
        else:
            if INCLUDE.match(line):
                problems.append(Problem(page, number + 1, "a --8<-- include outside a fenced "
                                        "block", fixable=False))
            out.append(line)
            number += 1
    return "\n".join(out), problems


def pages(root: Path = ROOT) -> list[Path]:
    """The pages whose blocks are kept in step: ``docs/*.md`` and ``README.md``."""
    found = sorted((root / "docs").glob("*.md"))
    readme = root / "README.md"
    return [*found, readme] if readme.is_file() else found


def stale_blocks(root: Path = ROOT) -> list[Problem]:
    """Every block of every page that ``--write`` would change, or cannot resolve."""
    problems: list[Problem] = []
    for path in pages(root):
        problems += refresh(path.read_text(encoding="utf-8"), str(path.relative_to(root)),
                            root)[1]
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    """Check (exit 1 when stale) or rewrite the snippet blocks of the pages."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--check", action="store_true", help="list stale blocks, exit 1 if any")
    action.add_argument("--write", action="store_true", help="rewrite blocks from their sources")
    parser.add_argument("--root", type=Path, default=ROOT, help="the repository root")
    args = parser.parse_args(argv)
    root: Path = args.root
    if args.check:
        problems = stale_blocks(root)
        for problem in problems:
            print(problem)
        if problems:
            print("run: python scripts/docs_snippets.py --write", file=sys.stderr)
        return 1 if problems else 0
    failed = False
    for path in pages(root):
        text = path.read_text(encoding="utf-8")
        new, problems = refresh(text, str(path.relative_to(root)), root)
        for problem in problems:
            print(problem if problem.fixable else f"{problem} (not fixed)")
            failed |= not problem.fixable
        if new != text:
            path.write_text(new, encoding="utf-8")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
