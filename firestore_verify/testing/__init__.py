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
  faults (latency, resets, outages, silence, lost responses) on command.
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
from firestore_verify.testing.faults import Fault, FaultProxy, FaultStats

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
    "add_admin",
    "find_emulator_jar",
    "find_firebase_bin",
    "find_java",
]
