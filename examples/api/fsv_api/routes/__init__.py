"""The API's routers, one module per area; ``app.py`` mounts them under ``/api/v1``."""
