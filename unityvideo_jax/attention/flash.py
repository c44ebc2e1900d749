"""Attention with its own backward (the flash-attention recipe), in plain `lax` ops for any XLA backend.

q (B, Lq, N, D), k and v (B, Lk, N, D) -> (B, Lq, N, D), keys at positions >= `kv_valid` and keys where
`kv_mask` (B, Lk) is False masked, logits and softmax in fp32 whatever the input dtype: the same contract
as the `xla` kernel (xla.py). The mask travels with its key blocks, forward and backward.

Forward: keys `block` at a time with an online softmax (running max, sum and output), so the logits
never exceed (B, N, Lq, block); a sequence of one block is one pass. It keeps only q, k, v, the output
and the logsumexp for the backward, not the (Lq, Lk) probabilities autodiff would save.

Backward, per key block, from the saved logsumexp:
    P = exp(q k^T / sqrt(d) - lse);  dV = P^T dO;  dP = dO V^T;  dS = P (dP - rowsum(dO * O))
    dQ += dS K / sqrt(d);  dK = dS^T Q / sqrt(d)
Five matmuls and three elementwise passes over (Lq, block), against autodiff's chain through the
max, exp, sum and division of the forward (benchmarks/attention.py measures both).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from einops import rearrange

from unityvideo_jax.attention.xla import MASKED, check_kv_mask, key_mask

F32 = jnp.float32
DEFAULT_BLOCK = 1024  # keys a block; CPU-sized sequences run in one pass


def _heads_first(x):
    return rearrange(x, "b l n d -> b n l d")


def _logits(q, k, start, kv_valid: int | None, kv_mask=None):
    """fp32 q k^T / sqrt(d) of heads-first q (B, N, Lq, D) and a key block k (B, N, Lb, D) that
    starts at key `start` (an int, or traced inside the block loop); `kv_mask` (B, Lb) is the block's."""
    logits = jnp.einsum("bnqd,bnkd->bnqk", q, k, preferred_element_type=F32) * q.shape[-1] ** -0.5
    if kv_mask is not None:
        return jnp.where(key_mask(k.shape[2], kv_valid, kv_mask, start), logits, MASKED)
    if kv_valid is not None and (not isinstance(start, int) or start + k.shape[2] > kv_valid):
        logits = jnp.where(start + jnp.arange(k.shape[2]) < kv_valid, logits, MASKED)
    return logits


def _blocks(x, block: int):
    """(B, N, L, D) -> (L / block, B, N, block, D), zero-padded at the end."""
    pad = (-x.shape[2]) % block
    x = jnp.pad(x, ((0, 0), (0, 0), (0, pad), (0, 0)))
    return rearrange(x, "b n (c l) d -> c b n l d", l=block)


def _mask_blocks(kv_mask, block: int):
    """(B, L) -> (L / block, B, block), padded with False (padded keys never count); None stays None."""
    if kv_mask is None:
        return None
    kv_mask = jnp.pad(kv_mask, ((0, 0), (0, (-kv_mask.shape[1]) % block)), constant_values=False)
    return rearrange(kv_mask, "b (c l) -> c b l", l=block)


def _unblocks(x, length: int):
    return rearrange(x, "c b n l d -> b n (c l) d")[:, :, :length]


