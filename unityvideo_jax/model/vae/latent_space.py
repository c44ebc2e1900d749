"""Videos <-> a latent space by name (`config.data.latent`): `pixel` (space-to-depth) or a Wan VAE.

`encode` maps uint8 (B, F, H, W, 3) to float32 latents (the Wan VAEs: the normalised posterior
mean), `decode` maps latents back to uint8 videos. Records, training and sampling all encode
through here, so a video has one latent whichever path made it.
"""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path
from typing import Callable

import numpy as np

from unityvideo_jax.latents import pixel
from unityvideo_jax.storage.paths import is_url
from unityvideo_jax.storage.staging import stage


@dataclasses.dataclass(frozen=True)
class LatentSpace:
    encode: Callable[[np.ndarray], np.ndarray]  # uint8 (B, F, H, W, 3) -> float32 latents
    decode: Callable[[np.ndarray], np.ndarray]  # latents -> uint8 (B, F, H, W, 3)


def _pixel(latent: str, vae_weights: str | None, vae_config: str | None = None, staged: bool = False) -> LatentSpace:
    return LatentSpace(encode=pixel.encode, decode=pixel.decode)


def _wan(latent: str, vae_weights: str | None, vae_config: str | None = None, staged: bool = False) -> LatentSpace:
    if not vae_weights:
        raise ValueError(
            f"config.data.latent={latent!r} needs the Wan VAE: pass --vae-weights DIR (config.data.vae_weights) "
            "with the vae/ folder of a Wan diffusers checkpoint or the original Wan folder's Wan2.x_VAE.pth"
        )
    if is_url(vae_weights):  # staged once to the local cache (the reader maps local files)
        vae_weights = str(stage(vae_weights, what="--vae-weights (config.data.vae_weights)"))
    if not Path(vae_weights).exists():
        raise FileNotFoundError(
            f"--vae-weights (config.data.vae_weights) {vae_weights} does not exist: pass the vae/ folder of a Wan "
            "diffusers checkpoint"
        )
    import jax.numpy as jnp

    from unityvideo_jax.model.vae.config import get_vae_config
    from unityvideo_jax.model.vae.weights import load_diffusers_vae, load_original_vae

    if Path(vae_weights).suffix in (".pth", ".pt"):  # the original Wan file has no config: the latent's own VAE
        vae = load_original_vae(vae_weights, get_vae_config(vae_config or latent))
    else:
        vae = load_diffusers_vae(vae_weights)

    if staged:  # the weights wait in host memory; each encode or decode places them for its call
        from flax import nnx

        from unityvideo_jax.weights.host_weights import HostWeights

        graphdef, state = nnx.split(vae)
        host, vae = HostWeights(state), None

        @contextlib.contextmanager
        def placed_vae():
            with host.placed() as on_device:
                yield nnx.merge(graphdef, on_device)
    else:
        placed_vae = lambda: contextlib.nullcontext(vae)  # noqa: E731

    def encode(video):
        x = jnp.asarray(video, jnp.float32) / 127.5 - 1.0
        with placed_vae() as model:
            return np.asarray(model.normalize(model.encode(x).mean), np.float32)

    def decode(latent):
        with placed_vae() as model:
            x = np.asarray(model.decode(model.denormalize(jnp.asarray(latent))))
        return np.clip(np.round((x + 1.0) * 127.5), 0, 255).astype(np.uint8)

    return LatentSpace(encode=encode, decode=decode)


SPACES = {"pixel": _pixel, "wan21": _wan, "wan22": _wan}


def latent_space(latent: str, vae_weights: str | None = None, vae_config: str | None = None, *,
                 staged: bool = False) -> LatentSpace:
    """The latent space `latent` (Wan only: `vae_weights`, the diffusers vae/ folder or the original
    Wan2.x_VAE.pth; `vae_config`, the architecture of a .pth by name, default the latent's published VAE;
    `staged`: the VAE's weights wait in host memory and visit the device for each encode and decode)."""
    if latent not in SPACES:
        raise ValueError(f"config.data.latent={latent!r}: expected one of {', '.join(SPACES)}")
    return SPACES[latent](latent, vae_weights, vae_config, staged)


def latent_space_of(data, *, staged: bool = False) -> LatentSpace:
    """The latent space a `config.data` names (its latent, vae_weights and vae_config)."""
    return latent_space(data.latent, data.get("vae_weights", "") or None, data.get("vae_config", "") or None,
                        staged=staged)
