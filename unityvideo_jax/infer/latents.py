"""Videos <-> the config's latent space, for inference: `pixel` on CPU, the Wan VAEs otherwise."""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np

from unityvideo_jax.model import pixel


@dataclasses.dataclass(frozen=True)
class LatentSpace:
    encode: Callable[[np.ndarray], np.ndarray]  # uint8 (B, F, H, W, 3) -> float32 latents
    decode: Callable[[np.ndarray], np.ndarray]  # latents -> uint8 (B, F, H, W, 3)


def _pixel(_config) -> LatentSpace:
    return LatentSpace(encode=pixel.encode, decode=pixel.decode)


def _wan(config) -> LatentSpace:
    import jax.numpy as jnp

    from unityvideo_jax.convert.vae_diffusers import load_diffusers_vae

    path = config.data.get("vae_weights", "")
    if not path:
        raise ValueError(
            f"config.data.latent={config.data.latent!r} needs the Wan VAE: set --config.data.vae_weights to the "
            "vae/ folder of a Wan diffusers checkpoint"
        )
    vae = load_diffusers_vae(path)

    def encode(video):
        x = jnp.asarray(video, jnp.float32) / 127.5 - 1.0
        return np.asarray(vae.normalize(vae.encode(x).mean), np.float32)

    def decode(latent):
        x = vae.decode(vae.denormalize(jnp.asarray(latent)))
        return np.clip(np.round((np.asarray(x) + 1.0) * 127.5), 0, 255).astype(np.uint8)

    return LatentSpace(encode=encode, decode=decode)


SPACES = {"pixel": _pixel, "wan21": _wan, "wan22": _wan}


def latent_space(config) -> LatentSpace:
    if config.data.latent not in SPACES:
        raise ValueError(f"config.data.latent={config.data.latent!r}: expected one of {', '.join(SPACES)}")
    return SPACES[config.data.latent](config)
