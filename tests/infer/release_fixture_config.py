"""The model of the release fixture (release_fixture.py): the published 5B layout at test size, on the
Wan2.2 latent space of the tiny Wan2.2 VAE (z = 8, 4x16x16) and a tiny umT5 (32 wide). A config file,
so `unityvideo sample --release ... --config tests/infer/release_fixture_config.py` reads it too."""

from unityvideo_jax.config import get_config as named


def get_config():
    config = named("tiny_release")
    config.name = "release_fixture"
    config.data.update(latent="wan22", vae_config="wan22_tiny", text_encoder="umt5", frames=5, height=64, width=64,
                       text_len=16)
    config.model.in_channels = config.model.out_channels = 8
    config.model.text_dim = 32
    config.infer.steps = 2
    return config
