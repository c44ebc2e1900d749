"""The demo's model trained on several modalities at once: RGB with three auxiliary streams.

    unityvideo demo --config demo_streams --budget-minutes 25 --output runs/demo_streams

The same model and weights layout as configs/demo.py (the parameters do not depend on the number of
streams), trained on samples that carry up to three of their clip's modalities together, so one pass
can estimate several modalities of a video or generate a video under several. A quarter of the
samples leave each stream clean or noised at random (estimation given other modalities, generation
under some while generating others) and a quarter fill fewer streams than they could.
"""

from unityvideo_jax.configs import demo


def get_config():
    config = demo.get_config()
    config.name = "demo_streams"
    config.model.aux_streams = 3
    config.diffusion.mixed_streams = 0.25
    config.data.fewer_streams = 0.25
    return config
