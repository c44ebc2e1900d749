"""The pipeline runs in the latent space the config names: here a (tiny) Wan2.1 VAE, imported from a
diffusers save_pretrained folder, encodes the input video and decodes the generated latents."""

from __future__ import annotations

import numpy as np
import pytest
from flax import nnx

torch = pytest.importorskip("torch")
diffusers = pytest.importorskip("diffusers")

from unityvideo_jax import UnityDiT, get_config  # noqa: E402
from unityvideo_jax.infer.pipeline import Pipeline  # noqa: E402
from unityvideo_jax.model.vae.weights import load_diffusers_vae  # noqa: E402


def test_sampler_encodes_and_decodes_with_the_configured_wan_vae(tmp_path):
    torch.manual_seed(0)
    vae = diffusers.AutoencoderKLWan(base_dim=8, z_dim=4, num_res_blocks=1, latents_mean=[0.0] * 4,
                                     latents_std=[1.0] * 4).eval()
    vae.save_pretrained(tmp_path / "vae")
    config = get_config("tiny_paper")
    config.data.update(latent="wan21", vae_weights=str(tmp_path / "vae"), frames=5, height=16, width=16, text_len=16)
    config.model.update(in_channels=4, out_channels=4)
    params = nnx.to_pure_dict(nnx.state(UnityDiT(config.model, rngs=nnx.Rngs(0)), nnx.Param))
    pipe = Pipeline(config, params)
    video = np.random.default_rng(0).integers(0, 256, (1, 5, 16, 16, 3), dtype=np.uint8)

    out = pipe.run("estimate", "depth", video=video, steps=2)
    assert out.aux.shape == (1, 5, 16, 16, 3) and out.aux.dtype == np.uint8
    assert np.array_equal(out.rgb, video)  # the given stream comes back as given

    # what the pipeline fed the model is the VAE's normalised latent of the input: (1, 2, 2, 2, 4)
    ours = load_diffusers_vae(tmp_path / "vae")
    want = np.asarray(ours.normalize(ours.encode(video.astype(np.float32) / 127.5 - 1.0).mean))
    np.testing.assert_allclose(pipe.latents.encode(video), want, rtol=1e-5, atol=1e-5)
    assert want.shape == (1, 2, 2, 2, 4)
    # and the decoder is the VAE's: decoding a latent gives its uint8 rendering
    decoded = pipe.latents.decode(want)
    np.testing.assert_array_equal(
        decoded, np.clip(np.round((np.asarray(ours.decode(ours.denormalize(want))) + 1) * 127.5), 0, 255).astype(np.uint8)
    )
