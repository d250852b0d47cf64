"""What every ``firestore-verify`` subcommand shares: connection options and exit codes.

The subcommands (`firestore_verify.admin_cli`,
`firestore_verify.migrate.commands`) import from here, and
`firestore_verify.cli` imports them: the imports run one way.

Exit codes: ``0`` success, ``1`` failure or drift found, ``2`` bad usage or
configuration, ``3`` migrated but some rows were reported bad, ``130``
interrupted.
"""

from __future__ import annotations

import argparse

from firestore_verify.auth import Authenticator
from firestore_verify.store import Store, connect

__all__ = [
    "EXIT_BAD_ROWS",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "add_auth_arguments",
    "add_store_arguments",
    "authenticator_from",
    "cli_terms",
    "connect_from",
]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_BAD_ROWS, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


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
    """Connect with the options added by `add_store_arguments()`.

    Firestore is pinged first (``check=True``), so a stale ``--emulator-host`` or an
    unreachable project fails within seconds, with one line, before any work starts.
    """
    return await connect(args.project, database=args.database, prefix=args.prefix,
                         emulator_host=args.emulator_host, credentials_file=args.credentials,
                         check=True)


def add_auth_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the Firebase Auth options of the subcommands that manage Auth users."""
    group = parser.add_argument_group("Firebase Auth")
    group.add_argument("--auth-emulator-host", metavar="HOST:PORT",
                       help="use the Firebase Auth emulator, for demo- projects only "
                            "(default: FIREBASE_AUTH_EMULATOR_HOST)")


def authenticator_from(args: argparse.Namespace, store: Store) -> Authenticator:
    """An `Authenticator` on ``store``'s project.

    Per the options of `add_auth_arguments()`.
    """
    return Authenticator(store, emulator_host=args.auth_emulator_host)


_CLI_TERMS: tuple[tuple[str, str], ...] = (
    ("connect(project='demo-my-app')", "--project demo-my-app"),
    ("connect(project=...)", "--project"),
    ("pass credentials_file=", "pass --credentials"),
    ("check emulator_host=", "check --auth-emulator-host"),
    ("drop emulator_host=", "drop --auth-emulator-host"),
    ("pass emulator_host=", "pass --auth-emulator-host"),
    ("Authenticator(emulator_host=...)", "--auth-emulator-host"),
)
"""Library wording in error messages -> the command line's (options, not arguments)."""


def cli_terms(message: str) -> str:
    """``message`` with the library's argument names replaced by this command's options."""
    for library, option in _CLI_TERMS:
        message = message.replace(library, option)
    return message
