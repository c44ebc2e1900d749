"""What the step runner tells the rest of a run, and the shape of a hook that listens.

The runner (runner.py) pulls a batch, runs the compiled step and calls every hook at fixed points;
each hook (logging, faults, checkpoints, profiling, the time budget, the data trace) is one concept
in its own file. Hooks run in the order given, so the metrics line of a step is written before a
fault stops the run, and a fault stops the run before its checkpoint is saved.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import jax

from unityvideo_jax.train.state import TrainState
from unityvideo_jax.train.throughput import StepWork


@dataclasses.dataclass
class Run:
    """The run in progress, as hooks see it. `end` is the step count the run stops at."""

    config: Any
    iterator: Any  # this host's batches, with Grain's get_state()/set_state()
    start: int
    end: int
    state: TrainState | None = None
    metrics: dict | None = None  # the last step's metrics, still on device
    work: StepWork = dataclasses.field(default_factory=StepWork)  # tokens and FLOPs of a step, from the first batch
    waited: float = 0.0  # seconds hooks spent waiting on the device (not host work)
    preempted: bool = False  # the run stopped early on a preemption notice (preemption.py)

    def at(self, done: int, every: int) -> bool:
        """True every `every` steps and at the last step: where windows close and saves happen."""
        return done % every == 0 or done == self.end

    def fetch(self, tree):
        """`tree` on the host; the wait for the device counts as step time, not time outside it."""
        t0 = time.perf_counter()
        out = jax.device_get(tree)
        self.waited += time.perf_counter() - t0
        return out


class Hook:
    """A listener of the step runner. Every method is a no-op here; a hook overrides what it needs."""

    def begin(self, run: Run) -> None:
        """Once, before the first step."""

    def before_step(self, run: Run, step: int) -> None:
        """Before step `step` (0-based) pulls its batch."""

    def on_batch(self, run: Run, step: int, local: dict) -> None:
        """With this host's batch for `step`, before it is placed on the devices."""

    def wants_stop(self, run: Run, done: int) -> bool:
        """Asked after `done` steps, before after_step: True makes `done` the last step."""
        return False

    def after_step(self, run: Run, done: int) -> None:
        """After `done` steps were dispatched (results may still be computing)."""

    def close(self, run: Run) -> None:
        """Once at the end, also when a hook raised: release files and bars."""
