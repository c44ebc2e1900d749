"""Ring attention: each device keeps its queries and passes its K/V block round the ring.

Runs per device inside `jax.shard_map` (attention/context.py); q, k, v are the local
(B, Lc, N, D) blocks of a sequence sharded over `axis`. Step s attends the local queries to the
block that started s devices back, and folds its (out, logsumexp) into the running softmax:
    lse = logaddexp(lse, lse_s);  out = out exp(lse_old - lse) + out_s exp(lse_s - lse)
so no device ever holds the whole sequence or its logits.

The backward is written out (custom_vjp), as flash attention's is: it keeps only q, k, v, the
merged out and logsumexp, and sends K/V round the ring once more with their gradients riding
along; each block's gradients come from the whole softmax (global out and logsumexp). That is
what lets the splash kernel, whose logsumexp output is not differentiable, serve as the block.
The block math is by name (`BLOCKS`): plain XLA einsums, or splash on TPU.

A key mask (B, Lc) per block (`kv_mask`: False for a sample's absent keys) travels round the ring
with its K/V block, forward and backward, and each block masks its logits with it.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Callable

import jax
import jax.numpy as jnp

from unityvideo_jax.attention.xla import MASKED, key_mask, xla_attention_lse


@dataclasses.dataclass(frozen=True)
class RingBlock:
    """One K/V block's forward (-> out, logsumexp) and gradients against the global softmax."""

    forward: Callable  # (q, k, v, kv_valid[, kv_mask=]) -> (out, lse (B, N, Lq))
    grads: Callable  # (q, k, v, out, lse, dout, kv_valid[, kv_mask=]) -> (dq, dk, dv)


def _xla_grads(q, k, v, out, lse, dout, kv_valid, kv_mask=None):
    """Flash attention's backward for one block: P = exp(s - lse), dS = P (dP - rowsum(dO O))."""
    scale = q.shape[-1] ** -0.5
    f32 = jnp.float32
    logits = jnp.einsum("bqnd,bknd->bnqk", q, k, preferred_element_type=f32) * scale
    if kv_mask is None:
        logits = jnp.where(jnp.arange(k.shape[1]) < kv_valid, logits, MASKED)
    else:
        logits = jnp.where(key_mask(k.shape[1], kv_valid, kv_mask), logits, MASKED)
    probs = jnp.exp(logits - lse[..., None])
    dout = dout.astype(f32)
    dv = jnp.einsum("bnqk,bqnd->bknd", probs, dout)
    dprobs = jnp.einsum("bqnd,bknd->bnqk", dout, v.astype(f32))
    delta = jnp.einsum("bqnd,bqnd->bnq", dout, out.astype(f32))
    dlogits = probs * (dprobs - delta[..., None]) * scale
    dq = jnp.einsum("bnqk,bknd->bqnd", dlogits, k.astype(f32))
    dk = jnp.einsum("bnqk,bqnd->bknd", dlogits, q.astype(f32))
    return dq, dk, dv


def _splash_forward(q, k, v, kv_valid, kv_mask=None, *, interpret=None):
    from unityvideo_jax.attention.splash import splash_forward

    return splash_forward(q, k, v, kv_valid, kv_mask, interpret=interpret)


def _splash_grads(q, k, v, out, lse, dout, kv_valid, kv_mask=None, *, interpret=None):
    from unityvideo_jax.attention.splash import splash_grads

    return splash_grads(q, k, v, out, lse, dout, kv_valid, kv_mask, interpret=interpret)


BLOCKS = {
    "xla": RingBlock(xla_attention_lse, _xla_grads),
    "splash": RingBlock(_splash_forward, _splash_grads),
}


def splash_block(interpret: bool) -> RingBlock:
    """The splash block with Pallas' interpreter on or off (tests run it on CPU)."""
    return RingBlock(functools.partial(_splash_forward, interpret=interpret),
                     functools.partial(_splash_grads, interpret=interpret))


