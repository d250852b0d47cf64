"""Serving an admin app with uvicorn: a stop signal is a normal end (exit status 0).

uvicorn re-raises SIGINT and SIGTERM after its graceful shutdown, so a service
manager sees every stop as a crash. :func:`serve` stops just as gracefully and
returns. uvicorn is the apps' dependency (``pip install firestore-verify[serve]``).
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

__all__ = ["serve"]


async def serve(app: Any, *, host: str, port: int, proxy_headers: bool = False) -> None:
    """Serve the ASGI ``app`` on ``host:port`` until SIGINT or SIGTERM, then return.

    Logging is left as the caller configured it (see :func:`setup_json_logging`).
    """
    import uvicorn  # the apps' dependency, not the library's

    class _Server(uvicorn.Server):
        @contextmanager
        def capture_signals(self) -> Iterator[None]:
            def stop(signum: int, frame: FrameType | None) -> None:
                self.handle_exit(signum, frame)

            previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
            try:
                yield
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

    config = uvicorn.Config(app, host=host, port=port, log_config=None,
                            proxy_headers=proxy_headers, lifespan="on")
    await _Server(config).serve()
