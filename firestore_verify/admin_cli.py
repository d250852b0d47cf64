"""``firestore-verify admins``: dashboard admin accounts from the command line.

Each action goes through `AdminAccounts`,
so the Firebase Auth user, the ``role`` claim and ``admin_users/{uid}`` stay in
step exactly as they do from the API or the dashboard::

    firestore-verify admins add --email ada@example.com --role owner --project my-app
    firestore-verify admins list --project my-app
    firestore-verify admins set-role --email ada@example.com --role viewer --project my-app
    firestore-verify admins deactivate --uid 8fQ2... --project my-app
    firestore-verify admins activate --email ada@example.com --project my-app

Every change is audited (``admin.create``, ``admin.set_role``...) with the
actor ``cli:<os user>`` unless ``--actor UID`` names someone else. ``list``
only reads Firestore; the other actions also need Firebase Auth
(``--auth-emulator-host`` or ``FIREBASE_AUTH_EMULATOR_HOST`` for the emulator).
"""

from __future__ import annotations

import argparse
import getpass
import json
import re
from collections.abc import Awaitable, Callable
from datetime import datetime

import anyio

from firestore_verify.admin_accounts import AdminAccounts
from firestore_verify.cli_options import (
    EXIT_OK,
    add_auth_arguments,
    add_store_arguments,
    authenticator_from,
    connect_from,
)
from firestore_verify.errors import (
    AlreadyExistsError,
    FirestoreVerifyError,
    InvalidInputError,
    NotFoundError,
)
from firestore_verify.models import Actor, AdminUser, Role
from firestore_verify.store import Store

__all__ = ["cli_actor", "configure_admins", "format_admins", "run_admins"]

_ROLES = [role.value for role in Role]
_Action = Callable[[Store, argparse.Namespace], Awaitable[int]]
"""Runs one action on an open store; returns the exit code."""


def cli_actor(override: str | None = None) -> Actor:
    """Who the audit log says made a change: ``--actor UID``, else ``cli:<os user>``."""
    if override is not None:
        try:
            return Actor.parse({"uid": override})
        except InvalidInputError:
            raise InvalidInputError(
                f"--actor {override!r} is no uid: use 1-128 letters, digits or _.:-") from None
    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # no login name (some containers)
        user = "unknown"
    return Actor(uid="cli:" + (re.sub(r"[^A-Za-z0-9_.-]", "_", user)[:100] or "unknown"))


def _target(parser: argparse.ArgumentParser) -> None:
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--email", help="the admin's email address (as stored in admin_users)")
    who.add_argument("--uid", help="the admin's Firebase Auth uid")


def configure_admins(parser: argparse.ArgumentParser) -> None:
    """Add the ``admins`` actions and their arguments."""
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    def action(name: str, help: str, run: _Action, *, auth: bool = True,
               epilog: str | None = None) -> argparse.ArgumentParser:
        sub = actions.add_parser(name, help=help, description=help, epilog=epilog)
        sub.set_defaults(admin_action=run)
        add_store_arguments(sub)
        if auth:
            add_auth_arguments(sub)
            sub.add_argument("--actor", metavar="UID",
                             help="the uid the audit log names as the actor "
                                  "(default: cli:<os user>)")
        return sub

    add = action("add", "make an email address a dashboard admin", _add, epilog=(
        "Finds the Firebase Auth user with this email (or creates it), sets its role claim "
        "and writes admin_users/{uid}. If that user is an admin already, nothing changes and "
        "the command exits 1: change a role with `admins set-role`."))
    add.add_argument("--email", required=True, help="the admin's email address")
    add.add_argument("--role", required=True, choices=_ROLES, help="the dashboard role")
    add.add_argument("--name", help="full name (also the display name of a new Auth user)")
    add.add_argument("--password", help="password of a new Auth user, 6+ characters "
                     "(visible in the process list; without it, the user sets one through "
                     "a password-reset link). An existing user's password is not changed.")

    listing = action("list", "list the dashboard admins (reads Firestore only)", _list,
                     auth=False)
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")

    set_role = action("set-role", "change an admin's role (revokes their tokens)", _set_role)
    _target(set_role)
    set_role.add_argument("--role", required=True, choices=_ROLES, help="the new role")

    _target(action("deactivate", "lock an admin out (revokes their tokens; keeps the record)",
                   _deactivate))
    _target(action("activate", "let a deactivated admin in again", _activate))


