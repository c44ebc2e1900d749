"""The demo's long recipe: the same model as configs/demo.py, trained for hours instead of 10 minutes.

    unityvideo demo --config demo_long --budget-steps 50000 --clips-per-family 1024 --output runs/demo_long

Differences from the 10-minute demo, each because the run is ~20x longer:
- every modality drawn equally often (the 10-minute demo favours depth and segmentation, the two it
  can learn in its budget; a long run has the steps to learn flow, skeleton and DensePose too);
- the learning rate decays along a cosine to 0 at the last step (the 10-minute run stops while still
  at its peak rate, so it never settles);
- four times the training clips (passed on the command line), so 50,000 steps of 8 samples see each
  clip ~100 times instead of ~400.
"""

from unityvideo_jax.configs import demo


def get_config():
    config = demo.get_config()
    config.name = "demo_long"
    config.data.modality_weights.update(depth=0.2, segmentation=0.2, flow=0.2, skeleton=0.2, densepose=0.2)
    t = config.train
    t.schedule = "cosine"
    t.steps = 50_000
    return config
