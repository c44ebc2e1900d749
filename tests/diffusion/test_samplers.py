"""Samplers checked without a model: exact velocity fields of known distributions and linear fields."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from unityvideo_jax.diffusion import flow
from unityvideo_jax.diffusion.samplers import sample, time_grid


def gaussian_velocity(mean, std):
    """The exact v(x, t) = E[eps - x0 | x_t] for data x0 ~ N(mean, std^2) under x_t = (1-t) x0 + t eps."""

    def field(x, t):
        t = t.reshape((-1,) + (1,) * (x.ndim - 1))
        var = (1 - t) ** 2 * std**2 + t**2
        centred = x - (1 - t) * mean
        return t / var * centred - (mean + (1 - t) * std**2 / var * centred)

    return lambda rgb, aux, t_rgb, t_aux: (field(rgb, t_rgb), field(aux, t_aux))


@pytest.mark.parametrize("method, steps, tol", [("euler", 200, 0.03), ("heun", 40, 0.03)])
def test_true_velocity_field_lands_on_the_distribution(method, steps, tol):
    mean, std = 1.5, 0.5
    shape = (4096, 1, 1, 1, 2)
    rgb, aux = jnp.zeros(shape), jnp.zeros(shape)
    out_rgb, out_aux = sample(gaussian_velocity(mean, std), rgb, aux, "joint", jax.random.key(0),
                              steps=steps, method=method)
    for out in (out_rgb, out_aux):
        assert abs(float(out.mean()) - mean) < tol
        assert abs(float(out.std()) - std) < tol


def test_heun_is_more_accurate_than_euler_at_equal_steps():
    mean, std = 1.5, 0.3
    shape = (2048, 1, 1, 1, 1)
    errs = {}
    for method in ("euler", "heun"):
        out, _ = sample(gaussian_velocity(mean, std), jnp.zeros(shape), jnp.zeros(shape), "condition",
                        jax.random.key(1), steps=8, method=method)
        errs[method] = abs(float(out.std()) - std) + abs(float(out.mean()) - mean)
    assert errs["heun"] < errs["euler"]


def test_euler_matches_the_closed_form_on_a_linear_field():
    a, steps, s = 0.7, 10, 3.0
    velocity = lambda rgb, aux, t_rgb, t_aux: (a * rgb, a * aux)  # noqa: E731
    shape = (3, 1, 2, 2, 1)
    key = jax.random.key(2)
    out, _ = sample(velocity, jnp.zeros(shape), jnp.zeros(shape), "condition", key, steps=steps, shift_value=s)
    x0 = jax.random.normal(jax.random.split(key)[0], shape)
    grid = np.asarray(time_grid(steps, s), np.float64)
    factor = np.prod([1 + a * (grid[i + 1] - grid[i]) for i in range(steps)])
    np.testing.assert_allclose(out, np.asarray(x0) * factor, rtol=1e-5)


@pytest.mark.parametrize("task, clean", [("estimate", 0), ("condition", 1)])
def test_the_clean_stream_is_bit_identical_at_every_step(task, clean):
    seen = []

    def velocity(rgb, aux, t_rgb, t_aux):
        x = (rgb, aux)[clean]
        t = (t_rgb, t_aux)[clean]
        jax.debug.callback(lambda x, t: seen.append((np.asarray(x), np.asarray(t))), x, t)
        return rgb * 0.1 + 1.0, aux * 0.1 + 1.0

    given = jax.random.normal(jax.random.key(3), (2, 1, 2, 2, 3))
    inputs = [given, given]
    out = sample(velocity, *inputs, task, jax.random.key(4), steps=5)
    assert np.array_equal(np.asarray(out[clean]), np.asarray(given))
    assert len(seen) == 5
    for x, t in seen:
        assert np.array_equal(x, np.asarray(given)) and np.all(t == 0)
    assert not np.array_equal(np.asarray(out[1 - clean]), np.asarray(given))


def test_interpolation_keeps_t_zero_exact():
    x0 = jax.random.normal(jax.random.key(5), (2, 1, 2, 2, 3))
    noise = jax.random.normal(jax.random.key(6), x0.shape)
    assert np.array_equal(np.asarray(flow.interpolate(x0, noise, jnp.zeros(2))), np.asarray(x0))
    np.testing.assert_allclose(flow.interpolate(x0, noise, jnp.ones(2)), noise)


def test_bad_sampler_arguments():
    v = lambda *a: (a[0], a[1])  # noqa: E731
    x = jnp.zeros((1, 1, 2, 2, 1))
    with pytest.raises(ValueError, match="task='paint'"):
        sample(v, x, x, "paint", jax.random.key(0))
    with pytest.raises(ValueError, match="method='rk4'"):
        sample(v, x, x, "joint", jax.random.key(0), method="rk4")
