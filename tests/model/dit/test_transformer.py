"""Two-stream behaviour of UnityDiT: joint attention, modulation per stream, modality routing, inputs."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from tests.conftest import randomize, tiny_model_config, two_stream_inputs
from unityvideo_jax import UnityDiT
from unityvideo_jax.convert import new_parts

FLAVOURS = {
    "paper": dict(switcher="adaln", aux_input="shared", aux_head="per_modality", adaln_timestep="per_stream"),
    "release": dict(
        switcher="token", aux_input="copy_plus_zero_linear", aux_head="shared", adaln_timestep="shared"
    ),
}


def _model(flavour, seed=0, **overrides):
    config = tiny_model_config(**FLAVOURS[flavour], **overrides)
    return randomize(UnityDiT(config, rngs=nnx.Rngs(seed)), seed), config


def _diff(a, b):
    return float(jnp.abs(a - b).max())


RGB_PATH = ("patch_embedding", "condition_embedder", "blocks", "head")  # all a single-stream (Wan) model has


def _params(model):
    return nnx.to_pure_dict(nnx.state(model, nnx.Param))


def _flat(tree, prefix=""):
    """{"flow_head.proj_kernel": array, ...}: the parameter paths convert/new_parts.py names."""
    if not isinstance(tree, dict):
        return {prefix: np.asarray(tree)}
    return {k: v for key, sub in tree.items() for k, v in _flat(sub, f"{prefix}.{key}" if prefix else key).items()}


def _assert_aux_none_is_wan(model, wan, x):
    """`model` called with aux=None predicts what the single-stream `wan` predicts, to float32 rounding."""
    v_rgb, v_aux = model(x["rgb"], None, x["t_rgb"], None, x["text"])
    want, _ = wan(x["rgb"], None, x["t_rgb"], None, x["text"])
    assert v_aux is None and float(jnp.abs(want).max()) > 0.1
    np.testing.assert_allclose(v_rgb, want, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("flavour", sorted(FLAVOURS))
def test_aux_stream_changes_the_rgb_output(flavour, rng):
    model, config = _model(flavour)
    x = two_stream_inputs(rng, config)
    v_rgb, _ = model(**x)
    v_rgb_other, _ = model(**{**x, "aux": x["aux"] + 1.0})
    assert _diff(v_rgb, v_rgb_other) > 1e-3  # joint self-attention really mixes the streams


@pytest.mark.parametrize("flavour", sorted(FLAVOURS))
def test_release_init_leaves_the_rgb_path_of_a_wan_model_untouched(flavour, rng):
    """The aux stream is added the way the release added it to Wan (new parts as copies and zeros, built
    after the Wan parts): the RGB path keeps the parameters of the plain Wan model built from the same
    seed, and with aux=None the RGB prediction is that model's. Freshly initialised (not randomised),
    the new parts are inert: the modality changes nothing, and in the release neither does the aux input
    (zero flow_in). What is not promised: with aux given, v_rgb differs from the Wan one even at init
    (joint attention reads the aux tokens, which modulation turns into its shift even when they are zero).
    """
    config = tiny_model_config(**FLAVOURS[flavour])
    model = UnityDiT(config, rngs=nnx.Rngs(0))
    wan = UnityDiT(tiny_model_config(**FLAVOURS[flavour], two_stream=False), rngs=nnx.Rngs(0))
    ours, theirs = _params(model), _params(wan)
    assert set(theirs) == set(RGB_PATH)
    jax.tree.map(np.testing.assert_array_equal, {k: ours[k] for k in RGB_PATH}, theirs)
    x = two_stream_inputs(rng, config)
    _assert_aux_none_is_wan(model, wan, x)

    # every parameter the aux stream adds starts as a copy of an RGB one or as zeros (convert/new_parts.py) ...
    flat = _flat(ours)
    new = sorted(key for key in flat if key.split(".")[0] not in RGB_PATH)
    assert new and all(new_parts.is_new_part(key) for key in new), new
    for key in new:
        if key in new_parts.ZEROS:
            assert not np.any(flat[key]), key
        else:
            source = flat[new_parts.COPIES[key]]
            assert np.array_equal(np.broadcast_to(source, flat[key].shape), flat[key]), key
    # ... so the modality is inert at init (zero switcher or token table, identical head copies) ...
    v_rgb, v_aux = model(**x)
    other = model(**{**x, "modality": (x["modality"] + 1) % config.num_modalities})
    assert _diff(v_rgb, other[0]) == 0.0 and _diff(v_aux, other[1]) == 0.0
    # ... and in the release so is the aux input (its own patch embedding feeds a zero flow_in)
    moved = model(**{**x, "aux": 3.0 * x["aux"] + 1.0})
    if flavour == "release":
        assert _diff(v_rgb, moved[0]) == 0.0 and _diff(v_aux, moved[1]) == 0.0
    else:  # the paper's aux stream shares the RGB patch embedding: the aux input is read from the start
        assert _diff(v_aux, moved[1]) > 1e-3


@pytest.mark.parametrize("flavour", sorted(FLAVOURS))
def test_aux_none_is_the_wan_model_whatever_the_aux_parameters(flavour, rng):
    """Trained (here: random) aux parts, switcher rows included, never reach the single-stream path."""
    model, config = _model(flavour, seed=3)
    wan = UnityDiT(tiny_model_config(**FLAVOURS[flavour], two_stream=False), rngs=nnx.Rngs(1))
    state = nnx.state(wan, nnx.Param)
    nnx.replace_by_pure_dict(state, {k: v for k, v in _params(model).items() if k in RGB_PATH})
    nnx.update(wan, state)
    _assert_aux_none_is_wan(model, wan, two_stream_inputs(rng, config))


def test_paper_clean_stream_is_modulated_by_t_zero(rng):
    model, config = _model("paper")
    x = two_stream_inputs(rng, config)
    t_clean = jnp.zeros_like(x["t_aux"])
    t_emb = model._time_embedding(x["t_rgb"], t_clean[:, None], x["modality"][:, None], 3)  # (B, k = 1)
    want = model.condition_embedder.time_embedding(jnp.zeros((2, 1)))
    want = want + model.modality_switcher[...][x["modality"] + 1][:, None, :]
    np.testing.assert_allclose(t_emb[:, 1], want, atol=1e-6)
    rgb_want = model.condition_embedder.time_embedding(x["t_rgb"][:, None]) + model.modality_switcher[...][0]
    np.testing.assert_allclose(t_emb[:, 0], rgb_want, atol=1e-6)


def test_release_modulates_both_streams_with_the_noisy_t(rng):
    model, config = _model("release")
    x = two_stream_inputs(rng, config)
    t_noisy, t_clean = x["t_rgb"], jnp.zeros_like(x["t_aux"])
    t_emb = model._time_embedding(t_noisy, t_clean[:, None], x["modality"][:, None], 3)  # (B, k = 1)
    want = model.condition_embedder.time_embedding(t_noisy[:, None])
    np.testing.assert_allclose(t_emb[:, 0], want, atol=1e-6)
    np.testing.assert_allclose(t_emb[:, 1], want, atol=1e-6)


def test_paper_modality_changes_only_what_its_head_and_row_change(rng):
    model, config = _model("paper")
    x = two_stream_inputs(rng, config, batch=1)
    a, b = jnp.array([1]), jnp.array([3])
    # make modalities 1 and 3 identical in the switcher and the head ...
    for var in (model.modality_switcher,):
        var[...] = var[...].at[b + 1].set(var[...][a + 1])
    for var in (model.flow_head.proj_kernel, model.flow_head.proj_bias, model.flow_head.scale_shift_table):
        var[...] = var[...].at[b].set(var[...][a])
    out_a = model(**{**x, "modality": a})
    out_b = model(**{**x, "modality": b})
    assert _diff(out_a[0], out_b[0]) == 0.0 and _diff(out_a[1], out_b[1]) == 0.0
    # ... then change only modality 3's head: the aux output moves, the RGB output does not
    model.flow_head.proj_bias[...] = model.flow_head.proj_bias[...].at[b].add(0.5)
    out_b = model(**{**x, "modality": b})
    assert _diff(out_a[0], out_b[0]) == 0.0
    assert _diff(out_a[1], out_b[1]) > 0.1
    # a different switcher row moves both streams (it modulates the aux stream's attention)
    model.modality_switcher[...] = model.modality_switcher[...].at[b + 1].add(0.5)
    out_b = model(**{**x, "modality": b})
    assert _diff(out_a[0], out_b[0]) > 1e-4 and _diff(out_a[1], out_b[1]) > 1e-3


def test_release_modality_embedding_reaches_both_streams(rng):
    model, config = _model("release")
    x = two_stream_inputs(rng, config, batch=1)
    a, b = jnp.array([0]), jnp.array([2])
    table = model.modality_embeddings
    table[...] = table[...].at[b].set(table[...][a])
    out_a, out_b = model(**{**x, "modality": a}), model(**{**x, "modality": b})
    assert _diff(out_a[1], out_b[1]) == 0.0  # equal embeddings, shared head: nothing else depends on m
    shift = jnp.asarray(rng.standard_normal(config.dim), jnp.float32)  # not constant: LayerNorm would erase it
    table[...] = table[...].at[b].add(shift)
    out_b = model(**{**x, "modality": b})
    assert _diff(out_a[0], out_b[0]) > 1e-4 and _diff(out_a[1], out_b[1]) > 1e-3


@pytest.mark.parametrize("flavour", sorted(FLAVOURS))
def test_mixed_batch_equals_per_sample_results(flavour, rng):
    model, config = _model(flavour)
    x = two_stream_inputs(rng, config, batch=3)
    x["modality"] = jnp.array([0, 4, 2], jnp.int32)
    x["t_aux"] = jnp.array([0.0, 0.7, 0.4], jnp.float32)  # a clean, a noisy and a joint-like sample
    batch = model(**x)
    for i in range(3):
        alone = model(**{k: v[i : i + 1] for k, v in x.items()})
        for got, want in zip(batch, alone):
            np.testing.assert_allclose(got[i : i + 1], want, atol=2e-5, rtol=1e-5)


def test_jit_and_bfloat16_compute_run(rng):
    config = tiny_model_config(dtype="bfloat16", remat_policy="full", attention="chunked", attention_chunk=16)
    model = UnityDiT(config, rngs=nnx.Rngs(0))
    x = two_stream_inputs(rng, config)
    v_rgb, v_aux = nnx.jit(lambda m, x: m(**x))(model, x)
    assert v_rgb.dtype == jnp.bfloat16 and v_aux.shape == x["aux"].shape
    assert model.blocks.ffn.net_0.kernel[...].dtype == jnp.float32  # master weights stay fp32
    ref = UnityDiT(tiny_model_config(), rngs=nnx.Rngs(0))(**x)
    assert _diff(v_rgb.astype(jnp.float32), ref[0]) < 0.1 * float(jnp.abs(ref[0]).max())




@pytest.mark.parametrize(
    "change, message",
    [
        (lambda x: {"modality": jnp.array([0, 7], jnp.int32)}, r"unknown modality id 7: expected 0..4"),
        (lambda x: {"aux": x["aux"][:, :2]}, r"aux has shape .* but rgb has .*same shape"),
        (lambda x: {"rgb": x["rgb"][:, :, :3], "aux": x["aux"][:, :, :3]}, r"height H=3 is not divisible by the patch size 2"),
        (lambda x: {"rgb": x["rgb"][:, :, :, :5], "aux": x["aux"][:, :, :, :5]}, r"width W=5 is not divisible"),
        (lambda x: {"text": x["text"][..., :10]}, r"text has shape \(2, 5, 10\): expected \(2, L, 384\)"),
        (lambda x: {"rgb": x["rgb"][..., :4], "aux": x["aux"][..., :4]}, r"rgb has 4 channels: the config expects in_channels=12"),
        (lambda x: {"t_aux": x["t_aux"][:1]}, r"t_aux has shape \(1,\): expected \(2,\)"),
        (lambda x: {"aux_text": x["aux_text"][:, :3]}, r"aux_text has 3 tokens but text has 5"),
        # the single-stream call with arguments of the aux stream it does not have
        (lambda x: {"aux": None, "aux_text": None, "modality": None},
         r"aux is None \(the single-stream call\) but t_aux was given .* leave t_aux as None"),
        (lambda x: {"aux": None}, r"but t_aux, aux_text, modality were given"),
    ],
)
def test_bad_input_names_the_input_and_the_fix(change, message, rng):
    config = tiny_model_config()
    model = UnityDiT(config, rngs=nnx.Rngs(0))
    x = two_stream_inputs(rng, config)
    x.update(change(x))
    with pytest.raises(ValueError, match=message):
        model(**x)


def test_bad_config_is_refused():
    with pytest.raises(ValueError, match=r"config.model.switcher='film'"):
        UnityDiT(tiny_model_config(switcher="film"), rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match=r"dim=64 is not divisible by num_heads=5"):
        UnityDiT(tiny_model_config(num_heads=5), rngs=nnx.Rngs(0))
