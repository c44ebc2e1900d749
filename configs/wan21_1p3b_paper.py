"""Paper-flavour UnityVideo on the Wan2.1-T2V-1.3B backbone."""

from unityvideo_jax.configs import base, wan21_1p3b_release


def get_config():
    config = wan21_1p3b_release.get_config()
    config.name = "wan21_1p3b_paper"
    base.paper_flavour(config.model)
    return config
