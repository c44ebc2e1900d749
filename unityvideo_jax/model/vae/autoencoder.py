"""The Wan VAEs (Wan2.1: 4x8x8, z=16; Wan2.2: 4x16x16, z=48) as one Flax NNX module.

Video is channels-last (B, F, H, W, 3) in [-1, 1] with F = 4k + 1 frames; latents are
(B, k + 1, H / s, W / s, z_dim). Encoding and decoding run causally chunk by chunk (encode: the
first frame alone, then 4 frames at a time; decode: one latent frame at a time, as diffusers'
`AutoencoderKLWan` does) with a `FrameCache` carrying each causal layer's past, so memory stays
bounded in the number of frames; `chunk_frames=None` codes the whole video at once (same result).
Each chunk is one jitted call. The numerics follow diffusers' `AutoencoderKLWan`.

On TPU (and GPU with TF32) fp32 convolutions run at XLA's default, reduced precision; for
exact fp32 wrap the calls in `with jax.default_matmul_precision("highest"):`.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
from flax import nnx

from unityvideo_jax.model.vae.coders import WanDecoder, WanEncoder
from unityvideo_jax.model.vae.config import WanVAEConfig
from unityvideo_jax.model.vae.layers import FP32, CausalConv3d, FrameCache
from unityvideo_jax.model.vae.tiling import VAETiling, needs_tiles, tiled_decode, tiled_encode


def patchify(x: jax.Array, p: int) -> jax.Array:
    """(B, F, H, W, C) -> (B, F, H/p, W/p, C p p); channel order (c, w offset, h offset) as diffusers."""
    if p == 1:
        return x
    b, f, h, w, c = x.shape
    x = x.reshape(b, f, h // p, p, w // p, p, c).transpose(0, 1, 2, 4, 6, 5, 3)
    return x.reshape(b, f, h // p, w // p, c * p * p)


def unpatchify(x: jax.Array, p: int) -> jax.Array:
    if p == 1:
        return x
    b, f, h, w, c = x.shape
    x = x.reshape(b, f, h, w, c // (p * p), p, p).transpose(0, 1, 2, 6, 3, 5, 4)
    return x.reshape(b, f, h * p, w * p, c // (p * p))


class LatentDistribution(NamedTuple):
    """The encoder's diagonal Gaussian; `mean` is the latent pipelines use."""

    mean: jax.Array
    logvar: jax.Array  # clipped to [-30, 20]

    def sample(self, key: jax.Array) -> jax.Array:
        return self.mean + jnp.exp(0.5 * self.logvar) * jax.random.normal(key, self.mean.shape, self.mean.dtype)


@functools.partial(jax.jit, static_argnums=0)
def _encode_chunk(graphdef, state, frames, entries):
    vae = nnx.merge(graphdef, state)
    cache = FrameCache(entries)
    moments = vae.quant_conv(vae.encoder(frames, cache))
    return moments.astype(FP32), cache.entries


@functools.partial(jax.jit, static_argnums=0)
def decode_chunk(graphdef, state, latent, entries):
    vae = nnx.merge(graphdef, state)
    cache = FrameCache(entries)
    frames = vae.decoder(vae.post_quant_conv(latent), cache)
    return frames.astype(FP32), cache.entries


def _run_chunks(step, module: nnx.Module, x: jax.Array, bounds: list[tuple[int, int]]) -> jax.Array:
    graphdef, state = nnx.split(module)
    entries, outputs = None, []
    for start, stop in bounds:
        out, entries = step(graphdef, state, x[:, start:stop], entries)
        outputs.append(out)
    return jnp.concatenate(outputs, axis=1)


