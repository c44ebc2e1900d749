"""The wall-clock budget: with one, the run ends (and checkpoints) at the first step past it."""

from __future__ import annotations

import time

from unityvideo_jax.train.hooks import Hook, Run


class TimeBudgetHook(Hook):
    def __init__(self, seconds: float):
        self.seconds = seconds

    def begin(self, run: Run) -> None:
        self.started = time.perf_counter()

    def wants_stop(self, run: Run, done: int) -> bool:
        return time.perf_counter() - self.started >= self.seconds
