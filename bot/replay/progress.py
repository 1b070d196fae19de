"""A progress bar on stderr for long replays: redrawn in place, at most ten times a second."""

from __future__ import annotations

import time
from typing import TextIO

WIDTH = 30
INTERVAL = 0.1


class ProgressBar:
    """One stage at a time ("Reading", then "Replaying"); does nothing when disabled."""

    def __init__(self, stream: TextIO, *, enabled: bool, clock=time.monotonic) -> None:
        self.stream, self.enabled, self.clock = stream, enabled, clock
        self._label, self._unit, self._total = "", "", 0
        self._drawn_at = float("-inf")
        self._open_line = False

    def start(self, label: str, total: int, unit: str = "") -> None:
        self._label, self._total, self._unit = label, max(total, 1), unit
        self._drawn_at = float("-inf")
        self.update(0)

    def update(self, done: int) -> None:
        if not self.enabled:
            return
        now = self.clock()
        if now - self._drawn_at < INTERVAL and done < self._total:
            return
        self._drawn_at = now
        share = min(done / self._total, 1.0)
        filled = round(WIDTH * share)
        amount = (
            f"{done:,} / {self._total:,} {self._unit}".rstrip()
            if self._unit
            else f"{_megabytes(done)} / {_megabytes(self._total)}"
        )
        self.stream.write(f"\r{self._label} [{'#' * filled}{'.' * (WIDTH - filled)}] {share:4.0%} {amount}")
        self.stream.flush()
        self._open_line = True

    def finish(self) -> None:
        """Complete the current stage's line."""
        if self.enabled:
            self.update(self._total)
            self.end_line()

    def end_line(self) -> None:
        """Leave the bar's line, so what is written next starts on a line of its own."""
        if self._open_line:
            self.stream.write("\n")
            self.stream.flush()
            self._open_line = False


def _megabytes(size: int) -> str:
    return f"{size / 1_000_000:,.1f} MB"
