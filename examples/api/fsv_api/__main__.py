"""``fsv-api``: serve the admin API with uvicorn, settings from the environment.

The store and the authenticator are built before the server starts, so a
configuration problem is one clear line and exit status 2, not a failed start-up.
SIGINT and SIGTERM stop the server gracefully and the command exits 0.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

import uvicorn
from pydantic import ValidationError

import firestore_verify as fv
from fsv_api.app import create_app
from fsv_api.settings import ApiSettings

__all__ = ["main"]


class _Server(uvicorn.Server):
    """uvicorn's server, but a stop signal ends it normally instead of being re-raised."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Stop gracefully on SIGINT/SIGTERM; restore the previous handlers afterwards."""
        def stop(signum: int, frame: FrameType | None) -> None:
            self.handle_exit(signum, frame)

        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


async def serve(settings: ApiSettings) -> int:
    """Connect, serve until stopped, close; 2 when the configuration is incomplete."""
    try:
        store = await fv.connect(database=settings.database, prefix=settings.collection_prefix)
        authenticator = fv.Authenticator(store)
    except fv.ConfigurationError as exc:
        print(f"invalid configuration: {exc}", file=sys.stderr)
        return 2
    try:
        app = create_app(settings, store=store, authenticator=authenticator)
        config = uvicorn.Config(app, host=settings.host, port=settings.port, log_config=None,
                                proxy_headers=settings.trust_forwarded, lifespan="on")
        await _Server(config).serve()
    finally:
        await authenticator.close()
        await store.close()
    return 0


def main() -> int:
    """Read the settings, serve until SIGINT/SIGTERM; exit 2 on bad configuration."""
    try:
        settings = ApiSettings()
    except ValidationError as exc:
        print(f"invalid API configuration (FSV_API_* variables):\n{exc}", file=sys.stderr)
        return 2
    fv.setup_json_logging(settings.log_level)
    return asyncio.run(serve(settings))


if __name__ == "__main__":
    sys.exit(main())