def _shift(x, axis):
    """Send to the next device on the ring (device i receives from i - 1)."""
    size = jax.lax.axis_size(axis)
    return jax.lax.ppermute(x, axis, [(i, (i + 1) % size) for i in range(size)])


def _valid(true_length, owner, block):
    """How many keys of `owner`'s block are real (the padding sits at the end of the sequence)."""
    if true_length is None:
        return block
    return jnp.clip(true_length - owner * block, 0, block)


def _masked(kv_mask) -> dict:
    """The block functions' mask argument: none at all without a mask (the unmasked path unchanged)."""
    return {} if kv_mask is None else {"kv_mask": kv_mask}


def _merge(out, lse, out_s, lse_s):
    new = jnp.logaddexp(lse, lse_s)
    weight = lambda x: jnp.exp(x - new).transpose(0, 2, 1)[..., None]  # noqa: E731  (B, N, L) -> (B, L, N, 1)
    return out * weight(lse) + out_s.astype(jnp.float32) * weight(lse_s), new


def _forward(q, k, v, kv_mask, axis, true_length, block: RingBlock):
    size, index = jax.lax.axis_size(axis), jax.lax.axis_index(axis)
    lc = k.shape[1]
    out, lse = block.forward(q, k, v, _valid(true_length, index, lc), **_masked(kv_mask))
    out = out.astype(jnp.float32)
    for step in range(1, size):
        k, v, kv_mask = _shift((k, v, kv_mask), axis)  # the block that started `step` devices back
        out_s, lse_s = block.forward(q, k, v, _valid(true_length, (index - step) % size, lc), **_masked(kv_mask))
        out, lse = _merge(out, lse, out_s, lse_s)
    return out.astype(q.dtype), lse


def ring_attention(q, k, v, axis, true_length, block, kv_mask=None):
    """softmax(q k^T / sqrt(d)) v over the whole ring-sharded sequence, for the local queries.

    `true_length`: keys at global positions >= it are padding (None: no padding). `kv_mask`: the
    local block's (B, Lc) key mask, False for absent keys (None: every key counts).
    """
    return _ring(q, k, v, kv_mask, axis, true_length, block)


# kv_mask is an array argument (it travels the ring) but not differentiable: its cotangent is None.
@functools.partial(jax.custom_vjp, nondiff_argnums=(4, 5, 6))
def _ring(q, k, v, kv_mask, axis, true_length, block):
    return _forward(q, k, v, kv_mask, axis, true_length, block)[0]


def _ring_fwd(q, k, v, kv_mask, axis, true_length, block):
    out, lse = _forward(q, k, v, kv_mask, axis, true_length, block)
    return out, (q, k, v, kv_mask, out, lse)


def _ring_bwd(axis, true_length, block, residuals, dout):
    q, k, v, kv_mask, out, lse = residuals
    size, index = jax.lax.axis_size(axis), jax.lax.axis_index(axis)
    lc = k.shape[1]
    f32 = jnp.float32
    dq = jnp.zeros(q.shape, f32)
    dk, dv = jnp.zeros(k.shape, f32), jnp.zeros(v.shape, f32)
    for step in range(size):
        if step:
            k, v, kv_mask, dk, dv = _shift((k, v, kv_mask, dk, dv), axis)
        valid = _valid(true_length, (index - step) % size, lc)
        dq_s, dk_s, dv_s = block.grads(q, k, v, out, lse, dout, valid, **_masked(kv_mask))
        dq, dk, dv = dq + dq_s.astype(f32), dk + dk_s.astype(f32), dv + dv_s.astype(f32)
    dk, dv = _shift((dk, dv), axis)  # one more hop brings each block's gradients home
    return dq.astype(q.dtype), dk.astype(k.dtype), dv.astype(v.dtype), None


_ring.defvjp(_ring_fwd, _ring_bwd)
