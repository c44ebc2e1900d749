"""The optimiser pieces: schedule, new-layer multiplier, clipping, EMA warm-up."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from unityvideo_jax.train.optimizer import ema_decay, learning_rate, make_optimizer, param_groups


def _train(**kw):
    base = dict(steps=100, lr=1e-3, warmup_steps=10, schedule="constant", new_layer_lr_multiplier=10.0,
                weight_decay=0.0, b1=0.9, b2=0.999, grad_clip=1e9, moments_dtype="float32")
    base.update(kw)
    return ml_collections.ConfigDict(base)


def test_warmup_then_constant_or_cosine():
    constant = learning_rate(_train())
    assert float(constant(0)) == 0.0 and float(constant(5)) == pytest.approx(5e-4) and float(constant(50)) == pytest.approx(1e-3)
    cosine = learning_rate(_train(schedule="cosine"))
    assert float(cosine(10)) == pytest.approx(1e-3) and float(cosine(100)) == pytest.approx(0.0, abs=1e-9)
    assert float(cosine(55)) == pytest.approx(5e-4, rel=1e-3)
    with pytest.raises(ValueError, match="schedule='linear'"):
        learning_rate(_train(schedule="linear"))


def test_new_layers_learn_ten_times_faster():
    params = {"blocks": {"w": jnp.ones(3)}, "flow_in": {"kernel": jnp.ones(3)}}
    assert param_groups(params) == {"blocks": {"w": "base"}, "flow_in": {"kernel": "new"}}
    tx = make_optimizer(_train(warmup_steps=0))
    grads = jax.tree.map(jnp.ones_like, params)
    updates, _ = tx.update(grads, tx.init(params), params)
    ratio = np.asarray(updates["flow_in"]["kernel"]) / np.asarray(updates["blocks"]["w"])
    np.testing.assert_allclose(ratio, 10.0, rtol=1e-5)


def _second_update(tx, first, second):
    """The update of `tx`'s second step, after gradients `first` then `second`."""
    params = {"blocks": {"w": jnp.zeros(4)}}
    _, state = tx.update(first, tx.init(params), params)
    update, _ = tx.update(second, state, params)
    return np.asarray(update["blocks"]["w"])


def test_gradients_are_clipped_by_global_norm():
    # Adam's first update is about lr * sign(g) whatever |g|, so the clip shows only in the moments a
    # step leaves behind: a second step weighs the first gradient against the second.
    big = {"blocks": {"w": jnp.full(4, 100.0)}}  # global norm 200: clipped to norm 1, i.e. to `small`
    small = {"blocks": {"w": jnp.full(4, 0.5)}}  # global norm 1: the clip leaves it alone
    clipped = make_optimizer(_train(warmup_steps=0, grad_clip=1.0))
    loose = make_optimizer(_train(warmup_steps=0, grad_clip=1e9))
    reference = _second_update(loose, small, small)
    np.testing.assert_allclose(_second_update(clipped, big, small), reference, rtol=1e-5)
    np.testing.assert_allclose(_second_update(clipped, small, small), reference, rtol=1e-5)  # never scaled up
    # the check can tell: unclipped, the big gradient dominates both moments and the update is ~30% smaller
    assert not np.allclose(_second_update(loose, big, small), reference, rtol=0.05)


def test_ema_decay_warms_up_to_the_configured_value():
    assert float(ema_decay(0.9999, jnp.array(0))) == pytest.approx(0.1)
    assert float(ema_decay(0.9999, jnp.array(90))) == pytest.approx(0.91)
    assert float(ema_decay(0.99, jnp.array(10**6))) == pytest.approx(0.99)
