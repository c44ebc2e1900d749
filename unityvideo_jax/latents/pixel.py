"""The `pixel` latent space of the tiny configs: RGB in [-1, 1] with 2x2 space-to-depth, no VAE.

(F, H, W, 3) uint8 <-> (F, H/2, W/2, 12) float32, exactly invertible up to uint8 rounding. It
stands where a Wan VAE stands for the real configs, so the whole pipeline runs on a CPU.
"""

from __future__ import annotations

import numpy as np
from einops import rearrange

FACTOR = 2
CHANNELS = 3 * FACTOR * FACTOR


def encode(video: np.ndarray) -> np.ndarray:
    """uint8 (..., F, H, W, 3) -> float32 (..., F, H/2, W/2, 12)."""
    h, w = video.shape[-3:-1]
    if h % FACTOR or w % FACTOR:
        raise ValueError(f"video frames are {h}x{w}: the pixel latent space needs height and width divisible by 2")
    x = video.astype(np.float32) / 127.5 - 1.0
    return rearrange(x, "... f (h p) (w q) c -> ... f h w (p q c)", p=FACTOR, q=FACTOR)


def decode(latent) -> np.ndarray:
    """float (..., F, H', W', 12) -> uint8 (..., F, 2H', 2W', 3), clipped to [0, 255]."""
    latent = np.asarray(latent, np.float32)
    x = rearrange(latent, "... f h w (p q c) -> ... f (h p) (w q) c", p=FACTOR, q=FACTOR, c=3)
    return np.clip(np.round((x + 1.0) * 127.5), 0, 255).astype(np.uint8)
