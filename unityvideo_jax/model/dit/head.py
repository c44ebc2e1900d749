"""The output head: final AdaLN (a (2, dim) shift/scale table plus t_emb) and a projection to patches.

With `num_tables > 1` it holds one head per modality (the paper's per-modality output layer),
stacked on a leading axis and selected per sample.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from einops import rearrange
from flax import nnx

from unityvideo_jax.model.dit.layers import FP32, dense, layer_norm
from unityvideo_jax.model.dit.projection import project
from unityvideo_jax.model.dit.spec import DiTSpec


class OutputHead(nnx.Module):
    def __init__(self, spec: DiTSpec, *, rngs: nnx.Rngs, num_tables: int = 1):
        self.spec = spec
        self.stacked = num_tables > 1
        out = spec.patch_volume * spec.out_channels
        table = jax.random.normal(rngs.params(), (1, 2, spec.dim), spec.weight_dtype) / spec.dim**0.5
        proj = dense(spec.dim, out, ("embed", None), spec, rngs=rngs)
        kernel, bias = proj.kernel[...], proj.bias[...]
        if self.stacked:
            table = jnp.broadcast_to(table, (num_tables, 2, spec.dim))
            kernel = jnp.broadcast_to(kernel, (num_tables, *kernel.shape))
            bias = jnp.broadcast_to(bias, (num_tables, *bias.shape))
        lead = ("modality",) if self.stacked else ()
        self.scale_shift_table = nnx.Param(table, out_sharding=(None, None, "embed"), eager_sharding=False)
        self.proj_kernel = nnx.Param(kernel, out_sharding=lead + ("embed", None), eager_sharding=False)
        self.proj_bias = nnx.Param(bias, out_sharding=lead + (None,), eager_sharding=False)

    def __call__(self, x: jax.Array, t_emb: jax.Array, modality: jax.Array | None = None) -> jax.Array:
        """x (B, F, M, D) fp32; t_emb (B, Fm, D) fp32 -> (B, F*M, patch_volume*C)."""
        table, kernel, bias = self.scale_shift_table[...], self.proj_kernel[...], self.proj_bias[...]
        if self.stacked:
            table = table[modality]  # each sample's modality row
        e = table.astype(FP32).reshape(-1, 1, 2, self.spec.dim) + t_emb[:, :, None, :]  # (B, Fm, 2, D)
        shift, scale = e[:, :, None, 0], e[:, :, None, 1]
        h = (layer_norm(x, self.spec.eps) * (1.0 + scale) + shift).astype(self.spec.compute_dtype)
        h = rearrange(h, "b f m d -> b (f m) d")
        dtype = self.spec.compute_dtype
        if not self.stacked:
            return project(h, kernel.astype(dtype)) + bias.astype(dtype)
        # Every table's projection in one plain matmul, then each sample's own: a few times the head's
        # FLOPs (tiny), but no per-sample gathered kernels, whose batched backward ran ~10x slower on CPU.
        every = project(h, rearrange(kernel, "k d o -> d (k o)").astype(dtype))
        out = rearrange(every + rearrange(bias, "k o -> (k o)").astype(dtype), "b n (k o) -> b n k o", k=kernel.shape[0])
        return jnp.take_along_axis(out, modality[:, None, None, None], axis=2)[:, :, 0]
