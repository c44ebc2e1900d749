"""The record-side video encoder of a latent space (`config.data.latent`).

A record stores what the training input needs cheaply: the pixel space keeps the uint8 pixels (the
training input space-to-depths them at load time, exactly and cheaply); the Wan VAEs store the
normalised latent mean (model/vae/latent_space.py) as float16.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from unityvideo_jax.model.vae.latent_space import latent_space

VideoEncoder = Callable[[np.ndarray], np.ndarray]


def video_encoder(latent: str, vae_weights: str | None = None) -> VideoEncoder:
    """uint8 (F, H, W, 3) -> what a record of latent space `latent` stores (`vae_weights`: the Wan VAE
    folder, `config.data.vae_weights`; unused by the pixel space)."""
    if latent == "pixel":
        return lambda video: np.asarray(video, np.uint8)
    space = latent_space(latent, vae_weights)
    return lambda video: space.encode(np.asarray(video)[None])[0].astype(np.float16)
