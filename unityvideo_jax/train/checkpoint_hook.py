"""Checkpointing: save every `checkpoint_every` steps and at the last step, with the data iterator's
state, so a resumed run draws the same batches (checkpoint.py has the format; saves are async)."""

from __future__ import annotations

from unityvideo_jax.train import checkpoint
from unityvideo_jax.train.hooks import Hook, Run


class CheckpointHook(Hook):
    def __init__(self, mngr, config, *, every: int):
        self.mngr, self.config, self.every = mngr, config, int(every)

    def after_step(self, run: Run, done: int) -> None:
        if run.at(done, self.every):  # the last step is saved too, whatever `every` is
            checkpoint.save(self.mngr, run.state, run.iterator.get_state(), self.config)
