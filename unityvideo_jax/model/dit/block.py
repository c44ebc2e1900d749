"""One Wan block for one or two streams: joint self-attention, dual cross-attention, FFN.

Shapes: x (B, S, F, M, D) is the fp32 residual stream with S streams (RGB, then aux), F latent
frames and M = H'W' tokens per frame; `mod` (B, S, Fm, 6, D) is the stream's modulation with
Fm = 1 (one t per stream) or F (one t per frame, Wan2.2 style); it is broadcast over the tokens,
never materialised per token. `context` (B, S, L, D): the caption for RGB, the modality prompt
for aux (the in-context learner); both use the block's one cross-attention.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from unityvideo_jax.attention.kernels import get_kernel
from unityvideo_jax.model.dit.layers import FP32, AffineLayerNorm, RMSNorm, dense, modulate
from unityvideo_jax.model.dit.rope import apply_rope
from unityvideo_jax.model.dit.spec import DiTSpec
from unityvideo_jax.parallel.logical import constrain

RESIDUAL_AXES = ("activation_batch", None, None, "activation_length", "activation_embed")


class Attention(nnx.Module):
    """Multi-head attention with Wan's qk RMSNorm over the full width (to_q/to_k/to_v/to_out)."""

    def __init__(self, spec: DiTSpec, *, rngs: nnx.Rngs):
        self.spec = spec
        d = spec.dim
        self.to_q = dense(d, d, ("embed", "heads"), spec, rngs=rngs)
        self.to_k = dense(d, d, ("embed", "heads"), spec, rngs=rngs)
        self.to_v = dense(d, d, ("embed", "heads"), spec, rngs=rngs)
        self.to_out = dense(d, d, ("heads", "embed"), spec, rngs=rngs)
        self.norm_q = RMSNorm(d, spec)
        self.norm_k = RMSNorm(d, spec)

    def __call__(self, x: jax.Array, context: jax.Array | None = None, rope=None) -> jax.Array:
        """x (B, Lq, D); context (B, Lk, D) or None for self-attention; rope = (cos, sin)."""
        source = x if context is None else context
        n, hd = self.spec.num_heads, self.spec.head_dim
        q = self.norm_q(self.to_q(x)).reshape(*x.shape[:2], n, hd)
        k = self.norm_k(self.to_k(source)).reshape(*source.shape[:2], n, hd)
        v = self.to_v(source).reshape(*source.shape[:2], n, hd)
        if rope is not None:
            q, k = apply_rope(q, *rope), apply_rope(k, *rope)
        out = get_kernel(self.spec.attention, self.spec.attention_chunk)(q, k, v)
        return self.to_out(out.reshape(*x.shape[:2], n * hd))


class FeedForward(nnx.Module):
    """GELU-tanh MLP (diffusers: ffn.net.0.proj, ffn.net.2)."""

    def __init__(self, spec: DiTSpec, *, rngs: nnx.Rngs):
        self.net_0 = dense(spec.dim, spec.ffn_dim, ("embed", "mlp"), spec, rngs=rngs)
        self.net_2 = dense(spec.ffn_dim, spec.dim, ("mlp", "embed"), spec, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.net_2(jax.nn.gelu(self.net_0(x), approximate=True))


class WanBlock(nnx.Module):
    def __init__(self, spec: DiTSpec, *, rngs: nnx.Rngs):
        self.spec = spec
        self.attn1 = Attention(spec, rngs=rngs)
        self.attn2 = Attention(spec, rngs=rngs)
        self.norm2 = AffineLayerNorm(spec.dim, spec)
        self.ffn = FeedForward(spec, rngs=rngs)
        table = jax.random.normal(rngs.params(), (1, 6, spec.dim), spec.weight_dtype) / spec.dim**0.5
        self.scale_shift_table = nnx.Param(table, out_sharding=(None, None, "embed"), eager_sharding=False)

    def __call__(self, x: jax.Array, context: jax.Array, mod: jax.Array, rope) -> jax.Array:
        b, s, f, m, d = x.shape
        dtype = self.spec.compute_dtype
        e = mod.astype(FP32) + self.scale_shift_table[...].astype(FP32)  # (B, S, Fm, 6, D)
        shift, scale, gate, c_shift, c_scale, c_gate = (e[:, :, :, i, None, :] for i in range(6))

        h = modulate(x, shift, scale, self.spec.eps).astype(dtype)
        rope = tuple(_joint_sequence(t.reshape(1, s, f, m, -1))[0] for t in rope)  # (S F M, .) tables
        h = self.attn1(_joint_sequence(h), rope=rope)
        x = x + _split_sequence(h, x.shape).astype(FP32) * gate

        h = _per_stream_sequence(self.norm2(x).astype(dtype))
        h = self.attn2(h, context.reshape(b * s, *context.shape[2:]))
        x = x + h.reshape(b, s, m, f, d).swapaxes(2, 3).astype(FP32)

        h = modulate(x, c_shift, c_scale, self.spec.eps).astype(dtype)
        x = x + self.ffn(h).astype(FP32) * c_gate
        return constrain(x, RESIDUAL_AXES)


# Token order inside attention: the M tokens of a frame lead, (M, S, F). Attention does not care
# about order (RoPE carries the positions), and a residual stream sharded on M (the context axis,
# RESIDUAL_AXES) then flattens to contiguous blocks of the sequence with no data movement.
def _joint_sequence(x: jax.Array) -> jax.Array:
    """(B, S, F, M, ...) -> (B, M * S * F, ...)."""
    b, s, f, m = x.shape[:4]
    return jnp.moveaxis(x, 3, 1).reshape(b, m * s * f, *x.shape[4:])


def _split_sequence(h: jax.Array, shape) -> jax.Array:
    """The inverse of `_joint_sequence` for (B, M * S * F, D) -> `shape` (B, S, F, M, D)."""
    b, s, f, m, d = shape
    return jnp.moveaxis(h.reshape(b, m, s, f, d), 1, 3)


def _per_stream_sequence(x: jax.Array) -> jax.Array:
    """(B, S, F, M, D) -> (B * S, M * F, D): each stream's tokens, frame tokens leading."""
    b, s, f, m, d = x.shape
    return x.swapaxes(2, 3).reshape(b * s, m * f, d)
