"""The shapes a config trains on: latent videos, the token grid and the joint sequence."""

from __future__ import annotations

from unityvideo_jax.data.encoders import stored_video_shape
from unityvideo_jax.model import pixel


def latent_shape(data) -> tuple[int, int, int, int]:
    """(F', H', W', C) of one stream's latents for `config.data` (its latent space and video size)."""
    if data.latent == "pixel":
        f = pixel.FACTOR
        return (int(data.frames), int(data.height) // f, int(data.width) // f, pixel.CHANNELS)
    return stored_video_shape(data.latent, int(data.frames), int(data.height), int(data.width))


def token_grid(config) -> tuple[int, int, int]:
    """(frames, height, width) in tokens of one stream after patchifying."""
    f, h, w, _ = latent_shape(config.data)
    pt, ph, pw = (int(p) for p in config.model.patch_size)
    return f // pt, h // ph, w // pw


def joint_length(config, streams: int = 2) -> int:
    """Tokens in the joint self-attention sequence (both streams)."""
    f, h, w = token_grid(config)
    return streams * f * h * w