def _plan(length: int, block: int, kv_valid: int | None) -> tuple[int, int | None]:
    """(block, kv_valid) for a key sequence of `length`: one block when it fits; padding masked."""
    if length <= block:
        return length, kv_valid
    padded = -(-length // block) * block
    valid = length if kv_valid is None else min(kv_valid, length)
    return block, (valid if padded != length or kv_valid is not None else None)


def flash_forward(q, k, v, kv_valid: int | None = None, block: int = DEFAULT_BLOCK, *, kv_mask=None):
    """(out (B, Lq, N, D) fp32, logsumexp (B, N, Lq) fp32), keys `block` at a time."""
    q, k, v = (_heads_first(x) for x in (q, k, v))
    block, kv_valid = _plan(k.shape[2], block, kv_valid)
    if block == k.shape[2]:
        logits = _logits(q, k, 0, kv_valid, kv_mask)
        top = jnp.max(logits, axis=-1, keepdims=True)
        weights = jnp.exp(logits - top)
        total = jnp.sum(weights, axis=-1, keepdims=True)
        out = jnp.einsum("bnqk,bnkd->bnqd", weights.astype(v.dtype), v, preferred_element_type=F32) / total
        return rearrange(out, "b n l d -> b l n d"), (top + jnp.log(total))[..., 0]

    def step(carry, kv):
        top, total, acc = carry
        index, kb, vb, mb = kv
        logits = _logits(q, kb, index * block, kv_valid, mb)
        new_top = jnp.maximum(top, jnp.max(logits, axis=-1, keepdims=True))
        weights = jnp.exp(logits - new_top)
        decay = jnp.exp(top - new_top)
        total = total * decay + jnp.sum(weights, axis=-1, keepdims=True)
        acc = acc * decay + jnp.einsum("bnqk,bnkd->bnqd", weights.astype(vb.dtype), vb, preferred_element_type=F32)
        return (new_top, total, acc), None

    b, n, lq, d = q.shape
    start = (jnp.full((b, n, lq, 1), MASKED, F32), jnp.zeros((b, n, lq, 1), F32), jnp.zeros((b, n, lq, d), F32))
    kb, vb = _blocks(k, block), _blocks(v, block)
    mb = _mask_blocks(kv_mask, block)
    (top, total, acc), _ = jax.lax.scan(step, start, (jnp.arange(kb.shape[0]), kb, vb, mb))
    return rearrange(acc / total, "b n l d -> b l n d"), (top + jnp.log(total))[..., 0]


def flash_grads(q, k, v, out, lse, dout, kv_valid: int | None = None, block: int = DEFAULT_BLOCK, *,
                kv_mask=None):
    """(dq, dk, dv) in the inputs' dtypes, from the softmax's saved `out` and `lse` (B, N, Lq).

    `out` and `lse` may be those of a larger softmax that this K/V is one block of (the ring's case):
    the gradients are then this block's share of it.
    """
    dtype = {"q": q.dtype, "k": k.dtype, "v": v.dtype}
    q, k, v, dout = (_heads_first(x) for x in (q, k, v, dout))
    delta = jnp.einsum("bnqd,bqnd->bnq", dout.astype(F32), out.astype(F32))[..., None]
    lse = lse[..., None]
    scale = q.shape[-1] ** -0.5

    def block_grads(kb, vb, start, mb):
        probs = jnp.exp(_logits(q, kb, start, kv_valid, mb) - lse)
        dv = jnp.einsum("bnqk,bnqd->bnkd", probs.astype(dout.dtype), dout, preferred_element_type=F32)
        dprobs = jnp.einsum("bnqd,bnkd->bnqk", dout, vb, preferred_element_type=F32)
        dlogits = (probs * (dprobs - delta) * scale).astype(q.dtype)
        dq = jnp.einsum("bnqk,bnkd->bnqd", dlogits, kb, preferred_element_type=F32)
        dk = jnp.einsum("bnqk,bnqd->bnkd", dlogits, q, preferred_element_type=F32)
        return dq, dk, dv

    length = k.shape[2]
    block, kv_valid = _plan(length, block, kv_valid)
    if block == length:
        dq, dk, dv = block_grads(k, v, 0, kv_mask)
    else:
        def step(dq, kv):
            index, kb, vb, mb = kv
            dq_b, dk_b, dv_b = block_grads(kb, vb, index * block, mb)
            return dq + dq_b, (dk_b, dv_b)

        kb, vb, mb = _blocks(k, block), _blocks(v, block), _mask_blocks(kv_mask, block)
        dq, (dk, dv) = jax.lax.scan(step, jnp.zeros(q.shape, F32), (jnp.arange(kb.shape[0]), kb, vb, mb))
        dk, dv = _unblocks(dk, length), _unblocks(dv, length)
    back = lambda x, name: rearrange(x, "b n l d -> b l n d").astype(dtype[name])  # noqa: E731
    return back(dq, "q"), back(dk, "k"), back(dv, "v")


# kv_mask is an array argument (it may be traced) but not differentiable: its cotangent is None.
@functools.partial(jax.custom_vjp, nondiff_argnums=(4, 5))
def _flash(q, k, v, kv_mask, kv_valid, block):
    return flash_forward(q, k, v, kv_valid, block, kv_mask=kv_mask)[0].astype(v.dtype)


def _flash_fwd(q, k, v, kv_mask, kv_valid, block):
    out, lse = flash_forward(q, k, v, kv_valid, block, kv_mask=kv_mask)
    out = out.astype(v.dtype)
    return out, (q, k, v, kv_mask, out, lse)


def _flash_bwd(kv_valid, block, residuals, dout):
    q, k, v, kv_mask, out, lse = residuals
    return (*flash_grads(q, k, v, out, lse, dout, kv_valid, block, kv_mask=kv_mask), None)


_flash.defvjp(_flash_fwd, _flash_bwd)


def flash_attention(q: jax.Array, k: jax.Array, v: jax.Array, kv_valid: int | None = None, kv_mask=None, *,
                    block: int = DEFAULT_BLOCK) -> jax.Array:
    """softmax(q k^T / sqrt(d)) v with the written backward above; `block` keys at a time."""
    if kv_valid is not None and not isinstance(kv_valid, int):
        raise TypeError(f"flash_attention: kv_valid must be a Python int (a static length), got {type(kv_valid)}")
    check_kv_mask(kv_mask, q, k)
    return _flash(q, k, v, kv_mask, kv_valid, int(block))
