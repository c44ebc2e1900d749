"""Small building blocks of the DiT: partitioned dense layers, fp32 norms, modulation.

The fp32 islands of the model are declared here: `layer_norm`, `RMSNorm`, `modulate` and the
residual adds (done by callers on fp32 tensors) always compute in float32, whatever the
compute dtype of the matmuls.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from unityvideo_jax.model.dit.projection import project
from unityvideo_jax.model.dit.spec import DiTSpec
from unityvideo_jax.parallel.logical import partitioned

FP32 = jnp.float32


def dense(
    in_features: int,
    out_features: int,
    names: tuple,
    spec: DiTSpec,
    *,
    rngs: nnx.Rngs,
    zero: bool = False,
    dtype=None,
) -> Dense:
    """A Linear whose kernel is [in, out] (the transpose of PyTorch's) with logical axes `names`."""
    kernel_init = nnx.initializers.zeros_init() if zero else nnx.initializers.lecun_normal()
    return Dense(
        in_features,
        out_features,
        kernel_init=partitioned(kernel_init, names),
        bias_init=partitioned(nnx.initializers.zeros_init(), names[1:]),
        dtype=dtype or spec.compute_dtype,
        param_dtype=spec.weight_dtype,
        rngs=rngs,
    )


class Dense(nnx.Linear):
    """nnx.Linear (the same parameters under the same names) whose matmul is `project`."""

    def __call__(self, x: jax.Array) -> jax.Array:
        y = project(x.astype(self.dtype), self.kernel[...].astype(self.dtype))
        return y if self.bias is None else y + self.bias[...].astype(self.dtype)


def layer_norm(x: jax.Array, eps: float) -> jax.Array:
    """LayerNorm without affine parameters, in fp32."""
    x = x.astype(FP32)
    mean = jnp.mean(x, axis=-1, keepdims=True)
    var = jnp.mean(jnp.square(x - mean), axis=-1, keepdims=True)
    return (x - mean) * jax.lax.rsqrt(var + eps)


class AffineLayerNorm(nnx.Module):
    """LayerNorm with scale and bias (Wan's cross-attention norm), computed in fp32."""

    def __init__(self, dim: int, spec: DiTSpec):
        self.eps = spec.eps
        self.scale = nnx.Param(jnp.ones((dim,), spec.weight_dtype), out_sharding=("embed",), eager_sharding=False)
        self.bias = nnx.Param(jnp.zeros((dim,), spec.weight_dtype), out_sharding=("embed",), eager_sharding=False)

    def __call__(self, x: jax.Array) -> jax.Array:
        return layer_norm(x, self.eps) * self.scale[...].astype(FP32) + self.bias[...].astype(FP32)


class RMSNorm(nnx.Module):
    """RMSNorm over the full width (Wan's qk norm spans all heads), computed in fp32."""

    def __init__(self, dim: int, spec: DiTSpec, names=("heads",)):
        self.eps = spec.eps
        self.scale = nnx.Param(jnp.ones((dim,), spec.weight_dtype), out_sharding=names, eager_sharding=False)

    def __call__(self, x: jax.Array) -> jax.Array:
        x32 = x.astype(FP32)
        x32 = x32 * jax.lax.rsqrt(jnp.mean(jnp.square(x32), axis=-1, keepdims=True) + self.eps)
        return (x32 * self.scale[...].astype(FP32)).astype(x.dtype)


def modulate(x: jax.Array, shift: jax.Array, scale: jax.Array, eps: float) -> jax.Array:
    """AdaLN: LayerNorm(x) * (1 + scale) + shift, in fp32."""
    return layer_norm(x, eps) * (1.0 + scale) + shift
