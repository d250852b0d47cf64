"""Telegram calls that must get through: retried with backoff, honouring ``RetryAfter``.

Flood control (HTTP 429) says exactly how long to wait: we wait that long. Network
errors and timeouts back off exponentially with jitter. Anything else (``BadRequest``,
``Forbidden``) is permanent and raised at once.
"""

from __future__ import annotations

import logging
import random
import warnings
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TypeVar

import anyio
from telegram.error import BadRequest, NetworkError, RetryAfter, TelegramError
from telegram.warnings import PTBDeprecationWarning

from fsv_bot.metrics import Metrics

__all__ = ["retry_after_seconds", "with_retry"]

T = TypeVar("T")
log = logging.getLogger("fsv_bot.retry")


def retry_after_seconds(exc: RetryAfter) -> float:
    """Seconds to wait, whether this PTB returns an int or a timedelta (22.2+)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


# --8<-- [start:retry]
async def with_retry(
    call: Callable[[], Awaitable[T]],
    *,
    method: str,
    metrics: Metrics,
    attempts: int = 4,
    base_delay: float = 0.5,
    max_delay: float = 30.0,
    extra: dict[str, object] | None = None,
) -> T:
    """Run ``call`` until it succeeds, at most ``attempts`` times; raise the last error.

    ``RetryAfter`` waits the time Telegram asks for (capped by ``max_delay``);
    network errors, timeouts and 5xx wait ``base_delay * 2**n`` with ±50 % jitter.
    Every failure is counted in ``fsv_telegram_api_errors{method,error_type}``.
    """
    for attempt in range(1, attempts + 1):
        try:
            return await call()
        except TelegramError as exc:
            error_type = type(exc).__name__
            metrics.api_errors.labels(method=method, error_type=error_type).inc()
            if isinstance(exc, RetryAfter):
                delay = min(retry_after_seconds(exc), max_delay)
            elif isinstance(exc, NetworkError) and not isinstance(exc, BadRequest):
                # Timeouts, connection errors, 5xx (PTB's BadRequest is a NetworkError too).
                delay = min(base_delay * 2 ** (attempt - 1), max_delay)
                delay *= 0.5 + random.random()
            else:
                raise
            if attempt == attempts:
                raise
            log.warning(
                "%s failed (%s), retrying in %.2fs", method, exc, delay,
                extra={**(extra or {}), "method": method, "attempt": attempt,
                       "error_type": error_type, "retry_after": delay},
            )
            await anyio.sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover
# --8<-- [end:retry]
