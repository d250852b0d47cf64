"""`CallPolicy`: the one deadline and retry policy of every call to Firestore.

google-cloud-firestore takes ``retry=`` and ``timeout=`` on each call; left to
its defaults a read may retry for five minutes. The store builds one policy
(``connect(timeout=...)``) and the library passes it to every call it makes:

* each attempt has its own deadline (``attempt_timeout``), so a silent network
  cannot hold a call forever;
* transient errors (unavailable, deadline exceeded, resource exhausted,
  internal) are retried with jittered exponential backoff, all attempts within
  ``timeout``;
* whatever outlasts ``timeout`` ends as `UnavailableError`,
  naming the host and what to check, never as google-api-core's ``RetryError``.

Commits that must stay under a write rate (the event writer's) are made with
``retry=None`` and retried by `CallPolicy.run()` around the whole attempt,
so every resend goes through the caller's pacing too.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from google.api_core import exceptions as gexc
from google.api_core.retry import AsyncRetry, exponential_sleep_generator, retry_target_async
from google.api_core.retry.retry_base import RetryFailureReason

from firestore_verify.errors import ConfigurationError, UnavailableError

__all__ = ["TRANSIENT_ERRORS", "CallPolicy", "is_transient"]

T = TypeVar("T")

TRANSIENT_ERRORS: tuple[type[Exception], ...] = (
    gexc.ServiceUnavailable,
    gexc.DeadlineExceeded,
    gexc.TooManyRequests,  # RESOURCE_EXHAUSTED
    gexc.InternalServerError,
    gexc.Unknown,  # grpc's "stream removed" and other connection losses mid-call
)
"""Errors worth another attempt: the call may succeed if made again."""

_GAVE_UP: tuple[type[Exception], ...] = (*TRANSIENT_ERRORS, gexc.RetryError, TimeoutError)
"""What a call ends with when it did not get through: transient errors, exhausted retries,
an expired cancel scope.
"""


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` is an error the policy retries."""
    return isinstance(exc, TRANSIENT_ERRORS)


