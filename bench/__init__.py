"""Benchmarks of firestore-verify, each figure beside a naive baseline (``make bench``).

Every figure is measured in the same run, against a Cloud Firestore emulator the
bench starts itself (and always stops):

1. ``logging_throughput``: 5,000 events from 8 concurrent producers, the logger vs
   the naive ``add()`` + ``Increment`` pattern and vs bare atomic batches;
2. ``totals``: ``store.stats.get()`` vs a ``count()`` aggregation at 1k/10k/100k events;
3. ``summary``: a 30-day ``store.analytics.summary`` vs scanning the events;
4. ``watch_latency``: ``record()`` to ``store.stats.watch()`` at about 10 events/s;
5. ``memory``: tracemalloc peak of the logger while 100k events pass through it.

Run ``python -m bench --help`` for the options (``--quick`` for a smoke run).
"""
