"""One Wan block for 1 + k streams: joint self-attention, per-stream cross-attention, FFN.

Shapes: x (B, S, F, M, D) is the fp32 residual stream with S streams (RGB, then aux), F latent
frames and M = H'W' tokens per frame; `mod` (B, S, Fm, 6, D) is the stream's modulation with
Fm = 1 (one t per stream) or F (one t per frame, Wan2.2 style); it is broadcast over the tokens,
never materialised per token. `context` (B, S, L, D): the caption for RGB, the modality prompt
for aux (the in-context learner); both use the block's one cross-attention.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from einops import rearrange
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

    def __call__(self, x: jax.Array, context: jax.Array | None = None, rope=None, kv_mask=None) -> jax.Array:
        """x (B, Lq, D); context (B, Lk, D) or None for self-attention; rope = (cos, sin); kv_mask
        (B, Lk) bool or None: keys that take part (self-attention over streams some samples lack)."""
        source = x if context is None else context
        split = "b l (n d) -> b l n d"  # the qk norm spans all heads: split after it
        q = rearrange(self.norm_q(self.to_q(x)), split, n=self.spec.num_heads)
        k = rearrange(self.norm_k(self.to_k(source)), split, n=self.spec.num_heads)
        v = rearrange(self.to_v(source), split, n=self.spec.num_heads)
        if rope is not None:
            q, k = apply_rope(q, *rope), apply_rope(k, *rope)
        kernel = get_kernel(self.spec.attention, self.spec.attention_chunk)
        out = kernel(q, k, v) if kv_mask is None else kernel(q, k, v, kv_mask=kv_mask)
        return self.to_out(rearrange(out, "b l n d -> b l (n d)"))


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

    def __call__(self, x: jax.Array, context: jax.Array, mod: jax.Array, rope, present=None) -> jax.Array:
        """`present` (B, S) bool or None: streams a sample lacks are no keys of the joint attention."""
        b, s, f, m, _ = x.shape
        dtype = self.spec.compute_dtype
        e = mod.astype(FP32) + self.scale_shift_table[...].astype(FP32)  # (B, S, Fm, 6, D)
        # one (B, S, Fm, 1, D) row each, broadcast over the M tokens of a frame
        shift, scale, gate, c_shift, c_scale, c_gate = (e[:, :, :, i, None, :] for i in range(6))

        # Joint self-attention over both streams. Token order in the sequence: the M tokens of a
        # frame lead, (M, S, F). Attention does not care about order (RoPE carries the positions),
        # and a residual stream sharded on M (the context axis, RESIDUAL_AXES) then flattens to
        # contiguous blocks of the sequence with no data movement. The rope tables are stream-major.
        h = modulate(x, shift, scale, self.spec.eps).astype(dtype)
        rope = tuple(rearrange(t, "(s f m) ... -> (m s f) ...", s=s, f=f) for t in rope)
        kv_mask = None
        if present is not None:  # (B, S) -> (B, (m s f)), the sequence's order
            kv_mask = rearrange(jnp.broadcast_to(present[:, None, :, None], (b, m, s, f)), "b m s f -> b (m s f)")
        h = self.attn1(rearrange(h, "b s f m d -> b (m s f) d"), rope=rope, kv_mask=kv_mask)
        x = x + rearrange(h, "b (m s f) d -> b s f m d", s=s, f=f).astype(FP32) * gate

        # Cross-attention of each stream to its own context: streams fold into the batch.
        h = rearrange(self.norm2(x).astype(dtype), "b s f m d -> (b s) (m f) d")
        h = self.attn2(h, rearrange(context, "b s l d -> (b s) l d"))
        x = x + rearrange(h, "(b s) (m f) d -> b s f m d", b=b, f=f).astype(FP32)

        h = modulate(x, c_shift, c_scale, self.spec.eps).astype(dtype)
        x = x + self.ffn(h).astype(FP32) * c_gate
        return constrain(x, RESIDUAL_AXES)
