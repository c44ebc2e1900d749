"""Tiny release-flavour model: the layout of the published checkpoint at test size."""

from unityvideo_jax.configs import base, tiny_paper


def get_config():
    config = tiny_paper.get_config()
    config.name = "tiny_release"
    base.release_flavour(config.model)
    return config
