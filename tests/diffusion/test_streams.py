"""Tasks as masks over 1 + k streams (diffusion/streams.py) and the sampler with stacked aux streams."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from unityvideo_jax.diffusion.samplers import sample
from unityvideo_jax.diffusion.streams import route_streams
from unityvideo_jax.diffusion.tasks import TASKS


def _route(task_ids, present, mixed=0.0, joint="shared", seed=0):
    b, k = present.shape
    t = jnp.linspace(0.2, 0.9, b)
    t_other = jnp.full((b, k), 0.33)
    return route_streams(jnp.asarray(task_ids, jnp.int32), t, t_other, jnp.asarray(present), jax.random.key(seed),
                         mixed, joint), t


def test_each_task_sets_every_present_stream_and_absent_ones_get_nothing():
    present = np.array([[True, True, False], [True, False, False], [True, True, True]])
    for task in TASKS:
        ids = [TASKS.index(task)] * 3
        (t_rgb, t_aux, w_rgb, w_aux), t = _route(ids, present)
        aux_noised = task in ("joint", "estimate")
        np.testing.assert_array_equal(np.asarray(w_rgb), 0.0 if task == "estimate" else 1.0)
        np.testing.assert_array_equal(np.asarray(w_aux), present * float(aux_noised))
        np.testing.assert_allclose(np.asarray(t_aux), present * aux_noised * np.asarray(t)[:, None])
        np.testing.assert_allclose(np.asarray(t_rgb), np.asarray(t) * (task != "estimate"))


def test_independent_joint_times_per_stream():
    present = np.ones((2, 2), bool)
    (_, t_aux, _, _), _ = _route([0, 1], present, joint="independent")
    np.testing.assert_allclose(np.asarray(t_aux[0]), 0.33)  # joint: each stream its own time
    assert float(t_aux[1, 0]) == float(t_aux[1, 1]) != 0.33  # estimate: the sample's one time


def test_mixed_samples_leave_streams_clean_or_noised_at_random():
    present = np.ones((400, 3), bool)
    (_, t_aux, w_rgb, w_aux), _ = _route([1] * 400, present, mixed=1.0)
    w = np.asarray(w_aux)
    assert 0.4 < w.mean() < 0.6  # half the streams of estimation samples now clean
    assert ((w == 0) == (np.asarray(t_aux) == 0)).all()  # a clean stream is at t = 0 exactly
    np.testing.assert_array_equal(np.asarray(w_rgb), 0.0)  # the task's RGB part stays
    (_, _, _, w_none), _ = _route([1] * 400, present, mixed=0.0)
    assert np.asarray(w_none).min() == 1.0


def _toy_velocity(rgb, aux, t_rgb, t_aux):
    """A velocity that reads every stream and time, so a wrongly updated stream shows."""
    mean = rgb.mean() + aux.mean()
    return rgb * 0.5 + mean + t_rgb[:, None, None, None, None], aux * 0.25 + mean + t_aux[:, :, None, None, None, None]


def test_sampler_updates_only_the_generated_streams_and_keeps_conditions_exact():
    rgb = jnp.asarray(np.random.default_rng(0).standard_normal((2, 2, 3, 3, 4)), jnp.float32)
    aux = jnp.asarray(np.random.default_rng(1).standard_normal((2, 3, 2, 3, 3, 4)), jnp.float32)
    out_rgb, out_aux = sample(_toy_velocity, rgb, aux, "estimate", jax.random.key(0), steps=3,
                              aux_generated=(True, False, True))
    np.testing.assert_array_equal(np.asarray(out_rgb), np.asarray(rgb))
    np.testing.assert_array_equal(np.asarray(out_aux[:, 1]), np.asarray(aux[:, 1]))
    assert float(jnp.abs(out_aux[:, 0] - aux[:, 0]).max()) > 0.1
    out_rgb, out_aux = sample(_toy_velocity, rgb, aux, "condition", jax.random.key(0), steps=3)
    np.testing.assert_array_equal(np.asarray(out_aux), np.asarray(aux))  # every aux stream a condition
    assert float(jnp.abs(out_rgb - rgb).max()) > 0.1


def test_sampler_with_one_stacked_stream_equals_the_one_stream_sampler():
    rgb = jnp.asarray(np.random.default_rng(0).standard_normal((2, 2, 3, 3, 4)), jnp.float32)
    aux = jnp.asarray(np.random.default_rng(1).standard_normal((2, 2, 3, 3, 4)), jnp.float32)

    def one(r, a, t_r, t_a):
        return _toy_velocity(r, a[:, None], t_r, t_a[:, None])[0], _toy_velocity(r, a[:, None], t_r, t_a[:, None])[1][:, 0]

    for task in TASKS:
        want = sample(one, rgb, aux, task, jax.random.key(3), steps=2, method="heun")
        got = sample(_toy_velocity, rgb, aux[:, None], task, jax.random.key(3), steps=2, method="heun")
        np.testing.assert_allclose(np.asarray(got[0]), np.asarray(want[0]), rtol=1e-6)
        np.testing.assert_allclose(np.asarray(got[1][:, 0]), np.asarray(want[1]), rtol=1e-6)


def test_sampler_refuses_a_pattern_that_generates_nothing():
    rgb = jnp.zeros((1, 1, 2, 2, 4))
    aux = jnp.zeros((1, 2, 1, 2, 2, 4))
    with pytest.raises(ValueError, match="generates nothing"):
        sample(_toy_velocity, rgb, aux, "estimate", jax.random.key(0), steps=1, aux_generated=(False, False))
    with pytest.raises(ValueError, match="2 aux streams"):
        sample(_toy_velocity, rgb, aux, "estimate", jax.random.key(0), steps=1, aux_generated=(True,))
