"""Samplers for the flow-matching ODE dx/dt = v(x, t), integrated from t = 1 (noise) to t = 0.

The task decides which stream starts from noise and is updated: joint updates both, estimation
only aux, conditional generation only RGB; the other stream stays exactly as given (it is
passed to the model with t = 0 at every step and never written). The whole loop is one
`lax.fori_loop`, so a sampler compiles once per shape.

Several aux streams come stacked, aux (B, k, F, H, W, C): the task sets RGB's part as above and
`aux_generated` (one bool per stream) which aux streams are generated; the rest stay as given.
By default every aux stream follows the task (estimation and joint generate all, condition none).
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
    if isinstance(mask[1], tuple):  # k stacked aux streams: (B, k) times
        t_aux = jnp.full((b, len(mask[1])), t) * jnp.asarray(mask[1], jnp.float32)
    else:
        t_aux = jnp.full((b,), t) * mask[1]
    return velocity(x[0], x[1], t_rgb, t_aux)


def _advance(x, v, dt, mask):
    """x + dt v on the generated streams; a clean stream is returned untouched (bit-exact)."""
    return tuple(_advance_one(xi, vi, dt, m) for xi, vi, m in zip(x, v, mask))


def _advance_one(x, v, dt, generated):
    if not isinstance(generated, tuple):
        return x + dt * v.astype(x.dtype) if generated else x
    keep = jnp.asarray(generated).reshape((1, len(generated)) + (1,) * (x.ndim - 2))
    return jnp.where(keep, x + dt * v.astype(x.dtype), x)  # clean streams: exactly as given


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
    aux_generated: tuple[bool, ...] | None = None,
) -> tuple[jax.Array, jax.Array]:
    """Generate the stream(s) `task` asks for; `rgb`/`aux` hold the clean input where the task has one.

    The generated streams start from N(0, 1) noise drawn from `key` (their given values only set
    the shape). Returns (rgb, aux) at t = 0. `aux_generated`: with stacked aux (B, k, ...), which of
    the k streams are generated (default: as the task says for its aux stream).
    """
    if task not in TASKS:
        raise ValueError(f"task={task!r}: expected one of {', '.join(TASKS)}")
    if method not in METHODS:
        raise ValueError(f"method={method!r}: expected one of {', '.join(METHODS)}")
    noised = tuple(bool(m) for m in NOISED[TASKS.index(task)])
    mask = noised
    k_rgb, k_aux = jax.random.split(key)
    noise_aux = lambda: jax.random.normal(k_aux, aux.shape, aux.dtype)  # noqa: E731
    if aux.ndim == 6:
        generated = tuple(bool(g) for g in (aux_generated if aux_generated is not None else (noised[1],) * aux.shape[1]))
        if len(generated) != aux.shape[1]:
            raise ValueError(f"aux_generated has {len(generated)} entries for {aux.shape[1]} aux streams")
        if not noised[0] and not any(generated):
            raise ValueError(f"task {task!r} with no aux stream generated generates nothing: mark one in aux_generated")
        mask = (noised[0], generated)
        keep = jnp.asarray(generated).reshape((1, len(generated)) + (1,) * (aux.ndim - 2))
        start_aux = jnp.where(keep, noise_aux(), aux) if any(generated) else aux
    else:
        if aux_generated is not None:
            raise ValueError("aux_generated is for stacked aux streams (B, k, F, H, W, C)")
        start_aux = noise_aux() if noised[1] else aux
    x = (
        jax.random.normal(k_rgb, rgb.shape, rgb.dtype) if mask[0] else rgb,
        start_aux,
    )
    grid = time_grid(steps, shift_value)
    step = METHODS[method]

    def body(i, x):
        return step(velocity, x, grid[i], grid[i + 1], mask)

    return jax.lax.fori_loop(0, steps, body, x)
