"""`python -m bench --quick` runs end to end and prints every row (so the bench cannot rot).

The dashboard's rows (8-10) need Chromium too: without it they are left out.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from firestore_verify.testing import AuthEmulator, FirestoreEmulator

ROOT = Path(__file__).resolve().parent.parent

#: Benchmarks 6 and 7 (the admin API): rows that need the Auth emulator too.
API_ROWS = [
    *(rf"6\. API GET {path} @ \S+ events, \d+ clients: p{pct}"
      for path in ("/dashboard/stats", "/groups", r"/analytics/verifications\?period=30d")
      for pct in (50, 95)),
    r"7\. API SSE /stream/dashboard, \d+ subscribers vs 1: Firestore listeners",
    r"7\. API SSE /stream/dashboard, \d+ subscribers vs 1: docs read while \d+ events "
    r"are written",
]
#: Benchmarks 8-10 (the dashboard in Chromium): rows that need the Auth emulator and Chromium.
DASHBOARD_ROWS = [
    *(rf"8\. dashboard page load @ \S+ events, signed-in owner: p{pct}" for pct in (50, 95)),
    *(rf"9\. verification to dashboard DOM @ ~\S+ ev/s for \S+ s: p{pct}" for pct in (50, 95)),
    r"10\. dashboard, \d+ pages open vs 1: Firestore listeners",
    r"10\. dashboard, \d+ pages open vs 1: docs read while \d+ events are written",
]
#: One pattern per row of the table, in order.
EXPECTED_ROWS = [
    r"1\. log \S+ events, 8 producers: logger settings",
    r"1\. log .*: logger vs naive",
    r"1\. log .*: logger vs bare batches",
    r"1\. log .*: bare batches vs naive \(the most batching can give\)",
    r"1\. log .*: CPU per 1k events, client / emulator",
    r"1\. log .*: peak writes/s to one hot doc",
    r"1\. log .*: docs written per event",
    r"1\. log .*: counters == events",
    r"4\. write-to-watch .*: logger settings",
    r"4\. write-to-watch .*: p50",
    r"4\. write-to-watch .*: p95",
    r"4\. write-to-watch .*: peak writes/s to one hot doc",
    r"2\. dashboard totals @ \S+ events: stats\.get\(\) vs count\(\)",
    r"2\. dashboard totals @ \S+ events: stats\.get\(\) vs count\(\)",
    r"2\. dashboard totals @ \S+ events: stats\.get\(\) vs count\(\)",
    r"2\. shards @ \S+ events: stats doc \+ a shards query "
    r"\(why stats\.get\(\) reads shards by id\)",
    r"2\. stats\.get\(\) flat \S+ -> \S+ events",
    r"3\. 30-day summary @ \S+ events: rollups vs scan",
    r"3\. 30-day summary @ \S+ events: rollups vs scan",
    r"3\. 30-day summary @ \S+ events: rollups vs scan",
    *API_ROWS,
    *DASHBOARD_ROWS,
    r"5\. peak memory, \S+ events through the logger",
    *(rf"11\. membership check, {name}: p{pct}"
      for name in ("miss", "in-memory hit", "Redis hit") for pct in (50, 95)),
    *(rf"12\. fleet of {n} process(es)? at \S+ ev/s each, 4 leased shards: {figure}"
      for n in (1, 2) for figure in (r"events/s stored",
                                     r"peak writes/s to one hot doc, whole fleet",
                                     r"events taken - counted")),
]
#: Rows whose target is correctness, not speed: they must hold even at tiny sizes.
MUST_HOLD = ("counters == events", "30-day summary", "6. API", "7. API", "10. dashboard",
             "peak writes/s to one hot doc, whole fleet", "events taken - counted")


def _auth_emulator_host(request: pytest.FixtureRequest) -> str | None:
    """The session's Auth emulator (shared with the API tests), or ``None`` if skipped here."""
    try:
        emulator: AuthEmulator = request.getfixturevalue("auth_emulator")
    except pytest.skip.Exception:  # no firebase-tools / Node.js (a failure still fails)
        return None
    return emulator.host


def test_quick_bench_prints_every_row(firestore_emulator: FirestoreEmulator,
                                      request: pytest.FixtureRequest, tmp_path: Path) -> None:
    results = tmp_path / "results.json"
    auth_host = _auth_emulator_host(request)
    if auth_host:
        options = ["--auth-emulator-host", auth_host]
        expected = EXPECTED_ROWS
        if not (shutil.which("chromium") or shutil.which("chromium-browser")):
            options += [f"--only={name}" for name in ("logging", "watch", "reads", "api",
                                                      "memory", "membership", "fleet")]
            expected = [pattern for pattern in expected if pattern not in DASHBOARD_ROWS]
    else:  # every benchmark but the API's and the dashboard's
        options = [f"--only={name}" for name in ("logging", "watch", "reads", "memory",
                                                 "membership", "fleet")]
        expected = [pattern for pattern in EXPECTED_ROWS
                    if pattern not in API_ROWS and pattern not in DASHBOARD_ROWS]
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--emulator-host", firestore_emulator.host,
         *options, "--json", str(results)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]

    rows = json.loads(results.read_text())["rows"]
    labels = [row["benchmark"] for row in rows]
    assert len(labels) == len(expected), labels
    for pattern, label in zip(expected, labels, strict=True):
        assert re.fullmatch(pattern, label), (pattern, label)

    table = [line for line in done.stdout.splitlines() if line.startswith("| ")]
    header = [cell.strip() for cell in table[0].strip("|").split("|")]
    assert header == ["benchmark", "figure", "baseline", "ratio", "target", "met?"]
    for label in labels:
        assert any(line.startswith(f"| {label} ") for line in table[1:]), label
    for row in rows:
        assert row["figure"] not in ("", "-"), row
        if any(part in row["benchmark"] for part in MUST_HOLD):
            assert row["met"] is True, row
