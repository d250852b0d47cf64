"""Write ``docs/cli.md``, the command-line reference, from the parser itself.

    .venv/bin/python scripts/cli_reference.py          # rewrite docs/cli.md
    .venv/bin/python scripts/cli_reference.py --check  # exit 1 if it is stale

Every subcommand (and each ``admins`` action) with its ``--help``, at 80 columns.
``tests/test_cli_reference.py`` fails when the page and the parser disagree.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from firestore_verify.cli import (
    EXIT_BAD_ROWS,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    build_parser,
)

PAGE = Path(__file__).resolve().parent.parent / "docs" / "cli.md"
INTRO = f"""# Command line

`firestore-verify` comes with the package (`pip install firestore-verify`). Every
subcommand that talks to Firestore takes the same connection options, resolved as
`connect()` does: `--emulator-host` or `FIRESTORE_EMULATOR_HOST` for the emulator,
production credentials otherwise (see
[Getting started](getting-started.md#3-connect-to-a-real-project)).

Exit codes: `0` success, `{EXIT_FAILED}` failure or drift found, `{EXIT_USAGE}` bad usage or
configuration, `{EXIT_BAD_ROWS}` migrated but some rows were reported bad, `{EXIT_INTERRUPTED}`
interrupted.

This page is generated from the parser (`python scripts/cli_reference.py`); the
tests fail when it is out of date.
"""


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def render() -> str:
    """The whole page."""
    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "80"  # argparse wraps to the terminal: make it fixed
    try:
        parser = build_parser()
        sections = [INTRO, "```text\n" + parser.format_help() + "```\n"]
        for name, sub in _subparsers(parser).items():
            sections.append(f"## `firestore-verify {name}`\n\n```text\n{sub.format_help()}```\n")
            for action, inner in _subparsers(sub).items():
                sections.append(f"### `firestore-verify {name} {action}`\n\n"
                                f"```text\n{inner.format_help()}```\n")
    finally:
        if previous is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = previous
    return "\n".join(sections)


def main(argv: list[str]) -> int:
    """Write the page (or, with ``--check``, say whether it is current)."""
    text = render()
    if "--check" in argv:
        current = PAGE.read_text() if PAGE.exists() else ""
        if current != text:
            print(f"{PAGE} is out of date: run python scripts/cli_reference.py", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
