"""Several modalities in one pass (config.model.aux_streams = k): the analytic FLOPs of 1 + k streams
against XLA's count, and AOT plans of the train step, the slice's sampler step and the one-chip denoise
step shaped for k streams (compiled through libtpu for TPU chips on this host; skipped without it)."""

from __future__ import annotations

import dataclasses
import importlib.util
import math

import jax
import jax.numpy as jnp
import pytest
from flax import nnx

from unityvideo_jax import get_config
from unityvideo_jax.aot.cost import StepCost
from unityvideo_jax.aot.plan import batch_shapes, format_plan, override, plan
from unityvideo_jax.aot.sample_plan import SamplePlan, Stage, plan_sample
from unityvideo_jax.latents.shapes import latent_shape, token_grid
from unityvideo_jax.model.dit.flops import forward_flops, self_attention_flops, streams_of, train_step_flops
from unityvideo_jax.model.dit.spec import from_config
from unityvideo_jax.model.dit.transformer import UnityDiT

needs_libtpu = pytest.mark.skipif(importlib.util.find_spec("libtpu") is None,
                                  reason="libtpu is not installed (pip install -e .[tpu])")

# XLA's `cost_analysis()` counts every op (norms, softmax, activations, the optimizer), the analytic
# count only the matmuls: with matmul-heavy widths XLA counts 2-3 % more (measured 2.3 % at k = 1 to
# 2.8 % at k = 4 with the model below), never less.
XLA_OVER_ANALYTIC = (1.0, 1.05)


def _model_config(k: int):
    """tiny_paper's model made matmul-heavy (width 512, head_dim 128) and unrolled, so XLA counts every
    layer (a scanned body is counted once)."""
    model = get_config("tiny_paper").model
    model.dim, model.ffn_dim, model.num_heads, model.num_layers, model.scan_layers = 512, 1024, 4, 2, False
    model.aux_streams = k
    return model


def test_one_aux_stream_counts_as_before():
    config = get_config("wan22_ti2v_5b_release")
    spec, grid = from_config(config.model), token_grid(config)
    assert config.model.aux_streams == 1 and streams_of(spec) == 2
    # the release's 33 x 256 x 256: 11.9 TFLOP a forward (BENCHMARKS, "The released model on one chip")
    assert forward_flops(spec, grid, None, 512) == forward_flops(spec, grid, 2, 512) == 11_916_017_664_000
    assert train_step_flops(spec, grid, None, 512, 8) == train_step_flops(spec, grid, 2, 512, 8)
    plain = dataclasses.replace(spec, two_stream=False)
    assert streams_of(plain) == 1


def test_self_attention_grows_as_the_square_of_the_streams_the_rest_linearly():
    config = get_config("wan22_ti2v_5b_release")
    grid = token_grid(config)
    specs = {k: from_config(override(config, dict(aux_streams=k)).model) for k in (1, 2, 4)}
    attention = {k: self_attention_flops(s, grid, None) for k, s in specs.items()}
    rest = {k: forward_flops(s, grid, None, 512) - attention[k] for k, s in specs.items()}
    assert attention[2] * 4 == attention[1] * 9 and attention[4] * 4 == attention[1] * 25
    assert rest[2] * 2 == rest[1] * 3 and rest[4] * 2 == rest[1] * 5


@pytest.mark.parametrize("k", [1, 2, 4])
def test_forward_flops_match_xla_for_k_aux_streams(k):
    model_config = _model_config(k)
    b, text_len, grid = 1, 16, (2, 4, 6)
    video = (grid[0], 2 * grid[1], 2 * grid[2], model_config.in_channels)  # patch (1, 2, 2)
    text = (text_len, model_config.text_dim)
    stacked = () if k == 1 else (k,)
    f32 = lambda *shape: jax.ShapeDtypeStruct(shape, jnp.float32)  # noqa: E731
    args = (f32(b, *video), f32(b, *stacked, *video), f32(b), f32(b, *stacked), f32(b, *text), f32(b, *stacked, *text),
            jax.ShapeDtypeStruct((b, *stacked), jnp.int32))
    graphdef, state = nnx.split(nnx.eval_shape(lambda: UnityDiT(model_config, rngs=nnx.Rngs(0))))
    compiled = jax.jit(lambda s, *x: nnx.merge(graphdef, s)(*x)).lower(state, *args).compile()
    cost = compiled.cost_analysis()
    xla = float((cost[0] if isinstance(cost, (list, tuple)) else cost)["flops"])
    analytic = forward_flops(from_config(model_config), grid, None, text_len)
    assert analytic == forward_flops(from_config(model_config), grid, 1 + k, text_len)
    low, high = XLA_OVER_ANALYTIC
    assert low <= xla / analytic <= high, (k, xla, analytic)


def test_batches_and_the_aot_override_follow_config_aux_streams():
    config = get_config("tiny_paper")
    one = batch_shapes(config)
    assert one["aux"][0] == (8,) + latent_shape(config.data) and one["modality"][0] == (8,) and "present" not in one
    two = override(config, dict(aux_streams=2))
    assert two.model.aux_streams == 2 and config.model.aux_streams == 1  # a copy, the named config untouched
    shapes = batch_shapes(two)
    assert shapes["aux"] == ((8, 2) + latent_shape(config.data), jnp.float32)
    assert shapes["modality"] == ((8, 2), jnp.int32) and shapes["present"] == ((8, 2), jnp.bool_)
    assert shapes["rgb"] == one["rgb"] and shapes["text"] == one["text"]


