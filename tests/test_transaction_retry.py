"""Transaction retries wait a random, growing delay: colliding writers stop colliding."""

from __future__ import annotations

import random

from firestore_verify.repositories import _base


def test_retry_delays_grow_to_the_cap_and_are_spread() -> None:
    random.seed(7)
    for retry, ceiling in [(1, 0.2), (2, 0.4), (3, 0.8), (4, 1.6), (5, 2.0), (9, 2.0)]:
        delays = [_base._retry_delay(retry) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays), (retry, max(delays))
        # Spread over the window, not bunched: collisions repeat when waits agree.
        assert max(delays) - min(delays) > ceiling / 2, (retry, min(delays), max(delays))
