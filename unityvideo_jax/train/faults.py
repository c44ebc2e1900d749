"""Fault checks: steps with a non-finite loss or gradient are skipped by the step itself (step.py);
here, at every logging window, they are reported, and too many in a row stop the run."""

from __future__ import annotations

from unityvideo_jax.train.hooks import Hook, Run


class TrainingStopped(RuntimeError):
    """Too many non-finite steps in a row: something is wrong with the data or the learning rate."""


class FaultHook(Hook):
    """Checks each window of `every` steps (the logging window) against `limit` bad steps in a row."""

    def __init__(self, *, every: int, limit: int):
        self.every, self.limit = int(every), int(limit)
        self.window: list = []

    def after_step(self, run: Run, done: int) -> None:
        self.window.append(run.metrics["finite"])
        if run.at(done, self.every):
            flags = [bool(ok) for ok in run.fetch(self.window)]
            streak = int(run.fetch(run.state.bad_streak))  # carries over from windows before this one
            self.window = []
            check_faults(flags, streak=streak, step=done, limit=self.limit)


def check_faults(window_flags: list[bool], *, streak: int, step: int, limit: int) -> None:
    """Warn about the window's skipped steps; raise TrainingStopped at `limit` bad steps in a row."""
    skipped = window_flags.count(False)
    if skipped:
        print(f"warning: {skipped} step(s) before step {step} had a non-finite loss or gradient and were skipped "
              f"({streak} in a row now)")
    worst = max(_longest_bad_run(window_flags), streak)
    if worst >= limit:
        raise TrainingStopped(
            f"{worst} steps in a row had a non-finite loss or gradient (limit "
            f"config.train.max_consecutive_bad_steps={limit}) at step {step}: check the data for NaN/Inf "
            "and lower config.train.lr"
        )


def _longest_bad_run(window_flags: list[bool]) -> int:
    longest, run = 0, 0
    for ok in window_flags:
        run = 0 if ok else run + 1
        longest = max(longest, run)
    return longest
