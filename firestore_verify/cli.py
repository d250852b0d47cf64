"""The ``firestore-verify`` command line.

Subcommands live in :data:`COMMANDS` (name -> :class:`Command`); a new one adds
an entry there. Every subcommand that talks to Firestore takes the same
connection options (:func:`add_store_arguments`), resolved as
:func:`firestore_verify.connect` does: ``--emulator-host`` or
``FIRESTORE_EMULATOR_HOST`` for the emulator, production credentials otherwise.

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

from firestore_verify.errors import ConfigurationError, FirestoreVerifyError, InvalidInputError
from firestore_verify.store import Store, connect

__all__ = [
    "COMMANDS",
    "PACKAGED_FILES",
    "Command",
    "add_store_arguments",
    "build_parser",
    "connect_from",
    "main",
    "packaged_file",
]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_BAD_ROWS, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


@dataclass(frozen=True)
class Command:
    """One subcommand: its help, how it adds its arguments, and what it runs."""

    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    #: Runs the command with the parsed arguments; returns the exit code.
    run: Callable[[argparse.Namespace], int]


def add_store_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the Firestore connection options every data subcommand shares."""
    group = parser.add_argument_group("Firestore")
    group.add_argument("--project", help="Firebase / Google Cloud project id "
                       "(default: FIREBASE_PROJECT_ID, GOOGLE_CLOUD_PROJECT or the key's)")
    group.add_argument("--database", default="(default)", help="Firestore database id "
                       "(default: %(default)s)")
    group.add_argument("--prefix", default="", help="collection name prefix, e.g. staging_")
    group.add_argument("--emulator-host", metavar="HOST:PORT",
                       help="use the Firestore emulator (default: FIRESTORE_EMULATOR_HOST)")
    group.add_argument("--credentials", metavar="FILE", help="service-account JSON key "
                       "(default: FIREBASE_CLIENT_EMAIL/FIREBASE_PRIVATE_KEY, "
                       "GOOGLE_APPLICATION_CREDENTIALS or application default credentials)")


async def connect_from(args: argparse.Namespace) -> Store:
    """Connect with the options added by :func:`add_store_arguments`."""
    return await connect(args.project, database=args.database, prefix=args.prefix,
                         emulator_host=args.emulator_host, credentials_file=args.credentials)


#: The deployable files shipped inside the package, by subcommand.
PACKAGED_FILES: dict[str, str] = {
    "rules": "firestore.rules",
    "indexes": "firestore.indexes.json",
}


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
    from firestore_verify.migrate import commands as migrate_commands

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


#: The subcommands, by name.
COMMANDS: dict[str, Command] = _commands()


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, with one subparser per entry of :data:`COMMANDS`."""
    parser = argparse.ArgumentParser(
        prog="firestore-verify",
        description="Tools for the firestore-verify data layer of Telegram verification bots.",
    )
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
    try:
        return run(args)
    except (ConfigurationError, InvalidInputError) as exc:
        print(f"firestore-verify {args.command}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except FirestoreVerifyError as exc:
        print(f"firestore-verify {args.command}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print(f"\nfirestore-verify {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
