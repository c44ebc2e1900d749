"""The per-sample key mask `kv_mask` (B, Lk): masked attention equals attention over only the present keys.

Every kernel (xla, chunked, flash; splash through Pallas' interpreter) and every context-parallel
strategy (all-gather, Ulysses, ring on 8 host devices, padded sequences included), values and
gradients: an absent key must change nothing and get no gradient. The reference gathers each
sample's present keys and runs the unmasked xla kernel on them, so it cannot share a masking bug.
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

from unityvideo_jax.attention import splash
from unityvideo_jax.attention.context import sequence_parallel
from unityvideo_jax.attention.flash import flash_attention
from unityvideo_jax.attention.kernels import get_kernel
from unityvideo_jax.attention.ring import ring_attention, splash_block
from unityvideo_jax.attention.xla import chunked_attention, xla_attention, xla_attention_lse
from unityvideo_jax.parallel.mesh import make_mesh
from unityvideo_jax.parallel.rules import get_rules

F32 = jnp.float32

# name -> the local kernel with kv_valid/kv_mask, in the configurations that take different paths:
# chunked with a last query chunk that needs padding, flash in one pass and key block by key block.
LOCAL = {
    "xla": xla_attention,
    "chunked": functools.partial(chunked_attention, chunk=4),
    "flash": flash_attention,
    "flash_blocks": functools.partial(flash_attention, block=8),
}
TOL = {jnp.float32: 1e-5, jnp.bfloat16: 3e-2}


def _qkvw(length, dtype=F32, batch=2, heads=4, dim=8, seed=0):
    rng = np.random.default_rng(seed)
    q, k, v, w = (rng.standard_normal((batch, length, heads, dim)).astype(np.float32) for _ in range(4))
    return (*(jnp.asarray(x, dtype) for x in (q, k, v)), jnp.asarray(w, F32))


def _mask(length, batch=2, seed=1):
    """Sample 0 misses a contiguous run (a whole absent stream: whole ring blocks masked), the others
    random keys; every sample keeps at least one key and no two samples share a mask."""
    rng = np.random.default_rng(seed)
    mask = rng.random((batch, length)) < 0.6
    mask[0] = True
    mask[0, length // 4: 3 * length // 4] = False
    mask[:, 0] = True
    assert len({row.tobytes() for row in mask}) == batch and mask.all(axis=1).sum() < batch
    return jnp.asarray(mask)


def _present_only(q, k, v, mask):
    """Per sample: the unmasked xla kernel over only that sample's present keys."""
    mask = np.asarray(mask)
    rows = [xla_attention(q[i:i + 1], k[i:i + 1, np.flatnonzero(m)], v[i:i + 1, np.flatnonzero(m)])
            for i, m in enumerate(mask)]
    return jnp.concatenate(rows)


def _value_and_grads(kernel, q, k, v, w, mask):
    """Output and d(sum(out * w))/d(q, k, v), jitted with the mask as a traced argument."""
    def loss(q, k, v, mask):
        out = kernel(q, k, v, mask)
        return jnp.sum(out.astype(F32) * w), out

    (_, out), grads = jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2), has_aux=True))(q, k, v, mask)
    return out, grads


def _reference(q, k, v, w, mask):
    """The present-keys reference: a static gather, so its gradients scatter back with zeros."""
    def loss(q, k, v):
        out = _present_only(q, k, v, mask)
        return jnp.sum(out.astype(F32) * w), out

    (_, out), grads = jax.value_and_grad(loss, argnums=(0, 1, 2), has_aux=True)(q, k, v)
    return out, grads


def _assert_close(got, want, tol):
    for g, r, name in zip(jax.tree.leaves(got), jax.tree.leaves(want), ("out", "dq", "dk", "dv")):
        assert g.dtype == r.dtype, name
        g, r = np.asarray(g, np.float32), np.asarray(r, np.float32)
        np.testing.assert_allclose(g, r, rtol=0, atol=tol * max(float(np.abs(r).max()), 1.0), err_msg=name)


def _assert_absent_keys_get_no_gradient(grads, mask, length=None):
    absent = ~np.asarray(mask)
    if length is not None:
        absent[:, length:] = True
    for g, name in zip(grads[1:], ("dk", "dv")):
        assert not np.any(np.asarray(g, np.float32)[absent]), name


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
@pytest.mark.parametrize("name", list(LOCAL))
def test_masked_kernel_equals_attention_over_the_present_keys(name, dtype):
    q, k, v, w = _qkvw(21, dtype)  # 21: chunks of 4 and key blocks of 8 both need padding
    mask = _mask(21)
    kernel = lambda q, k, v, m: LOCAL[name](q, k, v, kv_mask=m)  # noqa: E731
    got = _value_and_grads(kernel, q, k, v, w, mask)
    _assert_close(got, _reference(q, k, v, w, mask), TOL[dtype])
    _assert_absent_keys_get_no_gradient(got[1], mask)


