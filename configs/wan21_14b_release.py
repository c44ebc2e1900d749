"""Release-flavour UnityVideo on the Wan2.1-T2V-14B backbone."""

from unityvideo_jax.configs import base


def get_config():
    config = base.get_base_config()
    config.name = "wan21_14b_release"
    m = config.model
    m.dim, m.ffn_dim, m.num_heads, m.num_layers = 5120, 13824, 40, 40
    m.in_channels = m.out_channels = 16
    base.release_flavour(m)
    config.data.latent = "wan21"
    config.data.text_encoder = "umt5"
    m.remat_policy = "full"
    return config
