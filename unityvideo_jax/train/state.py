"""The train state: everything a resumed run needs to continue bit-exactly."""

from __future__ import annotations

from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
from flax import nnx


@flax.struct.dataclass
class TrainState:
    step: jax.Array  # int32, optimiser steps taken (skipped ones included)
    params: Any  # nested dict of fp32 arrays (nnx.to_pure_dict of the model's Params)
    opt_state: Any
    ema: Any  # same tree as params
    rng: jax.Array  # uint32 key data; per-step keys are folded from it and the step
    bad_steps: jax.Array  # int32, non-finite steps skipped so far
    bad_streak: jax.Array  # int32, non-finite steps in a row (a finite step resets it)


def create_state(model: nnx.Module, optimizer, seed: int) -> TrainState:
    """A fresh state for `model`; call under jit so every array is born on its sharding."""
    params = nnx.to_pure_dict(nnx.state(model, nnx.Param))
    zero = jnp.zeros((), jnp.int32)
    return TrainState(
        step=zero,
        params=params,
        opt_state=optimizer.init(params),
        ema=jax.tree.map(lambda p: p.astype(jnp.float32), params),
        rng=jax.random.key_data(jax.random.key(seed)),
        bad_steps=zero,
        bad_streak=zero,
    )