def run_admins(args: argparse.Namespace) -> int:
    """Run an ``admins`` action; 0 on success, 1 when refused (last owner, unknown admin...)."""
    code: int = anyio.run(_session, args, backend="asyncio")
    return code


async def _session(args: argparse.Namespace) -> int:
    run: _Action = args.admin_action
    store = await connect_from(args)
    async with store:
        try:
            return await run(store, args)
        except AlreadyExistsError as exc:
            raise FirestoreVerifyError(
                f"{exc.key} is an admin already; nothing changed. Change the role with "
                f"`firestore-verify admins set-role --email {exc.key} --role ROLE`."
            ) from None
        except NotFoundError as exc:
            if exc.resource != "admin user":
                raise FirestoreVerifyError(
                    f"admin_users was changed, but Firebase Auth has no user {exc.key!r} to "
                    "mirror the role claim on or revoke: recreate the user or remove the admin."
                ) from None
            raise FirestoreVerifyError(
                f"no admin {exc.key!r}; see `firestore-verify admins list`.") from None


async def _accounts(store: Store, args: argparse.Namespace,
                    change: Callable[[AdminAccounts, str, Actor], Awaitable[AdminUser]],
                    done: str) -> int:
    actor = cli_actor(args.actor)
    uid = await _uid(store, args)
    async with authenticator_from(args, store) as auth:
        admin = await change(AdminAccounts(store, auth), uid, actor)
    print(f"{admin.email} ({admin.uid}) {done}: role {admin.role.value}, "
          f"{'active' if admin.is_active else 'deactivated'}")
    return EXIT_OK


async def _uid(store: Store, args: argparse.Namespace) -> str:
    """The uid ``--uid`` or ``--email`` names (an admin must have that email)."""
    if args.uid is not None:
        return str(args.uid)
    found = [a async for a in store.admins.iterate(page_size=2, email=args.email)]
    if not found:
        raise NotFoundError("admin user", args.email)
    if len(found) > 1:
        raise FirestoreVerifyError(
            f"{len(found)} admins have the email {args.email!r}: name one with --uid "
            f"({', '.join(a.uid for a in found)}).")
    return found[0].uid


async def _add(store: Store, args: argparse.Namespace) -> int:
    actor = cli_actor(args.actor)
    async with authenticator_from(args, store) as auth:
        admin = await AdminAccounts(store, auth).invite(
            args.email, args.role, full_name=args.name, password=args.password, actor=actor)
    print(f"added {admin.email} ({admin.uid}) as {admin.role.value}")
    if args.password is None:
        print("without --password, a new user sets a password through a password-reset link "
              "(an existing user keeps theirs)")
    return EXIT_OK


async def _set_role(store: Store, args: argparse.Namespace) -> int:
    return await _accounts(store, args, lambda accounts, uid, actor: accounts.set_role(
        uid, args.role, actor=actor), "updated")


async def _deactivate(store: Store, args: argparse.Namespace) -> int:
    return await _accounts(store, args, lambda accounts, uid, actor: accounts.deactivate(
        uid, actor=actor), "deactivated")


async def _activate(store: Store, args: argparse.Namespace) -> int:
    return await _accounts(store, args, lambda accounts, uid, actor: accounts.activate(
        uid, actor=actor), "activated")


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else moment.strftime("%Y-%m-%d %H:%M UTC")


def format_admins(admins: list[AdminUser]) -> str:
    """The admins as a table: uid, email, role, active, last login."""
    rows = [("UID", "EMAIL", "ROLE", "ACTIVE", "LAST LOGIN")]
    rows += [(a.uid, a.email, a.role.value, "yes" if a.is_active else "no", _when(a.last_login))
             for a in admins]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)
                               ).rstrip() for row in rows)


async def _list(store: Store, args: argparse.Namespace) -> int:
    admins = sorted([a async for a in store.admins.iterate()], key=lambda a: (a.email, a.uid))
    if args.json:
        print(json.dumps([{"uid": a.uid, "email": a.email, "full_name": a.full_name,
                           "role": a.role.value, "is_active": a.is_active,
                           "last_login": a.last_login.isoformat() if a.last_login else None}
                          for a in admins], indent=2))
    elif admins:
        print(format_admins(admins))
    else:
        print("no admins yet; add one with `firestore-verify admins add --email E --role owner`")
    return EXIT_OK
