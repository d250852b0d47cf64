"""The migration report: per-table counts, every bad row, the counters, a summary.

Bad rows are spooled to a temporary file as they are found (JSON lines), so a
source full of bad rows still migrates in bounded memory; `write_json()`
streams them into the report file.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

__all__ = ["BadRow", "MigrationReport", "TableResult"]

#: How many bad rows the summary prints (the report file has them all).
SUMMARY_BAD_ROWS = 10


@dataclass(frozen=True)
class BadRow:
    """A source row that was not migrated, and why."""

    table: str
    #: The row's primary key (``user_id``, ``group_id``, ``id``, ``key``...).
    key: Any
    reason: str


@dataclass
class TableResult:
    """What happened to one legacy table."""

    #: The Firestore collection its rows become.
    target: str
    #: Rows read from the source.
    source_rows: int = 0
    #: Rows reported as bad (not migrated).
    bad_rows: int = 0
    #: Documents created (or, in a dry run, that would be).
    created: int = 0
    #: Existing documents whose fields changed (would change).
    updated: int = 0
    #: Documents already exactly as the source says (events: already stored).
    unchanged: int = 0
    #: Rows embedded into other documents rather than becoming their own (links).
    embedded: int = 0
    #: Why the table was not read (absent from the source), if it was not.
    skipped: str | None = None

    @property
    def migrated(self) -> int:
        """Rows now in Firestore: created, updated or already there."""
        return self.created + self.updated + self.unchanged + self.embedded


@dataclass
class MigrationReport:
    """Everything one ``migrate`` run did; written as JSON and summarised on screen."""

    source: str
    target: dict[str, Any]
    dry_run: bool = False
    started_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    finished_at: datetime | None = None
    tables: dict[str, TableResult] = field(default_factory=dict)
    #: Legacy tables deliberately left behind, with the reason.
    ignored: dict[str, str] = field(default_factory=dict)
    #: ``expected`` (from the source), ``before`` / ``after`` (Firestore), ``repaired``.
    counters: dict[str, dict[str, Any]] = field(default_factory=dict)
    bad_row_count: int = 0
    _sample: list[BadRow] = field(default_factory=list, repr=False)
    _spool: IO[str] | None = field(default=None, repr=False)

    def table(self, name: str, target: str) -> TableResult:
        """The result of table ``name`` (created on first use)."""
        if name not in self.tables:
            self.tables[name] = TableResult(target=target)
        return self.tables[name]

    def bad(self, table: str, key: Any, reason: str) -> None:
        """Record a bad row of ``table``."""
        row = BadRow(table=table, key=key, reason=reason)
        self.bad_row_count += 1
        if table in self.tables:
            self.tables[table].bad_rows += 1
        if len(self._sample) < SUMMARY_BAD_ROWS:
            self._sample.append(row)
        if self._spool is None:
            self._spool = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115
        self._spool.write(json.dumps(asdict(row), default=str) + "\n")

    def bad_rows(self) -> list[BadRow]:
        """Every bad row recorded (read back from the spool)."""
        if self._spool is None:
            return []
        self._spool.flush()
        self._spool.seek(0)
        rows = [BadRow(**json.loads(line)) for line in self._spool]
        self._spool.seek(0, 2)
        return rows

    def finish(self) -> None:
        """Stamp the end time."""
        self.finished_at = datetime.now(timezone.utc)

    @property
    def seconds(self) -> float:
        """How long the run took."""
        end = self.finished_at or datetime.now(timezone.utc)
        return (end - self.started_at).total_seconds()

    def to_dict(self, *, with_bad_rows: bool = True) -> dict[str, Any]:
        """The report as JSON-ready data."""
        data: dict[str, Any] = {
            "command": "migrate",
            "source": self.source,
            "target": self.target,
            "dry_run": self.dry_run,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "seconds": round(self.seconds, 3),
            "tables": {name: {**asdict(t), "migrated": t.migrated}
                       for name, t in self.tables.items()},
            "ignored_tables": self.ignored,
            "counters": self.counters,
            "bad_row_count": self.bad_row_count,
        }
        if with_bad_rows:
            data["bad_rows"] = [asdict(row) for row in self.bad_rows()]
        return data

    def write_json(self, path: str | Path) -> Path:
        """Write the report to ``path`` (bad rows streamed from the spool); return the path."""
        target = Path(path)
        head = json.dumps(self.to_dict(with_bad_rows=False), indent=2, default=str)
        with target.open("w", encoding="utf-8") as out:
            out.write(head[:-2] + ',\n  "bad_rows": [')
            first = True
            if self._spool is not None:
                self._spool.flush()
                self._spool.seek(0)
                for line in self._spool:
                    out.write(("\n    " if first else ",\n    ") + line.rstrip("\n"))
                    first = False
                self._spool.seek(0, 2)
            out.write("\n  ]\n}\n" if not first else "]\n}\n")
        return target

    def summary(self) -> str:
        """A human summary: one line per table, the counters, the first bad rows."""
        verb = "would be" if self.dry_run else "were"
        lines = [f"{'DRY RUN: ' if self.dry_run else ''}migration from {self.source} "
                 f"in {self.seconds:.1f}s"]
        lines.append(f"  {'table':<22}{'rows':>9}{'bad':>7}{'created':>9}{'updated':>9}"
                     f"{'unchanged':>11}")
        for name, t in self.tables.items():
            if t.skipped:
                lines.append(f"  {name:<22}{'-':>9}  ({t.skipped})")
                continue
            if t.embedded:
                lines.append(f"  {name:<22}{t.source_rows:>9}{t.bad_rows:>7}  "
                             f"({t.embedded} embedded in groups and channels)")
                continue
            lines.append(f"  {name:<22}{t.source_rows:>9}{t.bad_rows:>7}{t.created:>9}"
                         f"{t.updated:>9}{t.unchanged:>11}")
        for name, why in self.ignored.items():
            lines.append(f"  {name:<22}{'-':>9}  ({why})")
        after = self.counters.get("after") or self.counters.get("expected")
        if after:
            shown = ", ".join(f"{k}={v}" for k, v in after.items() if k != "last_updated")
            lines.append(f"  counters: {shown}")
        repaired = self.counters.get("repaired")
        if repaired:
            lines.append(f"  counters repaired: {repaired}")
        if self.bad_row_count:
            lines.append(f"  {self.bad_row_count} bad row(s) {verb} reported, not migrated:")
            lines.extend(f"    {r.table} {r.key!r}: {r.reason}" for r in self._sample)
            if self.bad_row_count > len(self._sample):
                lines.append(f"    ... and {self.bad_row_count - len(self._sample)} more "
                             "(see the report file)")
        else:
            lines.append("  no bad rows")
        return "\n".join(lines)

    def close(self) -> None:
        """Drop the bad-row spool."""
        if self._spool is not None:
            self._spool.close()
            self._spool = None
