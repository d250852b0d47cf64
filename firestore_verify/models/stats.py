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
    total_channels: Count = 0
    total_verifications: Count = 0
    success_count: Count = 0
    failed_count: Count = 0
    error_count: Count = 0
    #: Distinct users ever verified (an addition to the seed's contract).
    total_users: Count = 0
    last_updated: UtcDateTime | None = None

    @property
    def success_rate(self) -> float:
        """Percentage of verifications that succeeded (0-100)."""
        if not self.total_verifications:
            return 0.0
        return round(self.success_count / self.total_verifications * 100, 2)
