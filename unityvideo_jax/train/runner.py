"""The step runner: pull a batch, place it on the mesh, run the compiled step, hand the result to hooks.

It knows nothing of logging, checkpoints or faults (see hooks.py); it keeps only the clock of the
run: wall time, and the host time spent outside the step (data, logging, checkpointing).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Callable, Sequence

import jax

from unityvideo_jax.train.hooks import Hook, Run
from unityvideo_jax.train.state import TrainState
from unityvideo_jax.train.throughput import step_work


@dataclasses.dataclass
class RunSummary:
    state: TrainState
    steps_run: int
    wall_seconds: float
    outside_seconds: float  # data, logging and checkpointing: time the host spent not waiting on the step
    steps_per_second: float
    tokens_per_second: float
    tflops_per_device: float
    compilations: int
    preempted: bool = False  # stopped early on a preemption notice, with a checkpoint of the last step


class StepRunner:
    """Runs `step_fn(state, batch, constants) -> (state, metrics)` from `run.start` to `run.end`.

    `place(local_batch)` makes this host's batch a global array on the mesh.
    """

    def __init__(self, step_fn, constants, place: Callable[[dict], dict], hooks: Sequence[Hook]):
        self.step_fn, self.constants, self.place, self.hooks = step_fn, constants, place, list(hooks)
        self.outside = 0.0

    def run(self, run: Run) -> RunSummary:
        for hook in self.hooks:
            hook.begin(run)
        begin = time.perf_counter()
        try:
            done = run.start
            while done < run.end:
                done = self._step(run, done)
            jax.block_until_ready(run.state.step)
            wall = time.perf_counter() - begin
        finally:
            for hook in self.hooks:
                hook.close(run)
        return self._summary(run, wall)

    def _step(self, run: Run, step: int) -> int:
        for hook in self.hooks:
            hook.before_step(run, step)
        batch = self._timed(self._batch, run, step)
        run.state, run.metrics = self.step_fn(run.state, batch, self.constants)
        done = step + 1
        if any([hook.wants_stop(run, done) for hook in self.hooks]):  # a list: every hook is asked
            run.end = done
        self._timed(self._after_step, run, done)
        return done

    def _batch(self, run: Run, step: int) -> dict:
        local = next(run.iterator)
        for hook in self.hooks:
            hook.on_batch(run, step, local)
        batch = self.place(local)
        if not run.work.tokens:  # every batch has the same shapes
            run.work = step_work(run.config, batch)
        return batch

    def _after_step(self, run: Run, done: int) -> None:
        for hook in self.hooks:
            hook.after_step(run, done)

    def _timed(self, fn, run: Run, arg):
        """fn(run, arg), its host time (less any wait on the device) counted as outside the step."""
        t0, waited = time.perf_counter(), run.waited
        out = fn(run, arg)
        self.outside += time.perf_counter() - t0 - (run.waited - waited)
        return out

    def _summary(self, run: Run, wall: float) -> RunSummary:
        steps_run = run.end - run.start
        rate = steps_run / max(wall, 1e-9)
        rates = run.work.rates(rate)
        return RunSummary(run.state, steps_run, wall, self.outside, rate, rates["tokens_per_second"],
                          rates["tflops_per_device"], self.step_fn._cache_size(), run.preempted)
