"""``fsv-api``: serve the admin API with uvicorn, settings from the environment.

The store and the authenticator are opened before the server starts, so a
configuration problem is one clear line and exit status 2, not a failed start-up.
SIGINT and SIGTERM stop the server gracefully and the command exits 0.
"""

from __future__ import annotations

import sys

import firestore_verify as fv
from fsv_api.app import create_app
from fsv_api.settings import ApiSettings

__all__ = ["main"]


def main() -> int:
    """Read the settings, serve until SIGINT/SIGTERM; exit 2 on bad configuration."""
    try:
        settings = ApiSettings.from_env()
    except fv.ConfigurationError as exc:
        print(f"invalid admin API configuration:\n{exc}", file=sys.stderr)
        return 2
    fv.setup_json_logging(settings.log_level)
    return fv.run_admin_app(
        lambda backend: create_app(settings, store=backend.store, authenticator=backend.auth),
        host=settings.host, port=settings.port, database=settings.database,
        prefix=settings.collection_prefix, proxy_headers=settings.trust_forwarded)


if __name__ == "__main__":
    sys.exit(main())
