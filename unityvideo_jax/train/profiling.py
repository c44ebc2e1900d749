"""Profiling: a JAX profiler trace of a few steps, past the compile and the first warm step."""

from __future__ import annotations

import jax

from unityvideo_jax.storage.mirror import MirroredFolder
from unityvideo_jax.train.hooks import Hook, Run

FIRST, LAST = 2, 4  # steps after the run's start: the trace covers steps FIRST..LAST


class ProfileHook(Hook):
    def __init__(self, workdir: str, name: str = "profile"):
        self.workdir, self.name, self.tracing, self.mirror = workdir, name, False, None

    def before_step(self, run: Run, step: int) -> None:
        if step == run.start + FIRST:
            # the profiler writes local files; a remote run folder gets them uploaded when the trace stops
            self.mirror = MirroredFolder(self.workdir, (self.name,))
            jax.profiler.start_trace(str(self.mirror.local / self.name))
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
        self.mirror.close()
