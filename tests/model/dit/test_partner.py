"""Partner attention: at initialisation, heads 0 and 1 attend across the streams to the token at the same place."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from unityvideo_jax import get_config
from unityvideo_jax.model.dit.partner import init_partner_heads
from unityvideo_jax.model.dit.rope import apply_rope, rope_tables
from unityvideo_jax.model.dit.transformer import UnityDiT

GRID = (3, 4, 4)  # (F', H', W') tokens of one stream


def _model_config(heads: int = 3, dim: int = 96):
    m = get_config("tiny_paper").model
    m.dim, m.ffn_dim, m.num_heads = dim, 2 * dim, heads
    return m


def _attention(model, layer: int = 0) -> np.ndarray:
    """Self-attention weights (heads, L, L) of `layer` on random tokens, streams in order (RGB, aux),
    each stream (f, h, w)-major: the order rope_tables uses."""
    spec = model.spec
    length = 2 * int(np.prod(GRID))
    x = jax.random.normal(jax.random.key(1), (1, length, spec.dim))
    attn = model.blocks.attn1
    params = {name: np.asarray(getattr(attn, name).kernel[...])[layer] for name in ("to_q", "to_k")}
    biases = {name: np.asarray(getattr(attn, name).bias[...])[layer] for name in ("to_q", "to_k")}
    gains = {name: np.asarray(getattr(attn, name).scale[...])[layer] for name in ("norm_q", "norm_k")}

    def project(name, norm):
        h = x @ params[name] + biases[name]
        h = h / jnp.sqrt(jnp.mean(h**2, -1, keepdims=True) + spec.eps) * gains[norm]
        return h.reshape(1, length, spec.num_heads, spec.head_dim)

    cos, sin = rope_tables(GRID, 2, spec.head_dim, spec.rope_theta)
    q = apply_rope(project("to_q", "norm_q"), cos, sin)
    k = apply_rope(project("to_k", "norm_k"), cos, sin)
    logits = jnp.einsum("bqnd,bknd->bnqk", q, k) / np.sqrt(spec.head_dim)
    return np.asarray(jax.nn.softmax(logits, -1))[0]


@pytest.mark.parametrize("heads", [3, 2])
def test_partner_heads_attend_to_the_token_at_the_same_place_in_the_other_stream(heads):
    model = UnityDiT(_model_config(heads), rngs=nnx.Rngs(0))
    before, params = _attention(model), nnx.to_pure_dict(nnx.state(model, nnx.Param))
    init_partner_heads(model, GRID)
    weights = _attention(model)
    half = weights.shape[-1] // 2
    own = np.arange(half)
    aux_to_rgb = weights[0, half + own, own]  # head 0: each aux token -> its RGB partner
    rgb_to_aux = weights[1, own, half + own]  # head 1: each RGB token -> its aux partner
    for w in (aux_to_rgb, rgb_to_aux):
        assert w.mean() > 0.4 and np.mean(w > 0.2) > 0.9
    assert (weights[0, half:].argmax(-1) == own).all() and (weights[1, :half].argmax(-1) == half + own).all()
    assert before[0, half + own, own].mean() < 0.1  # a random initialisation does not do this
    # Only the self-attention's q/k biases and gains change, and in the partner heads' columns alone.
    after = nnx.to_pure_dict(nnx.state(model, nnx.Param))
    changed = {"to_q/bias", "to_k/bias", "norm_q/scale", "norm_k/scale"}
    flat_before = dict(_flat(params))
    for path, value in _flat(after):
        old = flat_before[path]
        name = "/".join(path.split("/")[-2:])
        if path.startswith("blocks/attn1/") and name in changed:
            cols = 2 * model.spec.head_dim
            np.testing.assert_array_equal(value[:, cols:], old[:, cols:])
            assert not np.array_equal(value[:, :cols], old[:, :cols])
        else:
            np.testing.assert_array_equal(value, old)


def _flat(tree, prefix=""):
    for key, value in tree.items():
        if isinstance(value, dict):
            yield from _flat(value, f"{prefix}{key}/")
        else:
            yield f"{prefix}{key}", np.asarray(value)


def test_every_layer_gets_partner_heads_and_jit_gives_the_same_values():
    config = _model_config()
    config.num_layers = 3

    def make():
        model = UnityDiT(config, rngs=nnx.Rngs(0))
        init_partner_heads(model, GRID, seed=5)
        return nnx.state(model, nnx.Param)

    eager, jitted = make(), jax.jit(make)()
    for a, b in zip(jax.tree.leaves(eager), jax.tree.leaves(jitted)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6)
    model = UnityDiT(config, rngs=nnx.Rngs(0))
    init_partner_heads(model, GRID, seed=5)
    for layer in range(3):
        w = _attention(model, layer)
        half = w.shape[-1] // 2
        assert np.mean(w[0, half:].argmax(-1) == np.arange(half)) > 0.9


def test_a_single_stream_model_is_refused():
    config = _model_config()
    config.two_stream = False
    model = UnityDiT(config, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="only the RGB stream"):
        init_partner_heads(model, GRID)


def test_the_trainer_starts_from_partner_heads_when_the_config_asks():
    from flax.core import spmd as flax_spmd

    from unityvideo_jax.parallel.mesh import make_mesh
    from unityvideo_jax.parallel.rules import get_rules
    from unityvideo_jax.train.loop import sharded_state
    from unityvideo_jax.train.optimizer import make_optimizer

    config = get_config("tiny_paper")
    config.parallel.devices = 1
    biases = {}
    for flag in (False, True):
        config.train.partner_init = flag
        mesh, rules = make_mesh(config.parallel), get_rules(config.parallel.preset)
        with jax.set_mesh(mesh), flax_spmd.logical_axis_rules(rules):
            *_, make_model = sharded_state(config, mesh, rules, make_optimizer(config.train))
            biases[flag] = np.asarray(make_model().blocks.attn1.to_q.bias[...])
    assert not biases[False].any() and np.abs(biases[True]).max() > 1.0
