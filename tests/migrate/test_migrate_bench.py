"""The 100k-row migration, measured: opt in with FIRESTORE_VERIFY_BENCH=1 (it takes minutes).

Same as ``python -m bench.migrate_sql``; kept out of the default run for its length.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.environ.get("FIRESTORE_VERIFY_BENCH") != "1",
                       reason="takes minutes: set FIRESTORE_VERIFY_BENCH=1 (or run "
                              "python -m bench.migrate_sql)"),
]


def test_100k_rows_migrate_in_bounded_memory(firestore_emulator: Any) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from bench import migrate_sql

    args = migrate_sql.argparse.Namespace(users=5000, days=30, batch_size=500, postgres=False,
                                          tracemalloc=False)
    small = migrate_sql.run_one(10_000, args, firestore_emulator.host)
    large = migrate_sql.run_one(100_000, args, firestore_emulator.host)
    for result, rows in ((small, 10_000), (large, 100_000)):
        assert result["events"] == rows
        assert result["in_sync"]
    growth_small = small["rss_peak"] - small["rss_before"]
    growth_large = large["rss_peak"] - large["rss_before"]
    # Ten times the rows, not ten times the memory: rows stream through in batches.
    assert growth_large < growth_small + 64 * 1024 * 1024
    print(f"\n100k rows: {100_000 / large['first_s']:.0f} rows/s, "
          f"RSS growth {growth_large / 2**20:.0f} MB (10k rows: {growth_small / 2**20:.0f} MB)")
