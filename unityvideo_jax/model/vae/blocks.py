"""The blocks of the Wan VAE encoder and decoder: residual and attention blocks, the spatial and
temporal resamplers, and Wan2.2's residual down/up blocks with their parameter-free shortcuts.

Attribute names follow diffusers' `AutoencoderKLWan`, so the weight import is a name table of
transposes. Every block takes and returns channels-last video (B, F, H, W, C) and threads one
`FrameCache` through its causal layers.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from unityvideo_jax.model.vae.layers import FP32, CausalConv3d, FrameCache, FrameConv2d, RMSNorm, dense


class ResidualBlock(nnx.Module):
    def __init__(self, in_dim: int, out_dim: int, *, dtype, rngs: nnx.Rngs):
        self.norm1 = RMSNorm(in_dim, rngs=rngs)
        self.conv1 = CausalConv3d(in_dim, out_dim, dtype=dtype, rngs=rngs)
        self.norm2 = RMSNorm(out_dim, rngs=rngs)
        self.conv2 = CausalConv3d(out_dim, out_dim, dtype=dtype, rngs=rngs)
        self.conv_shortcut = (
            CausalConv3d(in_dim, out_dim, (1, 1, 1), dtype=dtype, rngs=rngs) if in_dim != out_dim else None
        )

    def __call__(self, x: jax.Array, cache: FrameCache) -> jax.Array:
        shortcut = x if self.conv_shortcut is None else self.conv_shortcut(x)
        x = self.conv1(nnx.silu(self.norm1(x)), cache)
        x = self.conv2(nnx.silu(self.norm2(x)), cache)
        return x + shortcut.astype(x.dtype)


def residual_stack(in_dim: int, out_dim: int, count: int, *, dtype, rngs: nnx.Rngs) -> nnx.List:
    """`count` residual blocks; the first maps in_dim to out_dim."""
    return nnx.List(
        [ResidualBlock(in_dim if i == 0 else out_dim, out_dim, dtype=dtype, rngs=rngs) for i in range(count)]
    )


class AttentionBlock(nnx.Module):
    """Single-head self-attention over the pixels of each frame (no attention across time)."""

    def __init__(self, dim: int, *, dtype, rngs: nnx.Rngs):
        self.norm = RMSNorm(dim, rngs=rngs)
        self.to_qkv = dense(dim, 3 * dim, dtype=dtype, rngs=rngs)
        self.proj = dense(dim, dim, dtype=dtype, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        b, f, h, w, c = x.shape
        q, k, v = jnp.split(self.to_qkv(self.norm(x).reshape(b * f, h * w, c)), 3, axis=-1)
        logits = jnp.einsum("BLC,BMC->BLM", q, k, preferred_element_type=FP32) * c**-0.5
        weights = jax.nn.softmax(logits, axis=-1).astype(v.dtype)
        y = self.proj(jnp.einsum("BLM,BMC->BLC", weights, v))
        return x + y.reshape(b, f, h, w, c).astype(x.dtype)


class MidBlock(nnx.Module):
    def __init__(self, dim: int, *, dtype, rngs: nnx.Rngs):
        self.resnets = nnx.List([ResidualBlock(dim, dim, dtype=dtype, rngs=rngs) for _ in range(2)])
        self.attentions = nnx.List([AttentionBlock(dim, dtype=dtype, rngs=rngs)])

    def __call__(self, x: jax.Array, cache: FrameCache) -> jax.Array:
        x = self.resnets[0](x, cache)
        return self.resnets[1](self.attentions[0](x), cache)


def _nearest_up2(x: jax.Array) -> jax.Array:
    b, f, h, w, c = x.shape
    x = jnp.broadcast_to(x[:, :, :, None, :, None], (b, f, h, 2, w, 2, c))
    return x.reshape(b, f, 2 * h, 2 * w, c)


class Upsample(nnx.Module):
    """Nearest x2 in space then a 3x3 conv; with `temporal`, a causal time conv first doubles the
    frames, except the first frame of a video, which stays one frame."""

    def __init__(self, dim: int, out_dim: int, *, temporal: bool, dtype, rngs: nnx.Rngs):
        self.resample_conv = FrameConv2d(dim, out_dim, dtype=dtype, rngs=rngs)
        self.time_conv = CausalConv3d(dim, 2 * dim, (3, 1, 1), dtype=dtype, rngs=rngs) if temporal else None
        self.dtype = dtype

    def _double_frames(self, x: jax.Array, cache: FrameCache) -> jax.Array:
        head, rest = (x[:, :1], x[:, 1:]) if cache.first else (x[:, :0], x)
        if rest.shape[1] == 0:
            cache.take()
            cache.give(jnp.zeros((x.shape[0], self.time_conv.past, *x.shape[2:]), self.dtype))
            return head
        y = self.time_conv(rest, cache)
        b, t, h, w, c2 = y.shape
        # channels [0, C) become frame 2t, channels [C, 2C) frame 2t + 1
        y = y.reshape(b, t, h, w, 2, c2 // 2).transpose(0, 1, 4, 2, 3, 5).reshape(b, 2 * t, h, w, c2 // 2)
        return jnp.concatenate([head.astype(y.dtype), y], axis=1)

    def __call__(self, x: jax.Array, cache: FrameCache) -> jax.Array:
        if self.time_conv is not None:
            x = self._double_frames(x, cache)
        return self.resample_conv(_nearest_up2(x))


class Downsample(nnx.Module):
    """A stride-2 3x3 conv (padded bottom/right only); with `temporal`, a stride-2 time conv then
    halves the frames: the first frame of a video passes alone, every later window of three
    frames reaches one frame into the past."""

    def __init__(self, dim: int, *, temporal: bool, dtype, rngs: nnx.Rngs):
        self.resample_conv = FrameConv2d(dim, dim, stride=2, padding=((0, 1), (0, 1)), dtype=dtype, rngs=rngs)
        self.time_conv = (
            CausalConv3d(dim, dim, (3, 1, 1), stride_t=2, dtype=dtype, rngs=rngs) if temporal else None
        )

    def __call__(self, x: jax.Array, cache: FrameCache) -> jax.Array:
        x = self.resample_conv(x)
        if self.time_conv is None:
            return x
        past = cache.take()
        cache.give(x[:, -1:])
        head, frames = (x[:, :1], x) if cache.first else (x[:, :0], jnp.concatenate([past, x], axis=1))
        if frames.shape[1] < 3:
            return head
        return jnp.concatenate([head, self.time_conv.valid(frames)], axis=1)


def average_down(x: jax.Array, out_dim: int, factor_t: int, factor_s: int) -> jax.Array:
    """Wan2.2's down shortcut: space/time-to-depth, then the mean of each group of channels."""
    pad = -x.shape[1] % factor_t
    x = jnp.pad(x, ((0, 0), (pad, 0), (0, 0), (0, 0), (0, 0)))
    b, f, h, w, c = x.shape
    x = x.reshape(b, f // factor_t, factor_t, h // factor_s, factor_s, w // factor_s, factor_s, c)
    x = x.transpose(0, 1, 3, 5, 7, 2, 4, 6)  # channel index = ((c * ft + t) * fs + h) * fs + w
    return x.reshape(b, f // factor_t, h // factor_s, w // factor_s, out_dim, -1).mean(axis=-1)


def duplicate_up(x: jax.Array, out_dim: int, factor_t: int, factor_s: int, first: bool) -> jax.Array:
    """Wan2.2's up shortcut: repeat channels, then depth-to-space/time; the first frame of a
    video stays one frame, as in the main path."""
    b, f, h, w, c = x.shape
    x = jnp.repeat(x, out_dim * factor_t * factor_s * factor_s // c, axis=-1)
    x = x.reshape(b, f, h, w, out_dim, factor_t, factor_s, factor_s)
    x = x.transpose(0, 1, 5, 2, 6, 3, 7, 4).reshape(b, f * factor_t, h * factor_s, w * factor_s, out_dim)
    return x[:, factor_t - 1 :] if first else x


class ResidualDownBlock(nnx.Module):
    """Wan2.2 encoder stage: residual blocks and a downsampler, plus an averaging shortcut."""

    def __init__(self, in_dim, out_dim, num_res_blocks, *, down: bool, temporal: bool, dtype, rngs):
        self.resnets = residual_stack(in_dim, out_dim, num_res_blocks, dtype=dtype, rngs=rngs)
        self.downsampler = Downsample(out_dim, temporal=temporal, dtype=dtype, rngs=rngs) if down else None
        self.out_dim = out_dim
        self.factors = (2 if temporal else 1, 2 if down else 1)

    def __call__(self, x: jax.Array, cache: FrameCache) -> jax.Array:
        shortcut = average_down(x, self.out_dim, *self.factors)
        for resnet in self.resnets:
            x = resnet(x, cache)
        if self.downsampler is not None:
            x = self.downsampler(x, cache)
        return x + shortcut.astype(x.dtype)


class UpBlock(nnx.Module):
    """Wan2.1 decoder stage: residual blocks, then an upsampler that halves the channels."""

    def __init__(self, in_dim, out_dim, num_res_blocks, *, up: bool, temporal: bool, dtype, rngs):
        self.resnets = residual_stack(in_dim, out_dim, num_res_blocks + 1, dtype=dtype, rngs=rngs)
        self.upsamplers = (
            nnx.List([Upsample(out_dim, out_dim // 2, temporal=temporal, dtype=dtype, rngs=rngs)]) if up else None
        )

    def __call__(self, x: jax.Array, cache: FrameCache) -> jax.Array:
        for resnet in self.resnets:
            x = resnet(x, cache)
        return x if self.upsamplers is None else self.upsamplers[0](x, cache)


class ResidualUpBlock(nnx.Module):
    """Wan2.2 decoder stage: residual blocks and an upsampler, plus a duplicating shortcut."""

    def __init__(self, in_dim, out_dim, num_res_blocks, *, up: bool, temporal: bool, dtype, rngs):
        self.resnets = residual_stack(in_dim, out_dim, num_res_blocks + 1, dtype=dtype, rngs=rngs)
        self.upsampler = Upsample(out_dim, out_dim, temporal=temporal, dtype=dtype, rngs=rngs) if up else None
        self.out_dim = out_dim
        self.factors = (2 if temporal else 1, 2)

    def __call__(self, x: jax.Array, cache: FrameCache) -> jax.Array:
        shortcut = None if self.upsampler is None else duplicate_up(x, self.out_dim, *self.factors, cache.first)
        for resnet in self.resnets:
            x = resnet(x, cache)
        if self.upsampler is None:
            return x
        return self.upsampler(x, cache) + shortcut.astype(x.dtype)
