"""``_metadata/stats``: the dashboard totals."""

from __future__ import annotations

from firestore_verify.models._base import Count, InputModel, UtcDateTime

__all__ = ["Stats"]


class Stats(InputModel):
    """Dashboard totals: groups, channels and verifications by status.

    ``success_rate`` is always computed from the counts here
    (``success / total * 100``, ``0.0`` with no verifications), never trusted
    from storage, so it cannot disagree with them.
    """

    total_groups: Count = 0
    """Protected groups that are enabled (disabling one takes it out)."""
    total_channels: Count = 0
    """Enforced channel documents stored."""
    total_verifications: Count = 0
    """Membership checks logged; an event counts ``1 + repeats``."""
    success_count: Count = 0
    """Checks with status ``success`` (an event counts ``1 + repeats``)."""
    failed_count: Count = 0
    """Checks with status ``failed`` (an event counts ``1 + repeats``)."""
    error_count: Count = 0
    """Checks with status ``error`` (an event counts ``1 + repeats``)."""
    total_users: Count = 0
    """Distinct users ever verified (an addition to the seed's contract)."""
    last_updated: UtcDateTime | None = None
    """When a counter last changed (server timestamp, UTC; the latest over the shards)."""

    @property
    def success_rate(self) -> float:
        """Percentage of verifications that succeeded (0-100)."""
        if not self.total_verifications:
            return 0.0
        return round(self.success_count / self.total_verifications * 100, 2)
