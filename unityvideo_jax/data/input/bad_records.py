"""Counting records that fail to decode: a few are skipped, too many stop the run.

The share of bad records is judged over at least 1 / max_fraction reads, so that one bad record
early on is not already "above" a 1 % limit; with max_fraction = 0 the first bad record stops.
Counts are per process (each Grain worker keeps its own and logs its skips).
"""

from __future__ import annotations

import logging
import threading


class TooManyBadRecords(ValueError):
    """The data is damaged beyond config.data.max_bad_fraction."""


class BadRecords:
    def __init__(self, max_fraction: float):
        if not 0.0 <= max_fraction <= 1.0:
            raise ValueError(f"config.data.max_bad_fraction={max_fraction}: expected a share in [0, 1]")
        self.max_fraction = max_fraction
        self.read = 0
        self.bad = 0
        self._lock = threading.Lock()  # Grain's reader threads share one loader

    def __getstate__(self) -> dict:  # worker processes get a fresh lock
        return {k: v for k, v in self.__dict__.items() if k != "_lock"}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state, _lock=threading.Lock())

    def ok(self) -> None:
        with self._lock:
            self.read += 1

    def failed(self, where: str, error: Exception) -> None:
        """Count a record that did not decode; raise TooManyBadRecords past the limit."""
        with self._lock:
            self.read += 1
            self.bad += 1
            read, bad = self.read, self.bad
        logging.warning("skipping %s: %s (%d bad of %d records read)", where, error, bad, read)
        floor = 1.0 / self.max_fraction if self.max_fraction > 0 else 0.0
        if bad > self.max_fraction * max(read, floor):
            raise TooManyBadRecords(
                f"{where} failed to decode ({error}); {bad} of {read} records read were bad, above "
                f"config.data.max_bad_fraction={self.max_fraction}: rewrite that shard (run preprocess again "
                "into a fresh folder) or raise config.data.max_bad_fraction"
            )
