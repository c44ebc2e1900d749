"""Tiny paper-flavour model: CPU tests and the demo (text from MiniLM, 384 wide)."""

from unityvideo_jax.configs import base


def get_config():
    config = base.get_base_config()
    config.name = "tiny"
    m = config.model
    m.dim = 64
    m.ffn_dim = 128
    m.num_heads = 4
    m.num_layers = 2
    m.in_channels = 12  # pixel latents: RGB with 2x2 space-to-depth
    m.out_channels = 12
    m.text_dim = 384
    m.freq_dim = 64
    base.paper_flavour(m)
    return config
