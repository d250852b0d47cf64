"""Test against the real Cloud Firestore emulator.

Two layers:

* ``FirestoreEmulator`` starts and stops the official emulator (usable from
  any test runner or script);
* the pytest plugin ``firestore_verify.testing.plugin``, registered
  automatically when firestore-verify is installed, provides the
  ``firestore_emulator``, ``firestore_project`` and ``store`` fixtures.
"""

from __future__ import annotations

from firestore_verify.testing.emulator import (
    EmulatorError,
    EmulatorNotFoundError,
    FirestoreEmulator,
    JavaNotFoundError,
    find_emulator_jar,
    find_java,
)

__all__ = [
    "EmulatorError",
    "EmulatorNotFoundError",
    "FirestoreEmulator",
    "JavaNotFoundError",
    "find_emulator_jar",
    "find_java",
]
