"""Benchmarks 6 and 7: the admin API (``examples/api``) on the dataset of benchmarks 2-3.

The runner hands over the dataset's store once it holds ``api_events`` events
(its project is a ``demo-`` one, which the Auth emulator's tokens need), and
the Auth emulator (``--auth-emulator-host``, or one it started beside the
Firestore emulator: ``api_server.BackgroundAuthEmulator``). This signs a
viewer up on it,
makes it an admin, protects ``api_groups`` groups, then runs
``bench.api_latency`` (6) and ``bench.api_streams`` (7).
"""

from __future__ import annotations

import anyio

import firestore_verify as fv
from bench import api_latency, api_streams
from bench.api_server import admin_headers, protect_groups, served
from bench.harness import Context, Row, progress
from firestore_verify.testing import AuthEmulator


async def run(ctx: Context, store: fv.Store, auth_host: str) -> list[Row]:
    """Rows of benchmarks 6 and 7 on ``store`` (which holds the dataset)."""
    sizes = ctx.sizes
    emulator = AuthEmulator.attach(auth_host)
    progress(f"  Auth emulator at {emulator.host}")
    headers = await admin_headers(emulator, store)
    await protect_groups(store, sizes.api_groups)
    authenticator = fv.Authenticator(store, emulator_host=emulator.host)
    try:
        progress(f"6. admin API latency, {sizes.api_clients} concurrent clients")
        async with served(store, authenticator, headers) as api:
            latencies = await api_latency.measure(api, store, sizes)
        progress(f"7. admin API SSE: 1 vs {sizes.api_subscribers} subscribers")
        one, many = await api_streams.measure(store, authenticator, headers, sizes)
    finally:
        with anyio.CancelScope(shield=True):
            await authenticator.close()
    return api_latency.rows(latencies, sizes) + api_streams.rows(one, many, sizes)
