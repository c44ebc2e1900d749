"""`config.model.scan_layers`: the scanned layers and the Python loop are one model."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from unityvideo_jax import UnityDiT, get_config
from unityvideo_jax.model.dit.spec import from_config


def _loss_and_grads(scan: bool, remat: str = "none"):
    config = get_config("tiny_paper").model
    config.update(scan_layers=scan, remat_policy=remat, num_layers=3)
    model = UnityDiT(config, rngs=nnx.Rngs(0))
    graphdef, params = nnx.split(model, nnx.Param)
    keys = jax.random.split(jax.random.key(1), 3)
    x = jax.random.normal(keys[0], (2, 5, 16, 16, config.in_channels))
    aux = jax.random.normal(keys[1], x.shape)
    text = jax.random.normal(keys[2], (2, 8, config.text_dim))
    t, modality = jnp.array([0.3, 0.8]), jnp.array([0, 3], jnp.int32)

    def loss(params):
        v, w = nnx.merge(graphdef, params)(x, aux, t, t[::-1], text, text, modality)
        return jnp.mean(v**2) + jnp.mean(jnp.sin(w))

    return jax.jit(jax.value_and_grad(loss))(params)


def test_loop_equals_scan_in_outputs_and_gradients():
    scanned, looped = _loss_and_grads(True), _loss_and_grads(False)
    np.testing.assert_allclose(looped[0], scanned[0], rtol=1e-5)
    flat_scan, flat_loop = jax.tree.leaves(scanned[1]), jax.tree.leaves(looped[1])
    assert len(flat_scan) == len(flat_loop)
    for a, b in zip(flat_loop, flat_scan):
        assert a.shape == b.shape  # the stacked layout is kept: one checkpoint for both
        np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-6)


def test_loop_with_remat_equals_scan():
    scanned, looped = _loss_and_grads(True, "full"), _loss_and_grads(False, "full")
    np.testing.assert_allclose(looped[0], scanned[0], rtol=1e-5)
    for a, b in zip(jax.tree.leaves(looped[1]), jax.tree.leaves(scanned[1])):
        np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-6)


def test_configs_saved_before_the_option_scan():
    values = dict(get_config("tiny_paper").model)
    del values["scan_layers"]
    assert from_config(values).scan_layers is True
