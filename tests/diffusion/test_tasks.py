"""Task routing, timestep sampling and the masked loss."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from unityvideo_jax.diffusion import loss, tasks, timesteps


def test_route_follows_the_design_table():
    task = jnp.array([0, 1, 2, 0])
    t = jnp.array([0.3, 0.4, 0.5, 0.6])
    t2 = jnp.array([0.9, 0.9, 0.9, 0.1])
    t_rgb, t_aux, w_rgb, w_aux = tasks.route(task, t, t2, "shared")
    np.testing.assert_array_equal(t_rgb, np.float32([0.3, 0.0, 0.5, 0.6]))
    np.testing.assert_array_equal(t_aux, np.float32([0.3, 0.4, 0.0, 0.6]))
    np.testing.assert_array_equal(w_rgb, [1, 0, 1, 1])
    np.testing.assert_array_equal(w_aux, [1, 1, 0, 1])
    _, t_aux, _, _ = tasks.route(task, t, t2, "independent")
    np.testing.assert_array_equal(t_aux, np.float32([0.9, 0.4, 0.0, 0.1]))  # only joint samples take t'
    with pytest.raises(ValueError, match="joint_timesteps='both'"):
        tasks.route(task, t, t2, "both")


def test_task_frequencies_match_the_probabilities():
    probs = tasks.task_probabilities({"joint": 0.5, "estimate": 0.25, "condition": 0.25})
    drawn = np.asarray(tasks.sample_tasks(jax.random.key(0), 40000, probs))
    freq = np.bincount(drawn, minlength=3) / drawn.size
    np.testing.assert_allclose(freq, [0.5, 0.25, 0.25], atol=0.01)
    with pytest.raises(ValueError, match="unknown tasks"):
        tasks.task_probabilities({"paint": 1.0})


def test_release_timesteps_are_shifted_logit_normal():
    config = ml_collections.ConfigDict(dict(timestep_sampling="logit_normal", logit_mean=0.0, logit_std=1.0, shift=5.0))
    t = np.asarray(timesteps.sample_times(jax.random.key(0), (100000,), config))
    n = np.asarray(jax.random.normal(jax.random.key(0), (100000,)))
    base = 1 / (1 + np.exp(-n))
    np.testing.assert_allclose(t, 5 * base / (1 + 4 * base), rtol=1e-5)
    assert 0 < t.min() and t.max() < 1 and np.median(t) > 0.8  # shift 5 favours noise
    assert float(timesteps.shift(jnp.float32(0.5), 1.0)) == 0.5


def test_loss_is_zero_weighted_on_clean_streams():
    v = jnp.ones((2, 1, 2, 2, 3))
    target = jnp.zeros_like(v)
    total, per_sample, mse_rgb, mse_aux = loss.flow_loss(v, 3 * v, target, target, jnp.array([1.0, 0.0]),
                                                         jnp.array([1.0, 1.0]))
    np.testing.assert_allclose(per_sample, [1 + 9, 9])
    assert float(total) == pytest.approx(9.5)
    parts = loss.breakdown(per_sample, jnp.array([0, 1]), jnp.array([4, 4]), 5)
    np.testing.assert_allclose(parts["task_loss_sum"], [10, 9, 0])
    np.testing.assert_allclose(parts["modality_count"], [0, 0, 0, 0, 2])
