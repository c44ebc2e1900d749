"""The shapes a config trains on: stored videos, latent videos and the token grid."""

from __future__ import annotations

from unityvideo_jax.latents import pixel

VAE_SCALE = {"wan21": 8, "wan22": 16}  # spatial downsampling; both are 4x in time
VAE_CHANNELS = {"pixel": pixel.CHANNELS, "wan21": 16, "wan22": 48}
# config.data.vae_config may name a test-size VAE of the same latent space: same strides, fewer channels
VAE_CHANNELS_BY_CONFIG = {"wan21_tiny": 4, "wan22_tiny": 8}


def stored_video_shape(latent: str, frames: int, height: int, width: int) -> tuple[int, int, int, int]:
    """The shape of one stored video of a config: pixels for `pixel`, latents for the VAEs."""
    if latent == "pixel":
        return (frames, height, width, 3)
    scale = VAE_SCALE[latent]
    return ((frames - 1) // 4 + 1, height // scale, width // scale, VAE_CHANNELS[latent])


def latent_shape(data) -> tuple[int, int, int, int]:
    """(F', H', W', C) of one stream's latents for `config.data` (its latent space and video size)."""
    if data.latent == "pixel":
        f = pixel.FACTOR
        return (int(data.frames), int(data.height) // f, int(data.width) // f, pixel.CHANNELS)
    f, h, w, c = stored_video_shape(data.latent, int(data.frames), int(data.height), int(data.width))
    return f, h, w, VAE_CHANNELS_BY_CONFIG.get(data.get("vae_config", "") or data.latent, c)


def token_grid(config) -> tuple[int, int, int]:
    """(frames, height, width) in tokens of one stream after patchifying."""
    f, h, w, _ = latent_shape(config.data)
    pt, ph, pw = (int(p) for p in config.model.patch_size)
    return f // pt, h // ph, w // pw

