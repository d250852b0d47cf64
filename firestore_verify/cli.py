"""The ``firestore-verify`` command line.

Subcommands live in `COMMANDS` (name -> `Command`); a new one adds
an entry there. Every subcommand that talks to Firestore takes the same
connection options (`add_store_arguments()`), resolved as
`firestore_verify.connect()` does: ``--emulator-host`` or
``FIRESTORE_EMULATOR_HOST`` for the emulator, production credentials otherwise.

Subcommands that manage Firebase Auth users (``admins``, ``migrate
--resolve-admins-by-email``) also take `add_auth_arguments()`:
``--auth-emulator-host`` or ``FIREBASE_AUTH_EMULATOR_HOST`` for the Auth
emulator (``demo-`` projects only), the Firestore credentials otherwise.

``rules`` and ``indexes`` print (or write, ``--output PATH``) the security rules
and index definitions shipped inside the package, for ``firebase deploy``.

Exit codes: ``0`` success, ``1`` failure or drift found, ``2`` bad usage or
configuration, ``3`` migrated but some rows were reported bad, ``130``
interrupted.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from firestore_verify import admin_cli
from firestore_verify._version import __version__
from firestore_verify.cli_options import (
    EXIT_BAD_ROWS,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    add_auth_arguments,
    add_store_arguments,
    authenticator_from,
    cli_terms,
    connect_from,
)
from firestore_verify.errors import ConfigurationError, FirestoreVerifyError, InvalidInputError
from firestore_verify.migrate import commands as migrate_commands

__all__ = [
    "COMMANDS",
    "EXIT_BAD_ROWS",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "PACKAGED_FILES",
    "Command",
    "add_auth_arguments",
    "add_store_arguments",
    "authenticator_from",
    "build_parser",
    "cli_terms",
    "connect_from",
    "main",
    "packaged_file",
]


@dataclass(frozen=True)
class Command:
    """One subcommand: its help, how it adds its arguments, and what it runs."""

    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    """Runs the command with the parsed arguments; returns the exit code."""


PACKAGED_FILES: dict[str, str] = {
    "rules": "firestore.rules",
    "indexes": "firestore.indexes.json",
}
"""The deployable files shipped inside the package, by subcommand."""


def packaged_file(kind: str) -> str:
    """The text of a file shipped inside the package: ``"rules"`` or ``"indexes"``.

    Raises:
        InvalidInputError: for another ``kind``.

    """
    if kind not in PACKAGED_FILES:
        raise InvalidInputError(
            f"no packaged {kind!r} file; use one of {', '.join(PACKAGED_FILES)}.")
    return (resources.files("firestore_verify") / PACKAGED_FILES[kind]).read_text(encoding="utf-8")


def _configure_packaged(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", "-o", metavar="PATH",
                        help="write the file to PATH instead of printing it")


def _run_packaged(kind: str) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        text = packaged_file(kind)
        if args.output is None:
            sys.stdout.write(text)
            return EXIT_OK
        path = Path(args.output)
        try:
            path.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise ConfigurationError(f"cannot write {path}: {exc.strerror or exc}") from None
        print(f"wrote {PACKAGED_FILES[kind]} to {path}", file=sys.stderr)
        return EXIT_OK

    return run


def _commands() -> dict[str, Command]:

    return {
        "migrate": Command(
            help="copy a legacy SQL bot database (PostgreSQL or SQLite) into Firestore",
            configure=migrate_commands.configure_migrate,
            run=migrate_commands.run_migrate,
        ),
        "check": Command(
            help="compare a legacy SQL bot database with Firestore; exit 1 on drift",
            configure=migrate_commands.configure_check,
            run=migrate_commands.run_check,
        ),
        "admins": Command(
            help="add, list, re-role, deactivate and activate dashboard admins "
                 "(Firebase Auth and admin_users together)",
            configure=admin_cli.configure_admins,
            run=admin_cli.run_admins,
        ),
        "rules": Command(
            help="print the packaged Firestore security rules (or write them with --output)",
            configure=_configure_packaged,
            run=_run_packaged("rules"),
        ),
        "indexes": Command(
            help="print the packaged Firestore index definitions (or write them with --output)",
            configure=_configure_packaged,
            run=_run_packaged("indexes"),
        ),
    }


COMMANDS: dict[str, Command] = _commands()
"""The subcommands, by name."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, with one subparser per entry of `COMMANDS`."""
    parser = argparse.ArgumentParser(
        prog="firestore-verify",
        description="Tools for the firestore-verify data layer of Telegram verification bots.",
    )
    parser.add_argument("--version", action="version", version=f"firestore-verify {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, command in COMMANDS.items():
        sub = subparsers.add_parser(name, help=command.help, description=command.help)
        command.configure(sub)
        sub.set_defaults(run=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``firestore-verify``; return the exit code."""
    args = build_parser().parse_args(argv)
    run: Callable[[argparse.Namespace], int] = args.run
    name = " ".join(part for part in (args.command, getattr(args, "action", None)) if part)
    try:
        return run(args)
    except (ConfigurationError, InvalidInputError) as exc:
        print(f"firestore-verify {name}: {cli_terms(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except FirestoreVerifyError as exc:
        print(f"firestore-verify {name}: {cli_terms(str(exc))}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print(f"\nfirestore-verify {name}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
