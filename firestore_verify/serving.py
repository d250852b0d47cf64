"""Serving an admin app with uvicorn: a stop signal is a normal end (exit status 0).

uvicorn re-raises SIGINT and SIGTERM after its graceful shutdown, so a service
manager sees every stop as a crash. `serve()` stops just as gracefully and
returns. uvicorn is the apps' dependency (``pip install firestore-verify[serve]``).
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from firestore_verify.admin_backend import AdminBackend, admin_backend
from firestore_verify.errors import ConfigurationError

__all__ = ["run_admin_app", "serve"]


async def serve(app: Any, *, host: str, port: int, proxy_headers: bool = False) -> None:
    """Serve the ASGI ``app`` on ``host:port`` until SIGINT or SIGTERM, then return.

    Logging is left as the caller configured it (see `setup_json_logging()`).
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


def run_admin_app(
    build: Callable[[AdminBackend], Any],
    *,
    host: str,
    port: int,
    database: str = "(default)",
    prefix: str = "",
    proxy_headers: bool = False,
) -> int:
    """An admin app's command: connect, build the app, serve until stopped.

    The store and authenticator are opened (`admin_backend()`) before the
    server starts, so a configuration problem is one line on stderr and exit
    status 2 instead of a failed start-up; SIGINT and SIGTERM give status 0.

    Args:
        build: Makes the ASGI app from the opened backend (e.g. ``lambda b:
            create_app(settings, store=b.store, authenticator=b.auth)``).
        host: Interface to listen on.
        port: Port to listen on.
        database: Firestore database id.
        prefix: Collection prefix of the store.
        proxy_headers: Trust ``X-Forwarded-*`` headers (behind a proxy you run).
    """

    async def main() -> int:
        try:
            async with admin_backend(database=database, prefix=prefix) as backend:
                await serve(build(backend), host=host, port=port, proxy_headers=proxy_headers)
        except ConfigurationError as exc:
            print(f"invalid configuration: {exc}", file=sys.stderr)
            return 2
        return 0

    return asyncio.run(main())
