"""Partner attention: an initialisation that lets a two-stream model trained from scratch read across streams.

Estimation needs every aux token to read the RGB token at its own (frame, row, column), W' token
columns to its left in the width-concatenated sequence (rope.py); conditional generation needs the
reverse. A pretrained video backbone starts with attention that is already local; a model trained
from scratch has to find that offset through 3D RoPE alone, and on the demo's budget it does not
(BENCHMARKS.md, "The demo").

`init_partner_heads` sets the query and key biases of head 0 (and head 1) of every block so that
the head's positional logit b_q . R(p' - p) b_k peaks at p' - p = (0, 0, -W') (head 0: aux -> RGB)
and (0, 0, +W') (head 1: RGB -> aux), and raises those heads' qk RMSNorm gains so that the peak
holds most of the attention. Rotary pairs rotate independently, so the peak is built pair by pair:
for a pair of frequency w on an axis with offset d, b_k = R(-w d) b_q. Only pairs whose frequency
tells the axis's positions apart are used (the slow ones add a constant). Nothing else changes:
the forward pass and the parameters are Wan's; the content terms are learned on top.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from unityvideo_jax.model.dit.rope import axis_dims

BIAS_RMS = 8.0  # rms of a partner head's biases: its positional term outweighs the content term (~1)
GAIN = 2.0  # qk RMSNorm gain of the partner heads: about 60 % of the attention on the partner at init
DIRECTIONS = (-1, +1)  # head 0 looks W' columns left (aux -> RGB), head 1 right (RGB -> aux)


def partner_biases(head_dim: int, theta: float, grid: tuple[int, int, int], direction: int,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(b_q, b_k), each (head_dim,), whose rotary logit peaks at the key offset (0, 0, direction * W')."""
    frames, height, width = grid
    extents = (frames, height, 2 * width)  # both streams share frame and row positions; widths run to 2 W'
    offsets = (0, 0, direction * width)
    query, key = [], []
    for axis, dim in enumerate(axis_dims(head_dim)):
        omega = 1.0 / theta ** (np.arange(0, dim, 2)[: dim // 2] / dim)
        for w in omega:
            used = w * extents[axis] >= 0.5
            phase = rng.uniform(0.0, 2.0 * np.pi)
            shifted = phase - w * offsets[axis]
            query.append(used * np.array([np.cos(phase), np.sin(phase)]))
            key.append(used * np.array([np.cos(shifted), np.sin(shifted)]))
    q, k = np.concatenate(query), np.concatenate(key)
    scale = BIAS_RMS * np.sqrt(head_dim) / max(np.linalg.norm(q), 1e-6)
    return (q * scale).astype(np.float32), (k * scale).astype(np.float32)


def init_partner_heads(model, grid: tuple[int, int, int], seed: int = 0) -> None:
    """Initialise the partner heads of every block of `model` (a two-stream UnityDiT) for the token
    `grid` (F', H', W') of one stream, in place. Works inside jit (the values are constants)."""
    spec = model.spec
    heads = min(spec.num_heads, len(DIRECTIONS))
    hd, layers = spec.head_dim, spec.num_layers
    if not spec.two_stream:
        raise ValueError("partner heads connect the two streams: the model has only the RGB stream")
    rng = np.random.default_rng(seed)
    q_bias = np.zeros((layers, spec.dim), np.float32)
    k_bias = np.zeros((layers, spec.dim), np.float32)
    gain = np.ones((layers, spec.dim), np.float32)
    for layer in range(layers):
        for head, direction in zip(range(heads), DIRECTIONS):
            cols = slice(head * hd, (head + 1) * hd)
            q_bias[layer, cols], k_bias[layer, cols] = partner_biases(hd, spec.rope_theta, grid, direction, rng)
            gain[layer, cols] = GAIN
    attn = model.blocks.attn1
    attn.to_q.bias[...] = jnp.asarray(q_bias, attn.to_q.bias[...].dtype)
    attn.to_k.bias[...] = jnp.asarray(k_bias, attn.to_k.bias[...].dtype)
    for norm in (attn.norm_q, attn.norm_k):
        norm.scale[...] = norm.scale[...] * jnp.asarray(gain, norm.scale[...].dtype)
