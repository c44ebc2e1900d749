"""Spatial tiling for the Wan VAEs: overlapping tiles are coded one by one and blended linearly
across their overlap, so memory stays bounded in the frame size.

Tile sizes follow diffusers' `AutoencoderKLWan.enable_tiling` (tile_sample_min_* and
tile_sample_stride_*, in sample pixels) and its units, so the two give the same result on the
same weights. One quirk kept on purpose: for Wan2.2 the encoder's tiles are laid over the
2x2-patchified frame, so in real pixels they are twice the configured size.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp

from unityvideo_jax.model.vae.layers import FP32

H_AXIS, W_AXIS = 2, 3  # (B, F, H, W, C)


@dataclasses.dataclass(frozen=True)
class VAETiling:
    """Tile size and stride in sample pixels; the overlap (tile - stride) is blended."""

    tile_height: int = 256
    tile_width: int = 256
    stride_height: int = 192
    stride_width: int = 192

    def check(self, spatial_stride: int) -> None:
        sizes = dataclasses.asdict(self)
        for name, size in sizes.items():
            if size <= 0 or size % spatial_stride:
                raise ValueError(
                    f"VAETiling.{name}={size} must be a positive multiple of the VAE's spatial stride "
                    f"{spatial_stride}; use {max(1, round(size / spatial_stride)) * spatial_stride}"
                )
        for axis in ("height", "width"):
            if sizes[f"stride_{axis}"] > sizes[f"tile_{axis}"]:
                raise ValueError(
                    f"VAETiling.stride_{axis}={sizes[f'stride_{axis}']} exceeds tile_{axis}="
                    f"{sizes[f'tile_{axis}']}, which would leave gaps; make the stride at most the tile"
                )


@functools.partial(jax.jit, static_argnums=(2, 3))
def _blend(before: jax.Array, tile: jax.Array, extent: int, axis: int) -> jax.Array:
    """Fade from the end of `before` into the start of `tile` over `extent` pixels of `axis`."""
    extent = min(before.shape[axis], tile.shape[axis], extent)
    if extent <= 0:
        return tile
    shape = [1] * tile.ndim
    shape[axis] = extent
    weight = (jnp.arange(extent, dtype=FP32) / extent).reshape(shape)
    tail = jax.lax.slice_in_dim(before, before.shape[axis] - extent, before.shape[axis], axis=axis)
    head = jax.lax.slice_in_dim(tile, 0, extent, axis=axis)
    rest = jax.lax.slice_in_dim(tile, extent, tile.shape[axis], axis=axis)
    return jnp.concatenate([tail * (1 - weight) + head * weight, rest], axis=axis)


def _code_tiles(
    code: Callable[[jax.Array], jax.Array],
    x: jax.Array,
    tile: tuple[int, int],
    stride: tuple[int, int],
    blend: tuple[int, int],
    keep: tuple[int, int],
    out_size: tuple[int, int],
) -> jax.Array:
    """Codes each tile of `x`, then blends every tile with its already-blended upper and left
    neighbours (the order diffusers uses), keeps its top-left `keep` and stitches."""
    height, width = x.shape[H_AXIS], x.shape[W_AXIS]
    grid = [
        [code(x[:, :, i : i + tile[0], j : j + tile[1]]) for j in range(0, width, stride[1])]
        for i in range(0, height, stride[0])
    ]
    rows = []
    for i, row in enumerate(grid):
        for j in range(len(row)):
            if i > 0:
                row[j] = _blend(grid[i - 1][j], row[j], blend[0], H_AXIS)
            if j > 0:
                row[j] = _blend(row[j - 1], row[j], blend[1], W_AXIS)
        rows.append(jnp.concatenate([t[:, :, : keep[0], : keep[1]] for t in row], axis=W_AXIS))
    return jnp.concatenate(rows, axis=H_AXIS)[:, :, : out_size[0], : out_size[1]]


def tiled_encode(
    encode: Callable[[jax.Array], jax.Array], x: jax.Array, tiling: VAETiling, spatial_stride: int, patch: int
) -> jax.Array:
    """`encode` maps patchified frames `x` to moments; the tiles are laid over `x` itself."""
    ratio = spatial_stride // patch
    tile = (tiling.tile_height, tiling.tile_width)
    stride = (tiling.stride_height, tiling.stride_width)
    tile_latent = tuple(t // ratio for t in tile)
    keep = tuple(s // ratio for s in stride)
    blend = tuple(t - k for t, k in zip(tile_latent, keep))
    out_size = (x.shape[H_AXIS] // ratio, x.shape[W_AXIS] // ratio)
    return _code_tiles(encode, x, tile, stride, blend, keep, out_size)


def tiled_decode(
    decode: Callable[[jax.Array], jax.Array], z: jax.Array, tiling: VAETiling, spatial_stride: int, patch: int
) -> jax.Array:
    """`decode` maps latents `z` to (patchified, unclamped) frames."""
    tile = (tiling.tile_height // spatial_stride, tiling.tile_width // spatial_stride)
    stride = (tiling.stride_height // spatial_stride, tiling.stride_width // spatial_stride)
    keep = (tiling.stride_height // patch, tiling.stride_width // patch)
    blend = (tiling.tile_height // patch - keep[0], tiling.tile_width // patch - keep[1])
    ratio = spatial_stride // patch
    out_size = (z.shape[H_AXIS] * ratio, z.shape[W_AXIS] * ratio)
    return _code_tiles(decode, z, tile, stride, blend, keep, out_size)


def needs_tiles(tiling: VAETiling | None, height: int, width: int, scale: int = 1) -> bool:
    """Whether frames of `height` x `width` (in units of `scale` sample pixels) exceed one tile."""
    if tiling is None:
        return False
    return width > tiling.tile_width // scale or height > tiling.tile_height // scale
