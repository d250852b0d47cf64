"""The outcome of ``check``: counts per table and a readable list of differences."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["CheckReport", "Difference", "TableCount"]

#: Differences listed per area in `CheckReport.format()` (the JSON has them all).
LISTED_PER_AREA = 20


@dataclass(frozen=True)
class Difference:
    """One way Firestore disagrees with the source."""

    #: A table (``owners``...) or an aspect (``channel sets``, ``events by day``, ``counters``).
    area: str
    message: str


@dataclass
class TableCount:
    """Rows (bad rows left out) against documents, for one table."""

    source_rows: int = 0
    bad_rows: int = 0
    documents: int = 0
    skipped: str | None = None

    @property
    def matches(self) -> bool:
        """Whether the counts agree."""
        return self.source_rows == self.documents


@dataclass
class CheckReport:
    """Every difference between the source and Firestore; empty means in sync."""

    source: str
    target: dict[str, Any]
    tables: dict[str, TableCount] = field(default_factory=dict)
    differences: list[Difference] = field(default_factory=list)
    bad_row_count: int = 0

    @property
    def in_sync(self) -> bool:
        """Whether Firestore holds exactly what the source says."""
        return not self.differences

    def differ(self, area: str, message: str) -> None:
        """Record a difference."""
        self.differences.append(Difference(area, message))

    def set_diff(self, area: str, what: str, source: set[Any], stored: set[Any]) -> None:
        """Record how two id sets differ (nothing when equal)."""
        missing, extra = sorted(source - stored), sorted(stored - source)
        if not missing and not extra:
            return
        parts = []
        if missing:
            parts.append(f"missing in Firestore {missing}")
        if extra:
            parts.append(f"not in the source {extra}")
        self.differ(area, f"{what}: {'; '.join(parts)}")

    def count(self, table: str, source_rows: int, documents: int) -> None:
        """Record the row and document counts of ``table``; a mismatch is a difference."""
        counts = self.tables.setdefault(table, TableCount())
        counts.source_rows, counts.documents = source_rows, documents
        if source_rows != documents:
            self.differ(table, f"{source_rows} row(s) in the source (bad rows left out), "
                               f"{documents} in Firestore")

    def bad(self, table: str, bad_rows: int, skipped: str | None) -> None:
        """Record how many bad rows ``table`` has (they are not expected in Firestore)."""
        counts = self.tables.setdefault(table, TableCount())
        counts.bad_rows, counts.skipped = bad_rows, skipped

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON-ready data."""
        return {
            "command": "check",
            "source": self.source,
            "target": self.target,
            "in_sync": self.in_sync,
            "tables": {name: {**asdict(t), "matches": t.matches}
                       for name, t in self.tables.items()},
            "bad_row_count": self.bad_row_count,
            "differences": [asdict(d) for d in self.differences],
        }

    def format(self) -> str:
        """A readable report: the counts table, then the differences grouped by area."""
        where = f"project {self.target.get('project')}, database {self.target.get('database')}"
        if self.target.get("prefix"):
            where += f", prefix {self.target['prefix']!r}"
        lines = [f"check {self.source} against {where}",
                 f"  {'table':<22}{'source':>9}{'bad':>7}{'firestore':>11}"]
        for name, t in self.tables.items():
            if t.skipped and not t.documents:
                lines.append(f"  {name:<22}{'-':>9}{'-':>7}{t.documents:>11}   (not in source)")
                continue
            flag = "ok" if t.matches else "DIFFERS"
            lines.append(f"  {name:<22}{t.source_rows:>9}{t.bad_rows:>7}{t.documents:>11}   "
                         f"{flag}")
        if self.bad_row_count:
            lines.append(f"  ({self.bad_row_count} bad row(s) left out, as migrate reports them)")
        if self.in_sync:
            lines.append("IN SYNC: Firestore holds exactly what the source says.")
            return "\n".join(lines)
        lines.append(f"DRIFT: {len(self.differences)} difference(s)")
        areas: dict[str, list[str]] = {}
        for d in self.differences:
            areas.setdefault(d.area, []).append(d.message)
        for area, messages in areas.items():
            lines.append(f"  {area}:")
            lines.extend(f"    - {m}" for m in messages[:LISTED_PER_AREA])
            if len(messages) > LISTED_PER_AREA:
                lines.append(f"    ... and {len(messages) - LISTED_PER_AREA} more")
        return "\n".join(lines)
