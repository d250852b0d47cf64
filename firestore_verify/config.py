"""Resolve how to reach Firestore: the emulator or production credentials.

Kept apart from `firestore_verify.store` so the rules (which variable wins,
what is contradictory) can be read, and tested, on their own.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, Field

from firestore_verify.env_settings import EnvSettings
from firestore_verify.errors import ConfigurationError

__all__ = ["ConnectionSettings", "resolve_settings"]

EMULATOR_HOST_VAR = "FIRESTORE_EMULATOR_HOST"
PROJECT_VARS = ("FIREBASE_PROJECT_ID", "GOOGLE_CLOUD_PROJECT", "GCLOUD_PROJECT")
_PROJECT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,99}")
"""Project ids: Google's (``my-bot-123``), older domain-scoped ones (``example.com:my-bot``)
and the short ids tests use against the emulator. Never blanks or ``/``.
"""
_DATABASE_ID = re.compile(r"[a-z][a-z0-9-]{2,61}[a-z0-9]")
"""Named Firestore databases: 4-63 of a-z 0-9 -, starting with a letter."""


class _FirebaseEnv(EnvSettings):
    """The Firebase and Google variables the library reads (`connect`, `AdminAuth`)."""

    emulator_host: str | None = Field(default=None, validation_alias=EMULATOR_HOST_VAR)
    """``HOST:PORT`` of the Firestore emulator."""
    auth_emulator_host: str | None = Field(default=None,
                                           validation_alias="FIREBASE_AUTH_EMULATOR_HOST")
    """``HOST:PORT`` of the Firebase Auth emulator."""
    project: str | None = Field(default=None, validation_alias=AliasChoices(*PROJECT_VARS))
    """The project id: the first of ``PROJECT_VARS`` that is set."""
    key_project: str = Field(default="", validation_alias="FIREBASE_PROJECT_ID")
    """The project id a ``FIREBASE_PRIVATE_KEY`` belongs to."""
    client_email: str | None = Field(default=None, validation_alias="FIREBASE_CLIENT_EMAIL")
    """A service account's e-mail (with ``private_key``)."""
    private_key: str | None = Field(default=None, validation_alias="FIREBASE_PRIVATE_KEY",
                                    repr=False)
    """A service account's private key (with ``client_email``)."""
    credentials_file: str | None = Field(default=None,
                                         validation_alias="GOOGLE_APPLICATION_CREDENTIALS")
    """Path of a service-account key file."""


@dataclass(frozen=True)
class ConnectionSettings:
    """Where to connect and with which credentials (already validated)."""

    project: str
    database: str
    emulator_host: str | None
    service_account: Mapping[str, Any] | None
    """A parsed service-account key, or ``None`` for the emulator / ADC."""
    use_application_default: bool


def _service_account_from_env(env: _FirebaseEnv) -> dict[str, Any] | None:
    email, key = env.client_email, env.private_key
    if not email and not key:
        return None
    if not email or not key:
        missing = "FIREBASE_PRIVATE_KEY" if email else "FIREBASE_CLIENT_EMAIL"
        raise ConfigurationError(
            f"{missing} is not set but its partner is: set both FIREBASE_CLIENT_EMAIL "
            "and FIREBASE_PRIVATE_KEY, or neither (to use application default credentials)."
        )
    return {
        "type": "service_account",
        "project_id": env.key_project,
        "client_email": email,
        # Keys pasted into env files usually carry literal "\n" sequences.
        "private_key": key.replace("\\n", "\n"),
        "token_uri": "https://oauth2.googleapis.com/token",
    }


def _service_account_from_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    file = Path(path)
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigurationError(
            f"service-account file {str(file)!r} does not exist: download a key from the "
            "Firebase console (Project settings > Service accounts) and pass its path."
        ) from None
    except (OSError, ValueError) as exc:
        raise ConfigurationError(
            f"service-account file {str(file)!r} is not a readable JSON key ({exc}): "
            "download a fresh key from the Firebase console."
        ) from None
    if not isinstance(data, dict) or data.get("type") != "service_account":
        raise ConfigurationError(
            f"{str(file)!r} is not a service-account key (its 'type' must be "
            "'service_account'): download one from the Firebase console."
        )
    for field in ("client_email", "private_key"):
        if not data.get(field):
            raise ConfigurationError(
                f"service-account file {str(file)!r} has no {field!r}: download a fresh key."
            )
    return data


def resolve_settings(
    *,
    project: str | None,
    database: str,
    credentials_file: str | os.PathLike[str] | None,
    emulator_host: str | None,
    env: Mapping[str, str] | None,
) -> ConnectionSettings:
    """Decide how to connect from the arguments, then the environment.

    Arguments win over the environment. The emulator (``FIRESTORE_EMULATOR_HOST``)
    needs only a project id. Production takes, in order: ``credentials_file``, the
    ``FIREBASE_CLIENT_EMAIL``/``FIREBASE_PRIVATE_KEY`` pair,
    ``GOOGLE_APPLICATION_CREDENTIALS``, then application default credentials.
    """
    variables = _FirebaseEnv.from_env(env)
    if database != "(default)" and not _DATABASE_ID.fullmatch(database):
        raise ConfigurationError(
            f"database id {database!r} is not valid: use '(default)' or the id of a named "
            "Firestore database (4-63 of a-z, 0-9 and '-', starting with a letter)."
        )
    host = emulator_host if emulator_host is not None else variables.emulator_host
    if host is not None and (":" not in host or not host.rsplit(":", 1)[1].isdigit()):
        raise ConfigurationError(
            f"emulator host {host!r} must look like HOST:PORT, e.g. 127.0.0.1:8080 "
            f"(check {EMULATOR_HOST_VAR})."
        )

    service_account: dict[str, Any] | None = None
    if host is None:
        if credentials_file is not None:
            if variables.private_key:
                raise ConfigurationError(
                    "both a credentials file and FIREBASE_PRIVATE_KEY were given: "
                    "use one of them, not both."
                )
            service_account = _service_account_from_file(credentials_file)
        else:
            service_account = _service_account_from_env(variables)
            if service_account is None and variables.credentials_file:
                service_account = _service_account_from_file(variables.credentials_file)

    resolved_project = project or variables.project
    if service_account is not None:
        key_project = service_account.get("project_id") or None
        if resolved_project and key_project and resolved_project != key_project:
            raise ConfigurationError(
                f"project {resolved_project!r} does not match the service-account key's "
                f"project {key_project!r}: pass the key of the project you connect to."
            )
        resolved_project = resolved_project or key_project
    if not resolved_project:
        where = "the emulator" if host else "Firestore"
        raise ConfigurationError(
            f"no project id to connect {where} to: pass connect(project=...) or set "
            "FIREBASE_PROJECT_ID."
        )
    if not _PROJECT_ID.fullmatch(resolved_project):
        raise ConfigurationError(
            f"project id {resolved_project!r} is not valid: use the id shown in the Firebase "
            "console (letters, digits and '-', e.g. my-bot-123); pass connect(project=...) "
            "or set FIREBASE_PROJECT_ID."
        )
    return ConnectionSettings(
        project=resolved_project,
        database=database,
        emulator_host=host,
        service_account=service_account,
        use_application_default=host is None and service_account is None,
    )