@pytest.mark.parametrize("name", list(LOCAL))
def test_the_mask_is_not_ignored(name):
    """Masking roughly half the keys moves the output by far more than any tolerance above."""
    q, k, v, _ = _qkvw(21)
    mask = _mask(21)
    masked, plain = LOCAL[name](q, k, v, kv_mask=mask), LOCAL[name](q, k, v)
    assert float(jnp.abs(masked - plain).max()) > 0.1
    np.testing.assert_allclose(LOCAL[name](q, k, v, kv_mask=jnp.ones((2, 21), bool)), plain, rtol=0, atol=1e-6)


@pytest.mark.parametrize("name", ["xla", "chunked", "flash"])
def test_no_mask_is_bitwise_the_unmasked_call(name):
    q, k, v, w = _qkvw(21)
    kernel = get_kernel(name, chunk=4)
    loss = lambda **kw: lambda q, k, v: jnp.sum(kernel(q, k, v, **kw) * w)  # noqa: E731
    before = jax.jit(jax.value_and_grad(loss(), argnums=(0, 1, 2)))(q, k, v)
    after = jax.jit(jax.value_and_grad(loss(kv_mask=None), argnums=(0, 1, 2)))(q, k, v)
    for a, b in zip(jax.tree.leaves(after), jax.tree.leaves(before)):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(kernel(q, k, v, kv_mask=None), kernel(q, k, v))


@pytest.mark.parametrize("name", list(LOCAL))
def test_mask_and_kv_valid_both_apply(name):
    """A key counts only where the mask and the static valid length both allow it."""
    q, k, v, w = _qkvw(21)
    mask = _mask(21)
    kernel = lambda q, k, v, m: LOCAL[name](q, k, v, 15, kv_mask=m)  # noqa: E731
    got = _value_and_grads(kernel, q, k, v, w, mask)
    both = mask & (jnp.arange(21) < 15)
    _assert_close(got, _reference(q, k, v, w, both), TOL[jnp.float32])
    _assert_absent_keys_get_no_gradient(got[1], mask, length=15)


def test_the_ring_block_lse_is_that_of_the_present_keys():
    """The ring merges blocks by logsumexp: a masked block's must be that of its present keys alone."""
    q, k, v, _ = _qkvw(12)
    mask = _mask(12)
    _, lse = xla_attention_lse(q, k, v, kv_mask=mask)
    for i, m in enumerate(np.asarray(mask)):
        idx = np.flatnonzero(m)
        np.testing.assert_allclose(lse[i], xla_attention_lse(q[i:i + 1], k[i:i + 1, idx], v[i:i + 1, idx])[1][0],
                                   rtol=1e-6)


def test_user_mistakes_are_refused():
    q, k, v, _ = _qkvw(10)
    attend = get_kernel("xla")
    expected = r"kv_mask: got bool of shape \(2, 9\), expected bool of shape \(B, Lk\) = \(2, 10\)"
    with pytest.raises(ValueError, match=expected):
        attend(q, k, v, kv_mask=jnp.ones((2, 9), bool))
    with pytest.raises(ValueError, match=r"kv_mask: got float32 of shape \(2, 10\)"):
        attend(q, k, v, kv_mask=jnp.ones((2, 10), F32))
    with pytest.raises(ValueError, match=r"kv_mask: got bool of shape \(1, 10\)"):
        flash_attention(q, k, v, kv_mask=jnp.ones((1, 10), bool))
    with pytest.raises(ValueError, match="cross-attention to the text takes no key mask"):
        attend(q, k[:, :7], v[:, :7], kv_mask=jnp.ones((2, 7), bool))


def test_splash_kernels_built_inside_one_jit_serve_the_next():
    """The splash kernel cache outlives a trace: what it keeps must be concrete, not that trace's tracers."""
    q, k, v, _ = _qkvw(8, batch=1, heads=1, dim=16)
    for scale in (1.0, 2.0):  # two distinct functions: two traces, one cached kernel
        out = jax.jit(lambda q, k, v, s=scale: splash.splash_attention(q * s, k, v, interpret=True))(q, k, v)
        np.testing.assert_allclose(out, xla_attention(q * scale, k, v), atol=1e-5)


