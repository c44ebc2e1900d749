"""Flow times for training: sampled by name, then shifted towards noise.

t in (0, 1), t = 1 is pure noise. The release samples t = sigmoid(n), n ~ N(0, 1), and shifts
it with s = 5: t' = s t / (1 + (s - 1) t).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def logit_normal(key, shape, config) -> jax.Array:
    return jax.nn.sigmoid(config.logit_mean + config.logit_std * jax.random.normal(key, shape))


def uniform(key, shape, config) -> jax.Array:
    del config
    return jax.random.uniform(key, shape, minval=1e-5, maxval=1.0 - 1e-5)


SAMPLERS = {"logit_normal": logit_normal, "uniform": uniform}


def shift(t: jax.Array, s: float) -> jax.Array:
    """The timestep shift: s t / (1 + (s - 1) t); s = 1 is the identity, s > 1 favours noise."""
    return s * t / (1.0 + (s - 1.0) * t)


def sample_times(key, shape, config) -> jax.Array:
    """Shifted flow times of `shape` under `config.diffusion`."""
    if config.timestep_sampling not in SAMPLERS:
        raise ValueError(
            f"config.diffusion.timestep_sampling={config.timestep_sampling!r}: expected one of {sorted(SAMPLERS)}"
        )
    return shift(SAMPLERS[config.timestep_sampling](key, shape, config), config.shift).astype(jnp.float32)
