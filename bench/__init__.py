"""Benchmarks of firestore-verify, each figure beside a naive baseline (``make bench``).

Every figure is measured in the same run, against a Cloud Firestore emulator the
bench starts itself (and always stops):

1. ``logging_throughput``: 5,000 events from 8 concurrent producers, the logger vs
   the naive ``add()`` + ``Increment`` pattern and vs bare atomic batches;
2. ``totals``: ``store.stats.get()`` vs a ``count()`` aggregation at 1k/10k/100k events;
3. ``summary``: a 30-day ``store.analytics.summary`` vs scanning the events;
4. ``watch_latency``: ``record()`` to ``store.stats.watch()`` at about 10 events/s;
5. ``memory``: tracemalloc peak of the logger while 100k events pass through it;
6. ``api_latency`` (``--only api``, with 7): the admin API (``examples/api``) on a
   real uvicorn, on the 100k-event dataset of 2-3 with 200 groups: p50 / p95 of
   ``GET /api/v1/dashboard/stats``, ``GET /api/v1/groups`` and
   ``GET /api/v1/analytics/verifications?period=30d`` under 50 concurrent httpx
   clients (a viewer's bearer ID token from the Auth emulator; the 1-client
   figure in brackets), beside the same answer computed from the raw
   collections the legacy SQL API's way (``api_baselines``: 13 ``count()``
   aggregations, listing every group, scanning 60 days of events), one call at
   a time; the ratio is baseline / API and the answers must be equal;
7. ``api_streams``: Firestore listeners (``hub.streams``, gRPC listener threads)
   and documents read by the server while 5 events are written, with 50 SSE
   subscribers of ``/api/v1/stream/dashboard`` against 1: the same (~1.0x).

6 and 7 need the Auth emulator (firebase-tools, started beside the Firestore
emulator, or ``--auth-emulator-host``); without it they are skipped.

Run ``python -m bench --help`` for the options (``--quick`` for a smoke run).
"""
