"""The layers the Wan VAEs are made of: causal 3D convolutions that carry their past between
chunks in a `FrameCache`, per-frame 2D convolutions, and Wan's fp32 RMS norm.

Video is channels-last, (B, F, H, W, C). Parameters are fp32 and carry logical axis names;
activations run in the compute dtype, norms in fp32.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from unityvideo_jax.parallel.logical import partitioned

FP32 = jnp.float32

CONV3D_AXES = (None, None, None, "conv_in", "conv_out")
CONV2D_AXES = (None, None, "conv_in", "conv_out")
DENSE_AXES = ("conv_in", "conv_out")


def _param(init, names, rngs: nnx.Rngs, shape) -> nnx.Param:
    return nnx.Param(partitioned(init, names)(rngs.params(), shape, FP32))


class FrameCache:
    """The frames each causal layer carries into the next chunk, in call order.

    `FrameCache(None)` starts a video: every layer then sees zeros as its past, exactly what
    causal zero padding gives. `FrameCache(entries)` continues from the `entries` the previous
    chunk left. Each layer calls `take()` once (its past, None on the first chunk) and then
    `give(frames)` once (the past of the next chunk).
    """

    def __init__(self, entries: list[jax.Array] | None = None):
        self.first = entries is None
        self._previous = entries
        self._taken = 0
        self.entries: list[jax.Array] = []

    def take(self) -> jax.Array | None:
        if self._previous is None:
            return None
        entry = self._previous[self._taken]
        self._taken += 1
        return entry

    def give(self, frames: jax.Array) -> None:
        self.entries.append(frames)


class CausalConv3d(nnx.Module):
    """A Conv3d padded in time on the past side only; kernel [T, H, W, I, O].

    With a time kernel kt and stride 1, the kt - 1 past frames come from the cache (zeros at the
    start of a video), so chunk-by-chunk equals all-at-once. `valid` is the bare convolution
    (no time padding), used by the stride-2 temporal downsampler.
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        kernel: tuple[int, int, int] = (3, 3, 3),
        *,
        stride_t: int = 1,
        dtype=FP32,
        rngs: nnx.Rngs,
    ):
        self.kernel = _param(nnx.initializers.lecun_normal(), CONV3D_AXES, rngs, (*kernel, in_dim, out_dim))
        self.bias = _param(nnx.initializers.zeros_init(), ("conv_out",), rngs, (out_dim,))
        self.past = kernel[0] - 1 if stride_t == 1 else 0
        self.stride_t = stride_t
        self.spatial_pad = (kernel[1] // 2, kernel[2] // 2)
        self.dtype = dtype

    def valid(self, x: jax.Array) -> jax.Array:
        (ph, pw), dt = self.spatial_pad, self.dtype
        y = jax.lax.conv_general_dilated(
            x.astype(dt),
            self.kernel[...].astype(dt),
            window_strides=(self.stride_t, 1, 1),
            padding=((0, 0), (ph, ph), (pw, pw)),
            dimension_numbers=("NDHWC", "DHWIO", "NDHWC"),
        )
        return y + self.bias[...].astype(dt)

    def __call__(self, x: jax.Array, cache: FrameCache | None = None) -> jax.Array:
        if self.past == 0:
            return self.valid(x)
        x = x.astype(self.dtype)
        past = cache.take()
        if past is None:
            past = jnp.zeros((x.shape[0], self.past, *x.shape[2:]), x.dtype)
        x = jnp.concatenate([past, x], axis=1)
        cache.give(x[:, -self.past :])
        return self.valid(x)


class FrameConv2d(nnx.Module):
    """A Conv2d applied to every frame on its own; kernel [H, W, I, O]."""

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        *,
        stride: int = 1,
        padding: tuple[tuple[int, int], tuple[int, int]] = ((1, 1), (1, 1)),
        dtype=FP32,
        rngs: nnx.Rngs,
    ):
        self.kernel = _param(nnx.initializers.lecun_normal(), CONV2D_AXES, rngs, (3, 3, in_dim, out_dim))
        self.bias = _param(nnx.initializers.zeros_init(), ("conv_out",), rngs, (out_dim,))
        self.stride = stride
        self.padding = padding
        self.dtype = dtype

    def __call__(self, x: jax.Array) -> jax.Array:
        b, f = x.shape[:2]
        y = jax.lax.conv_general_dilated(
            x.reshape(b * f, *x.shape[2:]).astype(self.dtype),
            self.kernel[...].astype(self.dtype),
            window_strides=(self.stride, self.stride),
            padding=self.padding,
            dimension_numbers=("NHWC", "HWIO", "NHWC"),
        )
        y = y + self.bias[...].astype(self.dtype)
        return y.reshape(b, f, *y.shape[1:])


def dense(in_dim: int, out_dim: int, *, dtype, rngs: nnx.Rngs) -> nnx.Linear:
    """A 1x1 convolution over channels, kernel [I, O] (PyTorch's Conv2d [O, I, 1, 1] transposed)."""
    return nnx.Linear(
        in_dim,
        out_dim,
        kernel_init=partitioned(nnx.initializers.lecun_normal(), DENSE_AXES),
        bias_init=partitioned(nnx.initializers.zeros_init(), ("conv_out",)),
        dtype=dtype,
        param_dtype=FP32,
        rngs=rngs,
    )


class RMSNorm(nnx.Module):
    """Wan's norm over channels: x / max(|x|, 1e-12) * sqrt(C) * gamma, always in fp32."""

    def __init__(self, dim: int, *, rngs: nnx.Rngs):
        self.gamma = _param(nnx.initializers.ones_init(), ("norm",), rngs, (dim,))
        self.scale = dim**0.5

    def __call__(self, x: jax.Array) -> jax.Array:
        x32 = x.astype(FP32)
        sum_sq = jnp.sum(jnp.square(x32), axis=-1, keepdims=True)
        y = x32 * jax.lax.rsqrt(jnp.maximum(sum_sq, 1e-24)) * self.scale * self.gamma[...]
        return y.astype(x.dtype)
