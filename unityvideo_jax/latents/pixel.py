"""The `pixel` latent space of the tiny configs: RGB in [-1, 1] with 2x2 space-to-depth, no VAE.

(F, H, W, 3) uint8 <-> (F, H/2, W/2, 12) float32, exactly invertible up to uint8 rounding. It
stands where a Wan VAE stands for the real configs, so the whole pipeline runs on a CPU.
"""

from __future__ import annotations

import numpy as np

FACTOR = 2
CHANNELS = 3 * FACTOR * FACTOR


def encode(video: np.ndarray) -> np.ndarray:
    """uint8 (..., F, H, W, 3) -> float32 (..., F, H/2, W/2, 12)."""
    *lead, f, h, w, c = video.shape
    if h % FACTOR or w % FACTOR:
        raise ValueError(f"video frames are {h}x{w}: the pixel latent space needs height and width divisible by 2")
    x = video.astype(np.float32) / 127.5 - 1.0
    x = x.reshape(*lead, f, h // FACTOR, FACTOR, w // FACTOR, FACTOR, c)
    x = np.moveaxis(x, -4, -3)  # (..., f, h', w', 2, 2, c)
    return x.reshape(*lead, f, h // FACTOR, w // FACTOR, CHANNELS)


def decode(latent) -> np.ndarray:
    """float (..., F, H', W', 12) -> uint8 (..., F, 2H', 2W', 3), clipped to [0, 255]."""
    latent = np.asarray(latent, np.float32)
    *lead, f, h, w, _ = latent.shape
    x = latent.reshape(*lead, f, h, w, FACTOR, FACTOR, 3)
    x = np.moveaxis(x, -3, -4)  # (..., f, h', 2, w', 2, c)
    x = x.reshape(*lead, f, h * FACTOR, w * FACTOR, 3)
    return np.clip(np.round((x + 1.0) * 127.5), 0, 255).astype(np.uint8)
