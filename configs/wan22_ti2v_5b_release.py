"""The published UnityVideo checkpoint: release flavour on Wan2.2-TI2V-5B (z=48 latents)."""

from unityvideo_jax.configs import base


def get_config():
    config = base.get_base_config()
    config.name = "wan22_ti2v_5b_release"
    m = config.model
    m.dim, m.ffn_dim, m.num_heads, m.num_layers = 3072, 14336, 24, 30
    m.in_channels = m.out_channels = 48
    base.release_flavour(m)
    m.remat_policy = "full"
    config.data.latent = "wan22"
    config.data.text_encoder = "umt5"
    config.data.frames, config.data.height, config.data.width = 33, 256, 256  # the release's training size
    return config
