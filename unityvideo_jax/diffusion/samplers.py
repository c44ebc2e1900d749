"""Samplers for the flow-matching ODE dx/dt = v(x, t), integrated from t = 1 (noise) to t = 0.

The task decides which stream starts from noise and is updated: joint updates both, estimation
only aux, conditional generation only RGB; the other stream stays exactly as given (it is
passed to the model with t = 0 at every step and never written). The whole loop is one
`lax.fori_loop`, so a sampler compiles once per shape.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from unityvideo_jax.diffusion.tasks import NOISED, TASKS
from unityvideo_jax.diffusion.timesteps import shift

# velocity(rgb, aux, t_rgb, t_aux) -> (v_rgb, v_aux); t_* are (B,) flow times
Velocity = Callable[[jax.Array, jax.Array, jax.Array, jax.Array], tuple[jax.Array, jax.Array]]


def time_grid(steps: int, shift_value: float = 1.0) -> jax.Array:
    """steps + 1 times from 1 down to 0: linspace(1, 0) (the release's grid), then shifted."""
    if steps < 1:
        raise ValueError(f"steps={steps}: need at least one sampling step")
    return shift(jnp.linspace(1.0, 0.0, steps + 1, dtype=jnp.float32), shift_value)


def _euler(velocity: Velocity, x, t_cur, t_next, mask):
    v = _masked_velocity(velocity, x, t_cur, mask)
    return _advance(x, v, t_next - t_cur, mask)


def _heun(velocity: Velocity, x, t_cur, t_next, mask):
    """Second order (trapezoid); the last step (to t = 0) falls back to Euler as is usual."""
    v1 = _masked_velocity(velocity, x, t_cur, mask)
    x_euler = _advance(x, v1, t_next - t_cur, mask)

    def corrected():
        v2 = _masked_velocity(velocity, x_euler, t_next, mask)
        v = tuple(0.5 * (a + b) for a, b in zip(v1, v2))
        return _advance(x, v, t_next - t_cur, mask)

    return jax.lax.cond(t_next > 0, corrected, lambda: x_euler)


METHODS = {"euler": _euler, "heun": _heun}


def _masked_velocity(velocity: Velocity, x, t, mask):
    """The model sees t on the streams being generated and 0 on the clean ones."""
    b = x[0].shape[0]
    t_rgb = jnp.full((b,), t) * mask[0]
    t_aux = jnp.full((b,), t) * mask[1]
    return velocity(x[0], x[1], t_rgb, t_aux)


def _advance(x, v, dt, mask):
    """x + dt v on the generated streams; a clean stream is returned untouched (bit-exact)."""
    return tuple(xi + dt * vi.astype(xi.dtype) if m else xi for xi, vi, m in zip(x, v, mask))


def sample(
    velocity: Velocity,
    rgb: jax.Array,
    aux: jax.Array,
    task: str,
    key: jax.Array,
    *,
    steps: int = 20,
    method: str = "euler",
    shift_value: float = 1.0,
) -> tuple[jax.Array, jax.Array]:
    """Generate the stream(s) `task` asks for; `rgb`/`aux` hold the clean input where the task has one.

    The generated streams start from N(0, 1) noise drawn from `key` (their given values only set
    the shape). Returns (rgb, aux) at t = 0.
    """
    if task not in TASKS:
        raise ValueError(f"task={task!r}: expected one of {', '.join(TASKS)}")
    if method not in METHODS:
        raise ValueError(f"method={method!r}: expected one of {', '.join(METHODS)}")
    mask = tuple(bool(m) for m in NOISED[TASKS.index(task)])
    k_rgb, k_aux = jax.random.split(key)
    x = (
        jax.random.normal(k_rgb, rgb.shape, rgb.dtype) if mask[0] else rgb,
        jax.random.normal(k_aux, aux.shape, aux.dtype) if mask[1] else aux,
    )
    grid = time_grid(steps, shift_value)
    step = METHODS[method]

    def body(i, x):
        return step(velocity, x, grid[i], grid[i + 1], mask)

    return jax.lax.fori_loop(0, steps, body, x)
