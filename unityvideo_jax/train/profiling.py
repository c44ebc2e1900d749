"""Profiling: a JAX profiler trace of a few steps, past the compile and the first warm step."""

from __future__ import annotations

import jax

from unityvideo_jax.train.hooks import Hook, Run

FIRST, LAST = 2, 4  # steps after the run's start: the trace covers steps FIRST..LAST


class ProfileHook(Hook):
    def __init__(self, directory: str):
        self.directory, self.tracing = directory, False

    def before_step(self, run: Run, step: int) -> None:
        if step == run.start + FIRST:
            jax.profiler.start_trace(self.directory)
            self.tracing = True

    def after_step(self, run: Run, done: int) -> None:
        if done == run.start + LAST + 1:
            run.fetch(run.state.step)  # the last traced step must finish inside the trace
            self._stop()

    def close(self, run: Run) -> None:
        # a run shorter than the traced steps still writes what it traced (the runner waited for it)
        if self.tracing:
            self._stop()

    def _stop(self) -> None:
        jax.profiler.stop_trace()
        self.tracing = False
