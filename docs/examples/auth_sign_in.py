"""Sign an admin in: ID token -> Principal -> session cookie.

In production the browser signs in with the Firebase JS SDK and sends its ID
token; here the Auth emulator's REST API plays the browser. Run it with both
emulators (project ids must start with ``demo-``):

    FIRESTORE_EMULATOR_HOST=127.0.0.1:8080 FIREBASE_AUTH_EMULATOR_HOST=127.0.0.1:9099 \\
        python docs/examples/auth_sign_in.py
"""

from __future__ import annotations

import anyio

import firestore_verify as fv
from firestore_verify.auth import Authenticator, Principal
from firestore_verify.testing import AuthEmulator


# --8<-- [start:main]
async def main(auth: Authenticator, emulator: AuthEmulator) -> Principal:
    # The browser signs up and in (Firebase JS SDK); the server gets an ID token.
    uid, id_token = emulator.sign_up(auth.project, "ada@example.com", "correct-horse")

    # Nobody gets in without an active admin_users/{uid} document.
    try:
        await auth.verify_id_token(id_token)
    except fv.AuthenticationError as exc:
        print("refused:", str(exc).replace(uid, "<uid>"))  # a new uid every run

    await auth.store.admins.create(fv.AdminUser(uid=uid, email="ada@example.com",
                                                role=fv.Role.ADMIN))
    principal = await auth.verify_id_token(id_token)
    print(principal.email, principal.role.value)
    print("write groups:", principal.can(fv.Permission.WRITE_GROUPS))
    print("manage admins:", principal.can(fv.Permission.MANAGE_ADMINS))

    # A session cookie for the dashboard: only for active admins, and records the login.
    cookie = await auth.create_session_cookie(id_token)
    same = await auth.verify_session_cookie(cookie)
    print("cookie for", same.uid == uid, "last login set:", same.admin.last_login is not None)
    return principal


# --8<-- [end:main]


# --8<-- [start:connect]
async def verify(id_token: str) -> Principal:
    # connect() finds the project and credentials; the Authenticator takes the
    # store's, without any I/O. Leaving the block closes the Authenticator, then the store.
    async with await fv.connect() as store, Authenticator(store) as auth:
        return await auth.verify_id_token(id_token)


# --8<-- [end:connect]


async def run() -> None:
    host = "127.0.0.1:9099"  # a running `firebase emulators:start --only auth`
    async with await fv.connect(project="demo-my-bot") as store, Authenticator(
        store, emulator_host=host
    ) as auth:
        await main(auth, AuthEmulator.attach(host))


if __name__ == "__main__":
    anyio.run(run)
