"""Embeddings: patches -> tokens, flow time -> modulation, text -> context; and back to patches.

Attribute names follow diffusers' `WanTransformer3DModel` (condition_embedder.time_embedder.
linear_1, ...), so the converters are renames, transposes and stacking.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from einops import rearrange
from flax import nnx

from unityvideo_jax.model.dit.layers import FP32, dense
from unityvideo_jax.model.dit.projection import project
from unityvideo_jax.model.dit.spec import DiTSpec
from unityvideo_jax.parallel.logical import partitioned

TIME_SCALE = 1000.0  # the network sees 1000 t for flow time t in [0, 1]


def sinusoidal_embedding(t: jax.Array, dim: int, max_period: float = 10000.0) -> jax.Array:
    """[cos, sin] timestep embedding of any-shaped `t` (already scaled), in fp32: (..., dim)."""
    half = dim // 2
    freqs = jnp.exp(-math.log(max_period) * jnp.arange(half, dtype=FP32) / half)
    args = t.astype(FP32)[..., None] * freqs
    return jnp.concatenate([jnp.cos(args), jnp.sin(args)], axis=-1)


class MLP2(nnx.Module):
    """linear_1 -> activation -> linear_2 (diffusers' TimestepEmbedding / PixArtAlphaTextProjection)."""

    def __init__(self, in_features: int, spec: DiTSpec, activation, *, rngs: nnx.Rngs, dtype=None):
        self.activation = activation
        self.linear_1 = dense(in_features, spec.dim, (None, "embed"), spec, rngs=rngs, dtype=dtype)
        self.linear_2 = dense(spec.dim, spec.dim, ("embed", None), spec, rngs=rngs, dtype=dtype)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.linear_2(self.activation(self.linear_1(x)))


def _gelu_tanh(x):
    return jax.nn.gelu(x, approximate=True)


class ConditionEmbedder(nnx.Module):
    """Flow time -> (t_emb, 6-way modulation); text embeddings -> context tokens."""

    def __init__(self, spec: DiTSpec, *, rngs: nnx.Rngs):
        self.spec = spec
        # The timestep path is an fp32 island: modulation scales every residual branch.
        self.time_embedder = MLP2(spec.freq_dim, spec, jax.nn.silu, rngs=rngs, dtype=FP32)
        self.time_proj = dense(spec.dim, 6 * spec.dim, ("embed", None), spec, rngs=rngs, dtype=FP32)
        self.text_embedder = MLP2(spec.text_dim, spec, _gelu_tanh, rngs=rngs)

    def time_embedding(self, t: jax.Array) -> jax.Array:
        """Flow time t in [0, 1], any shape -> t_emb (..., dim) in fp32."""
        return self.time_embedder(sinusoidal_embedding(TIME_SCALE * t, self.spec.freq_dim))

    def modulation(self, t_emb: jax.Array) -> jax.Array:
        """t_emb (..., dim) -> (..., 6, dim): shift, scale, gate of attention then of the FFN."""
        out = self.time_proj(jax.nn.silu(t_emb))
        return out.reshape(*t_emb.shape[:-1], 6, self.spec.dim)

    def context(self, text: jax.Array) -> jax.Array:
        return self.text_embedder(text.astype(self.spec.compute_dtype))


class PatchEmbedding(nnx.Module):
    """Non-overlapping 3D patches -> tokens: (B, F, H, W, C) -> (B, F', H', W', dim).

    The kernel is laid out (pt, ph, pw, C, dim), i.e. PyTorch's Conv3d [dim, C, pt, ph, pw]
    transposed to [T, H, W, I, O].
    """

    def __init__(self, spec: DiTSpec, *, rngs: nnx.Rngs):
        self.spec = spec
        pt, ph, pw = spec.patch_size
        init = nnx.initializers.variance_scaling(1.0, "fan_in", "truncated_normal", in_axis=(0, 1, 2, 3))
        shape = (pt, ph, pw, spec.in_channels, spec.dim)
        names = (None, None, None, None, "embed")
        self.kernel = nnx.Param(partitioned(init, names)(rngs.params(), shape, spec.weight_dtype))
        self.bias = nnx.Param(partitioned(nnx.initializers.zeros_init(), ("embed",))(rngs.params(), (spec.dim,)))

    def __call__(self, x: jax.Array) -> jax.Array:
        pt, ph, pw = self.spec.patch_size
        # f h w index the patch grid, p q r the position inside a patch (the kernel's leading axes).
        x = rearrange(x, "b (f p) (h q) (w r) c -> b f h w (p q r c)", p=pt, q=ph, r=pw)
        dtype = self.spec.compute_dtype
        kernel = rearrange(self.kernel[...], "p q r c d -> (p q r c) d")
        return project(x.astype(dtype), kernel.astype(dtype)) + self.bias[...].astype(dtype)


def unpatchify(tokens: jax.Array, grid: tuple[int, int, int], patch: tuple[int, int, int]) -> jax.Array:
    """(B, F'*H'*W', pt*ph*pw*C) head output -> (B, F, H, W, C); channel is the fastest index."""
    (f, h, w), (pt, ph, pw) = grid, patch
    pattern = "b (f h w) (p q r c) -> b (f p) (h q) (w r) c"
    return rearrange(tokens, pattern, f=f, h=h, w=w, p=pt, q=ph, r=pw)
