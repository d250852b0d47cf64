"""A progress bar per table on stderr: counts, percentage, rate and elapsed time.

On a terminal the bar redraws in place (at most ten times a second); when
stderr is a file or a CI log it prints a line every few seconds and one at the
end, so logs stay readable.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import IO, TypeVar

__all__ = ["Progress", "ProgressBar"]

T = TypeVar("T")
_WIDTH = 24


class ProgressBar:
    """The progress of one table; advance it with `advance()`, end it with `done()`."""

    def __init__(self, out: IO[str] | None, label: str, total: int | None, *, tty: bool) -> None:
        self._out = out
        self.label = label
        self.total = total
        self.count = 0
        self._tty = tty
        self._start = time.monotonic()
        self._last = self._start
        self._finished = False

    @property
    def rate(self) -> float:
        """Rows per second so far."""
        elapsed = time.monotonic() - self._start
        return self.count / elapsed if elapsed > 0 else 0.0

    def render(self) -> str:
        """The bar as one line of text."""
        elapsed = time.monotonic() - self._start
        if self.total:
            share = min(self.count / self.total, 1.0)
            filled = int(share * _WIDTH)
            bar = "#" * filled + "-" * (_WIDTH - filled)
            amount = f"{self.count:>9,}/{self.total:<9,} {share:>4.0%}"
        else:
            bar = "#" * _WIDTH if self._finished else "-" * _WIDTH
            amount = f"{self.count:>9,}{'':11}{'':>5}"
        return (f"{self.label:<20} [{bar}] {amount} {self.rate:>9,.0f} rows/s "
                f"{int(elapsed // 60):02d}:{elapsed % 60:04.1f}")

    def advance(self, amount: int = 1) -> None:
        """Count ``amount`` more rows and redraw if it is time to."""
        self.count += amount
        if self._out is None:
            return
        now = time.monotonic()
        if now - self._last >= (0.1 if self._tty else 5.0):
            self._last = now
            self._draw()

    def _draw(self, end: str = "") -> None:
        assert self._out is not None
        if self._tty:
            self._out.write("\r" + self.render() + end)
        else:
            self._out.write(self.render() + "\n")
        self._out.flush()

    def done(self) -> None:
        """Draw the final state and move to the next line."""
        if self._finished:
            return
        self._finished = True
        if self._out is not None:
            self._draw("\n")

    def track(self, items: Iterable[T]) -> Iterator[T]:
        """Yield ``items``, advancing by one for each, and finish at the end."""
        try:
            for item in items:
                self.advance()
                yield item
        finally:
            self.done()


class Progress:
    """Makes the per-table bars; ``enabled=False`` keeps every bar silent."""

    def __init__(self, out: IO[str] | None = None, *, enabled: bool = True) -> None:
        self._out = (out if out is not None else sys.stderr) if enabled else None
        isatty = getattr(self._out, "isatty", None)
        self._tty = bool(isatty and isatty())

    def bar(self, label: str, total: int | None = None) -> ProgressBar:
        """A new bar for ``label`` expecting ``total`` rows (``None``: unknown)."""
        return ProgressBar(self._out, label, total, tty=self._tty)
