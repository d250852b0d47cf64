"""Reference admin API on firestore-verify: JSON under ``/api/v1`` plus one SSE stream per page.

``create_app()`` builds the FastAPI app; ``fsv-api`` serves it with uvicorn.
"""

from fsv_api.app import create_app
from fsv_api.settings import ApiSettings

__all__ = ["ApiSettings", "create_app"]
