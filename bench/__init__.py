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
   subscribers of ``/api/v1/stream/dashboard`` against 1: the same (~1.0x);
8. ``dashboard`` (``--only dashboard``, with 9 and 10): the dashboard
   (``examples/dashboard``) on a real uvicorn, on the same dataset, in headless
   Debian Chromium (Playwright, ``executable_path``): p50 / p95 of the time from
   navigation start to a fully rendered ``/`` for a signed-in owner, each load
   in a fresh browser context (empty cache): the later of the load event's end
   and the first SSE swaps of the cards and the feed (which must show the
   dataset's total), against the seed's target, 300 ms (ratio target /
   measured; first byte and load event in brackets);
9. write to DOM: events written one at a time with ``write_many`` at about
   10/s (fewer when writes are slower) for 10 s under an open dashboard;
   p50 / p95 from ``time.time()`` before each write to a ``MutationObserver``'s
   ``Date.now()`` when its feed row appears, against the seed's target, 500 ms;
10. dashboard fan-out: Firestore listeners (``hub.streams``, listener threads)
    and documents delivered to the server's listeners while 5 events are
    written, with 20 dashboards open (4 pages per browser context) against 1:
    the same (~1.0x).

6 to 10 need the Auth emulator (firebase-tools, started beside the Firestore
emulator, or ``--auth-emulator-host``); without it they are skipped, and 8 to
10 without Chromium (``apt-get install chromium``).

Run ``python -m bench --help`` for the options (``--quick`` for a smoke run).
"""
