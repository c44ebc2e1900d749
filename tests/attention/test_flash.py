"""The `flash` kernel (attention/flash.py) against the `xla` kernel: outputs and gradients, fp32 and
bf16, one key block and several, padded keys included."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from unityvideo_jax.attention.flash import flash_attention
from unityvideo_jax.attention.kernels import KERNELS, get_kernel
from unityvideo_jax.attention.xla import xla_attention


def _qkv(lq, lk, dtype, seed=0, b=2, n=3, d=16):
    rng = np.random.default_rng(seed)
    q, k, v = (rng.standard_normal(s).astype(np.float32) for s in ((b, lq, n, d), (b, lk, n, d), (b, lk, n, d)))
    return tuple(jnp.asarray(x, dtype) for x in (q, k, v))


def _grads(kernel, q, k, v, cotangent):
    def loss(q, k, v):
        return jnp.sum(kernel(q, k, v).astype(jnp.float32) * cotangent)
    return jax.grad(loss, argnums=(0, 1, 2))(q, k, v)


# (query length, key length, kv_valid, block): one block; several blocks (scanned), padded keys,
# a last block that is padding only past kv_valid, cross-attention (Lk != Lq).
CASES = [(24, 24, None, 1024), (24, 24, 17, 1024), (40, 40, None, 16), (40, 40, 29, 16), (37, 37, 37, 8),
         (24, 11, None, 4), (24, 11, 6, 4)]


@pytest.mark.parametrize("dtype,tol", [(jnp.float32, 2e-5), (jnp.bfloat16, 3e-2)])
@pytest.mark.parametrize("lq,lk,kv_valid,block", CASES)
def test_flash_equals_xla(lq, lk, kv_valid, block, dtype, tol):
    q, k, v = _qkv(lq, lk, dtype)
    flash = lambda q, k, v: flash_attention(q, k, v, kv_valid, block=block)  # noqa: E731
    plain = lambda q, k, v: xla_attention(q, k, v, kv_valid)  # noqa: E731
    out, want = flash(q, k, v), plain(q, k, v)
    assert out.dtype == want.dtype == dtype
    scale = float(jnp.max(jnp.abs(want.astype(jnp.float32))))
    np.testing.assert_allclose(np.asarray(out, np.float32), np.asarray(want, np.float32), atol=tol * scale)

    cotangent = jnp.asarray(np.random.default_rng(1).standard_normal(out.shape), jnp.float32)
    for got, ref, name in zip(_grads(flash, q, k, v, cotangent), _grads(plain, q, k, v, cotangent), "qkv"):
        assert got.dtype == dtype, name
        ref = np.asarray(ref, np.float32)
        np.testing.assert_allclose(np.asarray(got, np.float32), ref, atol=tol * np.abs(ref).max(), err_msg=name)
    if kv_valid is not None:  # padded keys get no gradient at all
        dk, dv = _grads(flash, q, k, v, cotangent)[1:]
        assert not np.any(np.asarray(dk, np.float32)[:, kv_valid:]) and not np.any(np.asarray(dv, np.float32)[:, kv_valid:])


def test_flash_is_a_named_kernel_and_saves_no_probabilities():
    assert "flash" in KERNELS
    q, k, v = _qkv(64, 64, jnp.float32)
    np.testing.assert_allclose(get_kernel("flash")(q, k, v), xla_attention(q, k, v), atol=2e-5)
    # What the backward keeps: q, k, v, out and the logsumexp, nothing of (Lq, Lk).
    _, vjp = jax.vjp(lambda q, k, v: flash_attention(q, k, v), q, k, v)
    saved = [x.shape for x in jax.tree.leaves(vjp) if hasattr(x, "shape")]
    assert saved and all(tuple(s[-2:]) != (64, 64) for s in saved), saved


def test_flash_refuses_a_traced_kv_valid():
    q, k, v = _qkv(8, 8, jnp.float32)
    with pytest.raises(TypeError, match="kv_valid must be a Python int"):
        flash_attention(q, k, v, jnp.int32(4))
