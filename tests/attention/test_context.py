"""Context-parallel attention (all-gather, Ulysses, ring) equals plain attention on 8 host devices.

Values and gradients, on a sequence the context axis divides and on ones that need padding
(the padded keys must get no weight), plus cross-attention and the splash block of the ring
(Pallas' interpreter on CPU).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from flax.core import spmd as flax_spmd
from jax.sharding import PartitionSpec as P

from unityvideo_jax.attention.context import strategy_of
from unityvideo_jax.attention.kernels import get_kernel
from unityvideo_jax.attention.ring import ring_attention, splash_block
from unityvideo_jax.attention.xla import xla_attention
from unityvideo_jax.parallel.mesh import make_mesh
from unityvideo_jax.parallel.rules import get_rules

pytestmark = pytest.mark.devices(8)  # a CPU subprocess gives them where this process has fewer (conftest.py)

CONTEXT_PRESETS = ("fsdp_context", "ulysses", "ring")


def _mesh(fsdp=2, context=4):
    return make_mesh(ml_collections.ConfigDict(dict(data=1, fsdp=fsdp, context=context, tensor=1)), jax.devices()[:8])


def _qkvw(length, kv_length=None, batch=2, heads=4, dim=8, seed=0):
    rng = np.random.default_rng(seed)
    kv_length = kv_length or length
    shapes = ((batch, length, heads, dim), (batch, kv_length, heads, dim), (batch, kv_length, heads, dim),
              (batch, length, heads, dim))
    return [jnp.asarray(rng.standard_normal(s), jnp.float32) for s in shapes]


def _value_and_grads(kernel, q, k, v, w):
    return jax.jit(jax.value_and_grad(lambda q, k, v: jnp.sum(kernel(q, k, v) * w), argnums=(0, 1, 2)))(q, k, v)


def _assert_close(got, want, tol=2e-5):
    for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
        scale = max(float(jnp.abs(w).max()), 1.0)
        assert float(jnp.abs(g - w).max()) <= tol * scale


def test_each_context_preset_names_its_strategy():
    assert {p: strategy_of(get_rules(p)) for p in CONTEXT_PRESETS + ("fsdp", "fsdp_tensor")} == {
        "fsdp_context": "allgather", "ulysses": "ulysses", "ring": "ring", "fsdp": None, "fsdp_tensor": None,
    }


@pytest.mark.parametrize("preset", CONTEXT_PRESETS)
@pytest.mark.parametrize("length", [32, 30, 5])  # divides 4; needs 2 padded keys; a block of only padding
def test_context_parallel_attention_equals_plain_attention(preset, length):
    q, k, v, w = _qkvw(length)
    want = _value_and_grads(xla_attention, q, k, v, w)
    with jax.set_mesh(_mesh()), flax_spmd.logical_axis_rules(get_rules(preset)):
        got = _value_and_grads(get_kernel("xla"), q, k, v, w)
    _assert_close(got, want)


@pytest.mark.parametrize("preset", CONTEXT_PRESETS)
def test_cross_attention_keeps_the_text_whole(preset):
    q, k, v, w = _qkvw(30, kv_length=7)
    want = _value_and_grads(xla_attention, q, k, v, w)
    with jax.set_mesh(_mesh()), flax_spmd.logical_axis_rules(get_rules(preset)):
        got = _value_and_grads(get_kernel("xla"), q, k, v, w)
    _assert_close(got, want)


def test_ring_with_the_splash_block_equals_plain_attention():
    """The ring's custom backward through splash's own backward kernels (interpreted on CPU), padded."""
    q, k, v, w = _qkvw(197, batch=1, heads=2, dim=16)
    want = _value_and_grads(xla_attention, q, k, v, w)
    ring = functools.partial(ring_attention, axis=("context",), true_length=197, block=splash_block(True))
    spec = P(None, "context", None, None)
    sharded = jax.shard_map(ring, mesh=_mesh(fsdp=4, context=2), in_specs=(spec,) * 3, out_specs=spec,
                            check_vma=False)
    pad = lambda x: jnp.pad(x, ((0, 0), (0, 1), (0, 0), (0, 0)))  # noqa: E731  (2 x 99 tokens; splash pads to 128)
    value, grads = _value_and_grads(sharded, pad(q), pad(k), pad(v), pad(w))
    _assert_close((value, tuple(g[:, :197] for g in grads)), want, tol=1e-4)


def test_ulysses_refuses_heads_the_context_axis_does_not_divide():
    q, k, v, _ = _qkvw(32, heads=2)
    with jax.set_mesh(_mesh()), flax_spmd.logical_axis_rules(get_rules("ulysses")):
        with pytest.raises(ValueError, match=r"splits the 2 heads on each device 4 ways"):
            jax.jit(get_kernel("xla"))(q, k, v)
