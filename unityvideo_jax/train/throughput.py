"""The work in one global step (tokens, model FLOPs) and the rates a step time turns it into.

Model FLOPs per device follow unityvideo_jax/model/dit/flops.py: 3 x forward FLOPs per sample x
global batch, divided by step time and device count.
"""

from __future__ import annotations

import dataclasses

import jax

from unityvideo_jax.model.dit.flops import train_step_flops
from unityvideo_jax.model.dit.spec import from_config


@dataclasses.dataclass(frozen=True)
class StepWork:
    tokens: int = 0  # every stream's tokens of the global batch
    flops: int = 0  # model FLOPs of one global step (forward and backward)

    def rates(self, steps_per_second: float) -> dict[str, float]:
        return dict(tokens_per_second=steps_per_second * self.tokens,
                    tflops_per_device=steps_per_second * self.flops / 1e12 / jax.device_count())


def step_work(config, batch) -> StepWork:
    """The work of a step on the global `batch` (only its shapes are read)."""
    spec = from_config(config.model)
    b, f, h, w, _ = batch["rgb"].shape
    pt, ph, pw = spec.patch_size
    grid = (f // pt, h // ph, w // pw)
    aux = batch["aux"]
    streams = 1 + (aux.shape[1] if len(aux.shape) == 6 else 1)  # RGB and the batch's aux streams
    tokens = streams * b * grid[0] * grid[1] * grid[2]
    return StepWork(tokens, train_step_flops(spec, grid, streams, batch["text"].shape[1], b))
