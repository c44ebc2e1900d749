"""The Wan VAE encoder and decoder stacks (diffusers' `WanEncoder3d` / `WanDecoder3d` layout).

Both run on one chunk of frames at a time: a `FrameCache` carries each causal layer's past to
the next chunk, and a fresh cache (`FrameCache(None)`) marks the first chunk of a video.
"""

from __future__ import annotations

import jax
from flax import nnx

from unityvideo_jax.model.vae.blocks import (
    Downsample,
    MidBlock,
    ResidualDownBlock,
    ResidualUpBlock,
    UpBlock,
    residual_stack,
)
from unityvideo_jax.model.vae.config import WanVAEConfig
from unityvideo_jax.model.vae.layers import CausalConv3d, FrameCache, RMSNorm


def _wan21_stage(in_dim, out_dim, config: WanVAEConfig, *, down: bool, temporal: bool, rngs) -> list[nnx.Module]:
    """Wan2.1 keeps an encoder stage flat: its residual blocks, then the downsampler."""
    dtype = config.compute_dtype
    layers = list(residual_stack(in_dim, out_dim, config.num_res_blocks, dtype=dtype, rngs=rngs))
    if down:
        layers.append(Downsample(out_dim, temporal=temporal, dtype=dtype, rngs=rngs))
    return layers


class WanEncoder(nnx.Module):
    """Video (or Wan2.2's patchified video) of 4k + 1 frames -> 2 z_dim moments of k + 1 frames."""

    def __init__(self, config: WanVAEConfig, *, rngs: nnx.Rngs):
        dtype = config.compute_dtype
        dims = [config.base_dim * m for m in (1, *config.dim_mult)]
        last = len(config.dim_mult) - 1
        self.conv_in = CausalConv3d(config.in_channels, dims[0], dtype=dtype, rngs=rngs)
        blocks = []
        for i, (in_dim, out_dim) in enumerate(zip(dims[:-1], dims[1:])):
            down = i != last
            temporal = down and config.temporal_downsample[i]
            if config.is_residual:
                blocks.append(
                    ResidualDownBlock(
                        in_dim, out_dim, config.num_res_blocks, down=down, temporal=temporal, dtype=dtype, rngs=rngs
                    )
                )
            else:
                blocks.extend(_wan21_stage(in_dim, out_dim, config, down=down, temporal=temporal, rngs=rngs))
        self.down_blocks = nnx.List(blocks)
        self.mid_block = MidBlock(dims[-1], dtype=dtype, rngs=rngs)
        self.norm_out = RMSNorm(dims[-1], rngs=rngs)
        self.conv_out = CausalConv3d(dims[-1], 2 * config.z_dim, dtype=dtype, rngs=rngs)

    def __call__(self, x: jax.Array, cache: FrameCache) -> jax.Array:
        x = self.conv_in(x, cache)
        for block in self.down_blocks:
            x = block(x, cache)
        x = self.mid_block(x, cache)
        return self.conv_out(nnx.silu(self.norm_out(x)), cache)


class WanDecoder(nnx.Module):
    """Latent -> video (or Wan2.2's patchified video), not yet clamped."""

    def __init__(self, config: WanVAEConfig, *, rngs: nnx.Rngs):
        dtype = config.compute_dtype
        mult = config.dim_mult
        dims = [config.decoder_dim * m for m in (mult[-1], *reversed(mult))]
        temporal_upsample = tuple(reversed(config.temporal_downsample))
        last = len(mult) - 1
        self.conv_in = CausalConv3d(config.z_dim, dims[0], dtype=dtype, rngs=rngs)
        self.mid_block = MidBlock(dims[0], dtype=dtype, rngs=rngs)
        blocks = []
        for i, (in_dim, out_dim) in enumerate(zip(dims[:-1], dims[1:])):
            up = i != last
            temporal = up and temporal_upsample[i]
            if config.is_residual:
                block = ResidualUpBlock
            else:
                block = UpBlock
                in_dim = in_dim // 2 if i > 0 else in_dim  # Wan2.1's upsamplers halve the channels
            blocks.append(
                block(in_dim, out_dim, config.num_res_blocks, up=up, temporal=temporal, dtype=dtype, rngs=rngs)
            )
        self.up_blocks = nnx.List(blocks)
        self.norm_out = RMSNorm(dims[-1], rngs=rngs)
        self.conv_out = CausalConv3d(dims[-1], config.out_channels, dtype=dtype, rngs=rngs)

    def __call__(self, x: jax.Array, cache: FrameCache) -> jax.Array:
        x = self.conv_in(x, cache)
        x = self.mid_block(x, cache)
        for block in self.up_blocks:
            x = block(x, cache)
        return self.conv_out(nnx.silu(self.norm_out(x)), cache)