def test_splash_masks_through_segment_ids():
    """Splash (Pallas' interpreter on CPU) with absent keys as segment 1, padded keys too."""
    q, k, v, w = _qkvw(40, heads=2, dim=16)
    mask = _mask(40)
    kernel = lambda q, k, v, m: splash.splash_attention(q, k, v, 33, kv_mask=m, interpret=True)  # noqa: E731
    got = _value_and_grads(kernel, q, k, v, w, mask)
    _assert_close(got, _reference(q, k, v, w, mask & (jnp.arange(40) < 33)), 1e-5)
    _assert_absent_keys_get_no_gradient(got[1], mask, length=33)


# --- context parallelism: 8 host devices, batch over fsdp (2), the sequence over context (4) ---

def _mesh(fsdp=2, context=4):
    return make_mesh(ml_collections.ConfigDict(dict(data=1, fsdp=fsdp, context=context, tensor=1)), jax.devices()[:8])


@pytest.mark.devices(8)
@pytest.mark.parametrize("preset", ["fsdp_context", "ulysses", "ring"])
@pytest.mark.parametrize("length", [32, 30, 5])  # divides 4; 2 padded keys; a block of only padding
def test_context_parallel_masked_attention_equals_one_device(preset, length):
    q, k, v, w = _qkvw(length)
    mask = _mask(length)
    want = _value_and_grads(lambda q, k, v, m: xla_attention(q, k, v, kv_mask=m), q, k, v, w, mask)
    _assert_close(want, _reference(q, k, v, w, mask), 1e-5)
    with jax.set_mesh(_mesh()), flax_spmd.logical_axis_rules(get_rules(preset)):
        attend = get_kernel("xla")
        got = _value_and_grads(lambda q, k, v, m: attend(q, k, v, kv_mask=m), q, k, v, w, mask)
    _assert_close(got, want, 2e-5)
    _assert_absent_keys_get_no_gradient(got[1], mask)


@pytest.mark.devices(8)
@pytest.mark.parametrize("preset", ["fsdp_context", "ulysses"])  # the ring's block math is its own
@pytest.mark.parametrize("name", ["flash", "chunked"])
def test_context_parallel_hands_the_mask_to_the_named_kernel(preset, name):
    q, k, v, w = _qkvw(30)
    mask = _mask(30)
    want = _value_and_grads(lambda q, k, v, m: xla_attention(q, k, v, kv_mask=m), q, k, v, w, mask)
    with jax.set_mesh(_mesh()), flax_spmd.logical_axis_rules(get_rules(preset)):
        attend = get_kernel(name, chunk=4)
        got = _value_and_grads(lambda q, k, v, m: attend(q, k, v, kv_mask=m), q, k, v, w, mask)
    _assert_close(got, want, 2e-5)


@pytest.mark.devices(8)
@pytest.mark.parametrize("preset", ["fsdp", "ulysses"])  # no sharded sequence: Pallas' own shard_map
def test_splash_under_the_mesh_gets_its_share_of_the_mask(preset):
    """The splash kernel (interpreted) as get_kernel wraps it: per device over batch (and heads)."""
    q, k, v, w = _qkvw(30)
    mask = _mask(30)
    want = _reference(q, k, v, w, mask)
    with jax.set_mesh(_mesh()), flax_spmd.logical_axis_rules(get_rules(preset)):
        attend = sequence_parallel(functools.partial(splash.splash_attention, interpret=True), "splash")
        got = _value_and_grads(lambda q, k, v, m: attend(q, k, v, kv_mask=m), q, k, v, w, mask)
    _assert_close(got, want, 1e-5)


@pytest.mark.devices(8)
def test_ring_with_the_splash_block_passes_the_mask_round():
    """The splash ring block (interpreted) with a mask that leaves one device's block wholly absent."""
    q, k, v, w = _qkvw(62, batch=2, heads=2, dim=16)
    mask = _mask(62)
    want = _reference(q, k, v, w, mask)
    ring = functools.partial(ring_attention, axis=("context",), true_length=62, block=splash_block(True))
    spec, mask_spec = P("fsdp", "context", None, None), P("fsdp", "context")
    sharded = jax.shard_map(lambda q, k, v, m: ring(q, k, v, kv_mask=m), mesh=_mesh(fsdp=2, context=4),
                            in_specs=(spec,) * 3 + (mask_spec,), out_specs=spec, check_vma=False)
    pad = lambda x: jnp.pad(x, ((0, 0), (0, 2)) + ((0, 0),) * (x.ndim - 2))  # noqa: E731  (4 x 16 tokens)
    out, grads = _value_and_grads(sharded, pad(q), pad(k), pad(v), pad(w), pad(mask))
    _assert_close((out[:, :62], tuple(g[:, :62] for g in grads)), want, 1e-4)
