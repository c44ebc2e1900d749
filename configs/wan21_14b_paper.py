"""Paper-flavour UnityVideo on the Wan2.1-T2V-14B backbone."""

from unityvideo_jax.configs import base, wan21_14b_release


def get_config():
    config = wan21_14b_release.get_config()
    config.name = "wan21_14b_paper"
    base.paper_flavour(config.model)
    return config
