"""Rectified flow: x_t = (1 - t) x_0 + t eps, velocity target v = eps - x_0 (t = 1 is noise)."""

from __future__ import annotations

import jax


def _expand(t: jax.Array, like: jax.Array) -> jax.Array:
    """(B,) or (B, F) times -> broadcastable against (B, F, H, W, C)."""
    return t.reshape(t.shape + (1,) * (like.ndim - t.ndim)).astype(like.dtype)


def interpolate(x0: jax.Array, noise: jax.Array, t: jax.Array) -> jax.Array:
    """x_t; t = 0 returns x0 bit-exactly (a clean stream stays exactly as encoded)."""
    tt = _expand(t, x0)
    return (1.0 - tt) * x0 + tt * noise


def velocity(x0: jax.Array, noise: jax.Array) -> jax.Array:
    return noise - x0
