"""The offline encoders of the data path, looked up by `config.data.latent` and `config.data.text_encoder`.

A video encoder maps uint8 (F, H, W, 3) to what a record stores: the pixel space keeps the uint8
pixels (the pipeline space-to-depths them at load time, exactly and cheaply); the Wan VAEs store
the normalised latent mean as float16. Text encoders return valid-token embeddings.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Callable

import numpy as np

VideoEncoder = Callable[[np.ndarray], np.ndarray]
# Records keep up to this many caption tokens (the encoders' limit); a config keeps its text_len first.
STORED_TEXT_LEN = 512
VAE_SCALE = {"wan21": 8, "wan22": 16}  # spatial downsampling; both are 4x in time
VAE_CHANNELS = {"pixel": 12, "wan21": 16, "wan22": 48}


def _pixel(weights: str | None) -> VideoEncoder:
    return lambda video: np.asarray(video, np.uint8)


def _wan(weights: str | None, *, latent: str) -> VideoEncoder:
    if not weights:
        raise ValueError(
            f"config.data.latent={latent!r} encodes with the Wan VAE: pass the VAE folder of a Wan "
            "diffusers checkpoint (e.g. --vae <Wan2.2-TI2V-5B-Diffusers>/vae)"
        )
    import jax.numpy as jnp

    from unityvideo_jax.convert.vae_diffusers import load_diffusers_vae

    vae = load_diffusers_vae(weights)

    def encode(video: np.ndarray) -> np.ndarray:
        x = jnp.asarray(video, jnp.float32)[None] / 127.5 - 1.0
        return np.asarray(vae.normalize(vae.encode(x).mean)[0], np.float16)

    return encode


VIDEO_ENCODERS: dict[str, Callable[[str | None], VideoEncoder]] = {
    "pixel": _pixel,
    "wan21": functools.partial(_wan, latent="wan21"),
    "wan22": functools.partial(_wan, latent="wan22"),
}


def video_encoder(latent: str, weights: str | None = None) -> VideoEncoder:
    """The record-side encoder of latent space `latent` (`weights`: the VAE folder, Wan only)."""
    if latent not in VIDEO_ENCODERS:
        raise ValueError(f"config.data.latent={latent!r}: expected one of {', '.join(VIDEO_ENCODERS)}")
    return VIDEO_ENCODERS[latent](weights)


def stored_video_shape(latent: str, frames: int, height: int, width: int) -> tuple[int, int, int, int]:
    """The shape of one stored video of a config: pixels for `pixel`, latents for the VAEs."""
    if latent == "pixel":
        return (frames, height, width, 3)
    scale = VAE_SCALE[latent]
    return ((frames - 1) // 4 + 1, height // scale, width // scale, VAE_CHANNELS[latent])


@functools.lru_cache(maxsize=4)
def text_encoder(name: str, weights: str | None = None, max_len: int = STORED_TEXT_LEN):
    """A `TextEncoder` (model/text.py) by name, padding to `max_len`, cached per process (workers load
    their own). The one factory for records (STORED_TEXT_LEN) and for training/sampling constants."""
    from unityvideo_jax.model import text

    if name == "minilm":
        return text.minilm_encoder(max_len=max_len)
    if name == "umt5":
        if not weights:
            raise ValueError(
                "config.data.text_encoder='umt5' needs a Wan checkpoint: pass its folder (holding text_encoder/ "
                "and tokenizer/) with --text-encoder DIR"
            )
        root = Path(weights)
        return text.umt5_encoder(root / "text_encoder", root / "tokenizer", max_len=max_len)
    raise ValueError(f"config.data.text_encoder={name!r}: expected one of minilm, umt5")
