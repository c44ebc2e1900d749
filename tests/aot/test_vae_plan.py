"""An AOT plan of Wan VAE decode on one TPU chip, compiled on this host (unityvideo_jax/aot/vae_plan.py).

Compiles the tiny Wan2.2 config for one chip of a v5e-4 through the libtpu wheel
(`pip install -e .[tpu]`); skipped without it.
"""

from __future__ import annotations

import importlib.util

import pytest

from unityvideo_jax.aot.vae_plan import format_decode_plan, plan_decode
from unityvideo_jax.model.vae.config import get_vae_config

needs_libtpu = pytest.mark.skipif(importlib.util.find_spec("libtpu") is None,
                                  reason="libtpu is not installed (pip install -e .[tpu])")


@needs_libtpu
def test_tiny_vae_decode_plan_on_one_v5e_chip_is_sensible():
    config = get_vae_config("wan22_tiny", dtype="bfloat16")
    # One latent frame of 16 x 16 decodes to one 256 x 256 frame: (1, 1, 128, 128, 12) fp32 before
    # unpatchify, a shape TPU's (8, 128) tiles hold without padding.
    p = plan_decode(config, "v5e-4", (1, 16, 16, config.z_dim))
    assert not p.cost.refused
    assert p.video == (1, 256, 256)
    assert p.video_bytes == 256 * 256 * 3 * 4
    assert p.cost.outputs == p.video_bytes  # the decoded video, nothing else
    assert p.cost.arguments >= p.params_bytes + 16 * 16 * config.z_dim * 4  # fp32 params and the latent
    assert p.cost.peak >= p.cost.arguments + p.cost.outputs
    assert p.fits and p.hbm == 16 * 10**9
    assert p.cost.xla_flops > 0 and p.floor_s > 0
    assert "fits" in format_decode_plan(p)
