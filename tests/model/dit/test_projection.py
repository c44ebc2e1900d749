"""`project` (the matmul with a hand-written backward on CPU) against autodiff of a plain einsum."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from unityvideo_jax.model.dit.projection import project


def _reference(x, kernel):
    return jnp.einsum("...i,io->...o", x, kernel)


@pytest.mark.parametrize("dtype, tol", [(jnp.float32, 1e-5), (jnp.bfloat16, 2e-2)])
@pytest.mark.parametrize("shape", [(7, 24), (2, 3, 5, 24)])
def test_outputs_and_gradients_match_autodiff(dtype, tol, shape):
    kx, kk, kg = jax.random.split(jax.random.key(0), 3)
    x = jax.random.normal(kx, shape).astype(dtype)
    kernel = (jax.random.normal(kk, (24, 40)) / 5).astype(dtype)
    weights = jax.random.normal(kg, shape[:-1] + (40,))  # a loss that weighs every output differently

    def loss(f):
        return lambda x, k: jnp.sum(f(x, k).astype(jnp.float32) * jnp.tanh(weights))

    ours = jax.value_and_grad(loss(project), argnums=(0, 1))(x, kernel)
    theirs = jax.value_and_grad(loss(_reference), argnums=(0, 1))(x, kernel)
    for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(theirs)):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_allclose(np.asarray(a, np.float32), np.asarray(b, np.float32), rtol=tol, atol=tol)


def test_cpu_uses_the_written_backward():
    """The rule is what runs here (a custom_vjp call in the jaxpr), so the test above checks it."""
    x, kernel = jnp.ones((4, 8)), jnp.ones((8, 3))
    jaxpr = str(jax.make_jaxpr(jax.grad(lambda k: project(x, k).sum()))(kernel))
    assert jax.default_backend() == "cpu" and "custom_vjp_call" in jaxpr
