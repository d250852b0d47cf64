"""fsv-dashboard: the live admin dashboard of firestore-verify (server-rendered, htmx + SSE)."""

from fsv_dashboard.app import create_app
from fsv_dashboard.settings import DashboardSettings

__all__ = ["DashboardSettings", "create_app"]
