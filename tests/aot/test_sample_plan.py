"""AOT plans of inference on one TPU chip, stage by stage (unityvideo_jax/aot/sample_plan.py),
compiled on this host through libtpu for the release fixture's tiny model; skipped without libtpu."""

from __future__ import annotations

import importlib.util

import jax
import pytest
from flax import nnx

from tests.infer.release_fixture_config import get_config
from unityvideo_jax import cli
from unityvideo_jax.aot.sample_plan import data_parallel, format_sample_plan, plan_sample
from unityvideo_jax.latents.shapes import token_grid
from unityvideo_jax.model.dit.flops import forward_flops
from unityvideo_jax.model.dit.spec import from_config
from unityvideo_jax.model.dit.transformer import UnityDiT
from unityvideo_jax.model.text.umt5 import UMT5_TINY

needs_libtpu = pytest.mark.skipif(importlib.util.find_spec("libtpu") is None,
                                  reason="libtpu is not installed (pip install -e .[tpu])")


@needs_libtpu
def test_every_stage_of_one_video_is_planned_on_one_chip():
    config = get_config()
    config.model.dtype = "bfloat16"
    p = plan_sample(config, "v5e-4", text_config=UMT5_TINY)
    kinds = [s.kind for s in p.stages]
    assert kinds == ["text", "denoise", "denoise", "denoise", "decode"]
    assert p.hbm == 16 * 10**9 and p.video == (5, 64, 64) and p.fits
    model = nnx.eval_shape(lambda: UnityDiT(config.model, rngs=nnx.Rngs(0)))
    params = sum(x.size for x in jax.tree.leaves(nnx.state(model, nnx.Param)))
    denoise = p.stages[1]
    assert denoise.cost.arguments >= 2 * params  # the DiT's weights in bf16, on the chip
    forward = forward_flops(from_config(config.model), token_grid(config), 2, config.data.text_len)
    assert denoise.flops == forward and denoise.calls == config.infer.steps  # unguided, as released: one forward
    guided = get_config()
    guided.model.dtype, guided.infer.guidance = "bfloat16", 7.5
    twice = plan_sample(guided, "v5e-4", tasks=("joint",), text_config=None)
    assert [s.kind for s in twice.stages] == ["denoise", "decode"]
    assert twice.stages[0].flops == 2 * forward and twice.stages[0].cost.arguments >= denoise.cost.arguments
    assert p.floor_s == pytest.approx(p.stages[0].seconds_floor + denoise.seconds_floor + p.stages[-1].seconds_floor)
    assert p.stages[-1].calls == 2  # 5 frames are 2 latent frames, decoded one at a time
    text = format_sample_plan(p)
    assert "floor per video" in text and "every stage fits" in text
    assert data_parallel(p, 8).startswith("8 chips, one prompt each:")


@needs_libtpu
def test_aot_sample_job_names_a_config_it_cannot_plan(capsys):
    assert cli.main(["aot", "--config", "tiny_paper", "--topology", "v5e-1", "--job", "sample"]) == 2
    assert "--job sample plans the published pipeline (umT5)" in capsys.readouterr().err