def test_a_joint_run_of_k_modalities_decodes_one_plus_k_videos():
    cost = StepCost(1, 0, 0, 1, 0, 0.0)
    stages = (Stage("text", "text", cost, 1.0, 1, 0.5), Stage("denoise", "denoise", cost, 1.0, 20, 4.0),
              Stage("decode", "decode", cost, 1.0, 9, 1.0))
    p = SamplePlan("c", "v5e-1", (33, 256, 256), 1, 16 * 10**9, 1.0, stages, streams=5)
    assert p.floor_s == pytest.approx(5.5) and p.joint_floor_s == pytest.approx(9.5)


def _nbytes(shapes: dict) -> int:
    return sum(jnp.dtype(d).itemsize * math.prod(s) for s, d in shapes.values())


@pytest.fixture(scope="module")
def tiny_plans():
    """tiny_paper (2 unrolled layers, so XLA counts all of them) on a v5e-4, fsdp 4: k = 1 and k = 2."""
    return {k: plan(override(get_config("tiny_paper"), dict(dtype="bfloat16", aux_streams=k)), "v5e-4")
            for k in (1, 2)}


@needs_libtpu
def test_train_and_sampler_steps_plan_k_streams(tiny_plans):
    one, two = tiny_plans[1], tiny_plans[2]
    config = get_config("tiny_paper")
    spec, grid, text_len = from_config(config.model), token_grid(config), config.data.text_len
    assert (one.streams, two.streams) == (2, 3) and two.tokens * 2 == one.tokens * 3
    assert "3 streams: RGB + 2 aux" in format_plan(two) and "(two streams)" in format_plan(one)
    assert one.fits and two.fits
    # analytic FLOPs: 1 + k streams (no remat in tiny_paper), per chip
    b, chips = config.data.global_batch, two.chips
    for p, streams in ((one, 2), (two, 3)):
        forward = forward_flops(spec, grid, streams, text_len)
        assert p.train_flops == b * 3 * forward // chips and p.sampler_flops == b * forward // chips
    # XLA's counts grow as the analytic ones (everything else in the step, optimizer included, is small)
    for step in ("train", "sampler"):
        xla = getattr(two, step).xla_flops / getattr(one, step).xla_flops
        analytic = getattr(two, f"{step}_flops") / getattr(one, f"{step}_flops")
        assert analytic > 1.5 and xla == pytest.approx(analytic, rel=0.03), (step, xla, analytic)
    # memory: the batch holds a second aux stream (and present); every step holds more
    extra = (_nbytes(batch_shapes(override(config, dict(aux_streams=2)))) - _nbytes(batch_shapes(config))) // chips
    aux = 4 * b * math.prod(latent_shape(config.data)) // chips  # the second fp32 aux stream, per chip
    assert extra > aux > 0
    assert two.train.arguments >= one.train.arguments + extra  # the batch (padded to TPU tiles: more)
    assert two.sampler.arguments >= one.sampler.arguments + aux  # the sampler gets rgb, aux, text, modality
    assert two.train.peak > one.train.peak and two.sampler.peak > one.sampler.peak
    assert two.sampler.temporaries > one.sampler.temporaries


@needs_libtpu
def test_the_one_chip_denoise_step_plans_k_streams():
    from tests.infer.release_fixture_config import get_config as fixture

    plans = {}
    for k in (1, 2):
        config = fixture()
        config.model.dtype, config.model.aux_streams = "bfloat16", k
        plans[k] = plan_sample(config, "v5e-4", tasks=("joint",), text_config=None, decode=False)
    one, two = plans[1], plans[2]
    assert [s.kind for s in two.stages] == ["denoise"] and two.streams == 3 and two.tokens * 2 == one.tokens * 3
    spec = from_config(config.model)
    assert two.stages[0].flops == forward_flops(spec, token_grid(config), 3, config.data.text_len)
    video = 4 * math.prod(latent_shape(config.data))  # one more fp32 aux stream on the chip
    assert two.stages[0].cost.arguments >= one.stages[0].cost.arguments + video
    assert two.stages[0].cost.peak > one.stages[0].cost.peak and two.fits
    assert two.floor_s == pytest.approx(two.stages[0].seconds_floor) and two.joint_floor_s == two.floor_s


@needs_libtpu
def test_a_splash_plan_compiles_for_compile_only_tpu_devices():
    """Splash builds its mask info once, eagerly where it can; under a plan's mesh of compile-only TPU
    devices nothing runs eagerly, so it builds it inside the trace instead (this plan failed before)."""
    config = get_config("tiny_release")
    config.model.update(attention="splash", dtype="bfloat16", aux_streams=2)
    config.parallel.update(data=1, fsdp=4, context=1, tensor=1)
    with jax.default_matmul_precision("default"):  # conftest asks for fp32 matmuls; Mosaic's bf16 dots refuse it
        result = plan(config, "v5e-4", sampler=False)
    assert result.train_flops > 0
