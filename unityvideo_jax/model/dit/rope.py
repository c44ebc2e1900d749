"""3D rotary position embedding (Wan): the head dim splits into frame, height and width parts.

Aux tokens sit to the right of the RGB tokens in one wide frame: they share frame and height
positions with RGB and take width positions W..2W-1 (the release's width concatenation). Token
order inside the sequence does not matter to attention, so streams stay contiguous blocks.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def axis_dims(head_dim: int) -> tuple[int, int, int]:
    """(frame, height, width) shares of the head dim: d - 4(d//6), 2(d//6), 2(d//6)."""
    hw = 2 * (head_dim // 6)
    return head_dim - 2 * hw, hw, hw


def _axis_angles(positions: int, dim: int, theta: float) -> np.ndarray:
    """(positions, dim / 2) rotation angles of one axis, exact in float64."""
    inv_freq = 1.0 / theta ** (np.arange(0, dim, 2, dtype=np.float64)[: dim // 2] / dim)
    return np.arange(positions, dtype=np.float64)[:, None] * inv_freq[None, :]


def rope_tables(grid: tuple[int, int, int], streams: int, head_dim: int, theta: float):
    """cos and sin of shape (streams * F * H * W, head_dim / 2), stream-major, then (f, h, w).

    Built in float64 on the host from small per-axis tables (the big table is a broadcast).
    """
    frames, height, width = grid
    t_dim, h_dim, w_dim = axis_dims(head_dim)
    t_ang = _axis_angles(frames, t_dim, theta)
    h_ang = _axis_angles(height, h_dim, theta)
    w_ang = _axis_angles(width * streams, w_dim, theta)
    per_stream = []
    for s in range(streams):
        w_s = w_ang[s * width : (s + 1) * width]
        ang = np.concatenate(
            [
                np.broadcast_to(t_ang[:, None, None], (frames, height, width, t_dim // 2)),
                np.broadcast_to(h_ang[None, :, None], (frames, height, width, h_dim // 2)),
                np.broadcast_to(w_s[None, None, :], (frames, height, width, w_dim // 2)),
            ],
            axis=-1,
        )
        per_stream.append(ang.reshape(frames * height * width, head_dim // 2))
    angles = np.concatenate(per_stream, axis=0)
    return jnp.asarray(np.cos(angles), jnp.float32), jnp.asarray(np.sin(angles), jnp.float32)


def apply_rope(x: jax.Array, cos: jax.Array, sin: jax.Array) -> jax.Array:
    """Rotate interleaved pairs (x[2i], x[2i+1]) of x: (B, L, heads, head_dim); tables (L, head_dim/2)."""
    pairs = x.astype(jnp.float32).reshape(*x.shape[:-1], x.shape[-1] // 2, 2)
    x0, x1 = pairs[..., 0], pairs[..., 1]
    c, s = cos[None, :, None, :], sin[None, :, None, :]
    out = jnp.stack([x0 * c - x1 * s, x0 * s + x1 * c], axis=-1)
    return out.reshape(x.shape).astype(x.dtype)