class _Retry(AsyncRetry):
    """``AsyncRetry`` whose exhaustion raises `UnavailableError`."""

    def __init__(self, policy: CallPolicy, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._policy = policy

    def _copy(self, **changes: Any) -> _Retry:
        # google's with_*() build type(self)(...) without the policy: keep it.
        options: dict[str, Any] = {
            "predicate": self._predicate, "initial": self._initial, "maximum": self._maximum,
            "multiplier": self._multiplier, "timeout": self._timeout, "on_error": self._on_error,
        }
        return _Retry(self._policy, **(options | changes))

    def with_timeout(self, timeout: float | None) -> _Retry:
        """A copy with another overall timeout."""
        return self._copy(timeout=timeout)

    def with_predicate(self, predicate: Callable[[Exception], bool]) -> _Retry:
        """A copy that retries what ``predicate`` accepts."""
        return self._copy(predicate=predicate)

    def with_delay(self, initial: float | None = None, maximum: float | None = None,
                   multiplier: float | None = None) -> _Retry:
        """A copy with other backoff figures."""
        return self._copy(initial=self._initial if initial is None else initial,
                          maximum=self._maximum if maximum is None else maximum,
                          multiplier=self._multiplier if multiplier is None else multiplier)

    def __call__(
        self,
        func: Callable[..., Awaitable[Any]],
        on_error: Callable[[Exception], Any] | None = None,
    ) -> Callable[..., Awaitable[Any]]:
        on_error = self._on_error or on_error
        policy = self._policy

        @functools.wraps(func)
        async def wrapped(*args: Any, **kwargs: Any) -> Any:
            return await retry_target_async(
                functools.partial(func, *args, **kwargs),
                predicate=self._predicate,
                sleep_generator=exponential_sleep_generator(
                    self._initial, self._maximum, multiplier=self._multiplier),
                timeout=self._timeout,
                on_error=on_error,
                exception_factory=policy._exhausted,
            )

        return wrapped


@dataclass(frozen=True)
class CallPolicy:
    """Deadlines and retries of the calls one store makes.

    Build it through ``connect(timeout=..., attempt_timeout=...)``; read it as
    ``store.calls``.
    """

    timeout: float = 30.0
    """Longest one library call may take, retries included, in seconds."""
    attempt_timeout: float = 10.0
    """Longest one attempt may take before it counts as failed and is retried."""
    initial_backoff: float = 0.1
    """First backoff between attempts, in seconds (doubling, jittered)."""
    max_backoff: float = 5.0
    """Largest backoff between attempts, in seconds."""
    host: str | None = None
    """``HOST:PORT`` of the emulator, or ``None`` for Cloud Firestore (for messages)."""

    def __post_init__(self) -> None:
        if not self.timeout > 0 or not self.attempt_timeout > 0:
            raise ConfigurationError(
                f"timeout ({self.timeout!r}) and attempt_timeout ({self.attempt_timeout!r}) "
                "must be positive numbers of seconds."
            )

    @property
    def target(self) -> str:
        """What the calls go to, for messages: the emulator's address or Cloud Firestore."""
        return f"the Firestore emulator at {self.host}" if self.host else "Cloud Firestore"

    def hint(self) -> str:
        """What to check when the target does not answer."""
        if self.host:
            return (f"is the emulator running at {self.host}? A stale FIRESTORE_EMULATOR_HOST "
                    "(or --emulator-host) is the usual cause.")
        return "check the network, the project id and the service's status."

    def retry(self, *, timeout: float | None = None,
              on_error: Callable[[Exception], Any] | None = None) -> AsyncRetry:
        """The ``AsyncRetry`` for one call: transient errors, backoff, within ``timeout``."""
        return _Retry(
            self,
            predicate=is_transient,
            initial=self.initial_backoff,
            maximum=self.max_backoff,
            multiplier=2.0,
            timeout=self.timeout if timeout is None else timeout,
            on_error=on_error,
        )

    @property
    def options(self) -> dict[str, Any]:
        """``retry=`` and ``timeout=`` keyword arguments for a google-cloud-firestore call."""
        return {"retry": self.retry(), "timeout": min(self.attempt_timeout, self.timeout)}

    @property
    def attempt(self) -> dict[str, Any]:
        """Keyword arguments for one attempt and no inner retry (the caller retries)."""
        return {"retry": None, "timeout": min(self.attempt_timeout, self.timeout)}

    def backoff(self, *, maximum: float | None = None) -> Iterator[float]:
        """Jittered, doubling waits between attempts (for loops that restart a listener)."""
        waits: Iterator[float] = exponential_sleep_generator(
            self.initial_backoff, self.max_backoff if maximum is None else maximum, 2.0)
        return waits

    async def run(self, attempt: Callable[[], Awaitable[T]], *,
                  on_error: Callable[[Exception], Any] | None = None) -> T:
        """Await ``attempt()`` under this policy: retried while transient, within ``timeout``."""
        result: T = await self.retry(on_error=on_error)(attempt)()
        return result

    async def collect(self, stream: Callable[[], AsyncIterator[T]], *,
                      on_error: Callable[[Exception], Any] | None = None) -> list[T]:
        """Every item of ``stream()``, the whole read retried while transient.

        google's ``retry=`` covers opening a streamed read (``get_all``, a batch
        lookup), not an error mid-stream such as a connection reset: this
        retries the read as a whole instead. ``stream`` opens the read afresh
        and should use `attempt` (no inner retry).
        """

        async def attempt() -> list[T]:
            return [item async for item in stream()]

        return await self.run(attempt, on_error=on_error)

    def unavailable(self, cause: BaseException | None = None) -> UnavailableError:
        """The typed error for calls that did not get through in time."""
        why = f" (last error: {_describe(cause)})" if cause is not None else ""
        return UnavailableError(
            f"{self.target} did not answer within {self.timeout:g}s{why}; {self.hint()}",
            host=self.host,
        )

    def _exhausted(self, errors: list[Exception], reason: RetryFailureReason,
                   timeout: float | None) -> tuple[Exception, Exception | None]:
        last = errors[-1] if errors else None
        if reason == RetryFailureReason.TIMEOUT:
            return self.unavailable(last), last
        assert last is not None
        return last, None

    @contextmanager
    def translate(self) -> Iterator[None]:
        """Turn a transient error that escaped every retry into `UnavailableError`.

        For what no ``retry=`` covers: a stream cut mid-iteration, a transaction's
        commit, a deadline the caller enforced with a cancel scope.
        """
        try:
            yield
        except _GAVE_UP as exc:
            raise self.unavailable(exc) from exc


def _describe(exc: BaseException) -> str:
    if isinstance(exc, gexc.GoogleAPICallError):
        return f"{type(exc).__name__}: {exc.message}"
    if isinstance(exc, TimeoutError):
        return "no answer"
    return f"{type(exc).__name__}: {exc}"