class WanVAE(nnx.Module):
    """A Wan VAE: `encode(video) -> LatentDistribution`, `decode(latent) -> video`."""

    def __init__(self, config: WanVAEConfig, *, rngs: nnx.Rngs):
        self.config = config
        dtype, z = config.compute_dtype, config.z_dim
        self.encoder = WanEncoder(config, rngs=rngs)
        self.quant_conv = CausalConv3d(2 * z, 2 * z, (1, 1, 1), dtype=dtype, rngs=rngs)
        self.post_quant_conv = CausalConv3d(z, z, (1, 1, 1), dtype=dtype, rngs=rngs)
        self.decoder = WanDecoder(config, rngs=rngs)

    def encode(
        self, video: jax.Array, *, chunk_frames: int | None = 4, tiling: VAETiling | None = None
    ) -> LatentDistribution:
        """video (B, F, H, W, 3) in [-1, 1], F = 4k + 1 -> latent distribution (B, k + 1, H/s, W/s, z).

        `chunk_frames`: frames per encoder call after the first frame (a multiple of 4), or
        None for all at once. `tiling`: code overlapping spatial tiles when frames exceed one.
        """
        config = self.config
        self._check_video(video)
        _check_chunk_frames(chunk_frames, config.temporal_stride, "encode")
        x = patchify(jnp.asarray(video), config.patch_size)
        encode = functools.partial(self._encode_moments, chunk_frames=chunk_frames)
        if needs_tiles(tiling, *video.shape[2:4]):
            tiling.check(config.spatial_stride)
            moments = tiled_encode(encode, x, tiling, config.spatial_stride, config.patch_size)
        else:
            moments = encode(x)
        mean, logvar = jnp.split(moments, 2, axis=-1)
        return LatentDistribution(mean, jnp.clip(logvar, -30.0, 20.0))

    def decode(
        self, latent: jax.Array, *, chunk_frames: int | None = 1, tiling: VAETiling | None = None
    ) -> jax.Array:
        """latent (B, k + 1, h, w, z) -> video (B, 4k + 1, h s, w s, 3), clamped to [-1, 1].

        `chunk_frames`: latent frames per decoder call, or None for all at once.
        """
        config = self.config
        latent = jnp.asarray(latent)
        if latent.ndim != 5 or latent.shape[-1] != config.z_dim or latent.shape[1] < 1:
            raise ValueError(
                f"latent must be (B, F, h, w, {config.z_dim}) channels-last with F >= 1, got shape "
                f"{latent.shape}; pass the (denormalized) mean of `encode`, channels last"
            )
        _check_chunk_frames(chunk_frames, 1, "decode")
        decode = functools.partial(self._decode_frames, chunk_frames=chunk_frames)
        if needs_tiles(tiling, *latent.shape[2:4], scale=config.spatial_stride):
            tiling.check(config.spatial_stride)
            frames = tiled_decode(decode, latent, tiling, config.spatial_stride, config.patch_size)
        else:
            frames = decode(latent)
        return jnp.clip(unpatchify(frames, config.patch_size), -1.0, 1.0)

    def normalize(self, z: jax.Array) -> jax.Array:
        """Latent -> the unit-scale space the DiT sees: (z - mean) / std per channel."""
        mean, std = self._latent_stats()
        return (z - mean) / std

    def denormalize(self, z: jax.Array) -> jax.Array:
        mean, std = self._latent_stats()
        return z * std + mean

    def _latent_stats(self) -> tuple[jax.Array, jax.Array]:
        return jnp.asarray(self.config.latents_mean, FP32), jnp.asarray(self.config.latents_std, FP32)

    def _encode_moments(self, x: jax.Array, chunk_frames: int | None) -> jax.Array:
        frames = x.shape[1]
        step = frames if chunk_frames is None else chunk_frames
        bounds = [(0, 1)] + [(start, min(start + step, frames)) for start in range(1, frames, step)]
        return _run_chunks(_encode_chunk, self, x, bounds)

    def _decode_frames(self, z: jax.Array, chunk_frames: int | None) -> jax.Array:
        frames = z.shape[1]
        step = frames if chunk_frames is None else chunk_frames
        bounds = [(start, min(start + step, frames)) for start in range(0, frames, step)]
        return _run_chunks(decode_chunk, self, z, bounds)

    def _check_video(self, video: jax.Array) -> None:
        config = self.config
        shape = tuple(video.shape)
        if len(shape) != 5 or shape[-1] != config.video_channels:
            raise ValueError(
                f"video must be (B, F, H, W, {config.video_channels}) channels-last, got shape {shape}; "
                "move channels last (e.g. x.transpose(0, 2, 3, 4, 1) for PyTorch's B, C, F, H, W)"
            )
        frames, height, width = shape[1:4]
        step = config.temporal_stride
        if frames < 1 or frames % step != 1 % step:
            shorter = max(1, frames - (frames - 1) % step)
            raise ValueError(
                f"video has {frames} frames; the Wan VAE needs {step}k + 1 frames (1, {1 + step}, "
                f"{1 + 2 * step}, ...): trim it to {shorter} frames or pad it to {shorter + step}"
            )
        stride = config.spatial_stride
        if height % stride or width % stride or height == 0 or width == 0:
            fit = (max(stride, height // stride * stride), max(stride, width // stride * stride))
            raise ValueError(
                f"video frames are {height}x{width} (HxW); this Wan VAE needs height and width divisible "
                f"by {stride}: resize or crop the frames to e.g. {fit[0]}x{fit[1]}"
            )


def _check_chunk_frames(chunk_frames: int | None, multiple: int, method: str) -> None:
    if chunk_frames is not None and (chunk_frames < 1 or chunk_frames % multiple):
        raise ValueError(
            f"{method}(chunk_frames={chunk_frames}): must be a positive multiple of {multiple}, or None "
            "to code the whole video in one call"
        )
