"""Test against the real Cloud Firestore and Firebase Auth emulators.

Two layers:

* ``FirestoreEmulator`` and ``AuthEmulator`` start and stop the official
  emulators (usable from any test runner or script);
* the pytest plugin ``firestore_verify.testing.plugin``, registered
  automatically when firestore-verify is installed, provides the
  ``firestore_emulator``, ``firestore_project`` and ``store`` fixtures, and
  ``auth_emulator``, ``auth_project``, ``admin_store`` and ``authenticator``;
  ``add_admin()`` makes a signed-up user an admin of a store in one call;
* ``FaultProxy`` sits between a client and the emulator and injects network
  faults (latency, resets, outages, silence, lost responses) on command;
* ``RedisServer`` runs a throwaway redis-server (free port, no persistence)
  that tests can stop and restart.
"""

from __future__ import annotations

from firestore_verify.testing.admins import add_admin
from firestore_verify.testing.auth_emulator import (
    AuthEmulator,
    FirebaseToolsNotFoundError,
    OobCode,
    find_firebase_bin,
)
from firestore_verify.testing.emulator import (
    EmulatorError,
    EmulatorNotFoundError,
    FirestoreEmulator,
    JavaNotFoundError,
    find_emulator_jar,
    find_java,
)
from firestore_verify.testing.faults import Fault, FaultProxy, FaultStats, refused_host
from firestore_verify.testing.redis_server import (
    RedisNotFoundError,
    RedisServer,
    RedisServerError,
    find_redis_server,
)

__all__ = [
    "AuthEmulator",
    "EmulatorError",
    "EmulatorNotFoundError",
    "Fault",
    "FaultProxy",
    "FaultStats",
    "FirebaseToolsNotFoundError",
    "FirestoreEmulator",
    "JavaNotFoundError",
    "OobCode",
    "RedisNotFoundError",
    "RedisServer",
    "RedisServerError",
    "add_admin",
    "find_emulator_jar",
    "find_firebase_bin",
    "find_java",
    "find_redis_server",
    "refused_host",
]
