"""``fsv-dashboard``: serve the dashboard with uvicorn, settings from the environment."""

from __future__ import annotations

import sys

import uvicorn
from pydantic import ValidationError

import firestore_verify as fv
from fsv_dashboard.app import create_app
from fsv_dashboard.settings import DashboardSettings


def main() -> int:
    """Read the settings, serve until SIGINT/SIGTERM; exit 2 on bad configuration."""
    try:
        settings = DashboardSettings()
    except ValidationError as exc:
        print(f"invalid dashboard configuration:\n{exc}", file=sys.stderr)
        return 2
    fv.setup_json_logging(settings.log_level)
    try:
        app = create_app(settings)
        uvicorn.run(app, host=settings.host, port=settings.port, log_config=None,
                    proxy_headers=settings.trust_forwarded, lifespan="on")
    except fv.ConfigurationError as exc:
        print(f"invalid configuration: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
