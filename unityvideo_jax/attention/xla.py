"""Attention with plain XLA ops: the whole softmax at once, or queries a chunk at a time.

q (B, Lq, N, D), k and v (B, Lk, N, D) -> (B, Lq, N, D). Keys at positions >= `kv_valid` get no
weight (the padding a sharded sequence may need), nor do keys where `kv_mask` (B, Lk) bool is False
(a sample's absent modality streams); a key counts only where both allow it. Logits and softmax are
computed in fp32 whatever the input dtype.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from einops import rearrange

MASKED = -0.5 * float(jnp.finfo(jnp.float32).max)  # finite: a fully padded block stays NaN-free


def check_kv_mask(kv_mask, q, k) -> None:
    """A user's mask must name each sample's keys: (B, Lk) bool, nothing to broadcast or reinterpret."""
    if kv_mask is None:
        return
    want = (k.shape[0], k.shape[1])
    if tuple(kv_mask.shape) != want or kv_mask.dtype != jnp.bool_:
        raise ValueError(
            f"kv_mask: got {kv_mask.dtype} of shape {tuple(kv_mask.shape)}, expected bool of shape (B, Lk) = "
            f"{want} for q {tuple(q.shape)} and k {tuple(k.shape)} (True: the key takes part)"
        )


def key_mask(lk: int, kv_valid, kv_mask, start=0):
    """(B or 1, 1, 1, lk) bool: which of `lk` keys starting at `start` count, None if all do."""
    keep = None
    if kv_valid is not None:
        keep = (start + jnp.arange(lk) < kv_valid)[None, None, None, :]
    if kv_mask is not None:
        present = kv_mask[:, None, None, :]
        keep = present if keep is None else keep & present
    return keep


def _attend(q, k, v, kv_valid, kv_mask=None):
    """(out (B, Lq, N, D) fp32, logsumexp (B, N, Lq) fp32) of softmax(q k^T / sqrt(d)) v.

    Heads go in front before the matmuls, and the softmax's division is applied after the
    (probabilities x values) matmul, on (Lq, D) instead of (Lq, Lk): on CPU this measured 2-4x
    faster than a head-last einsum with a normalised softmax (benchmarks/dit_step.py).
    """
    scale = q.shape[-1] ** -0.5
    q, k, v = (rearrange(x, "b l n d -> b n l d") for x in (q, k, v))
    logits = jnp.einsum("bnqd,bnkd->bnqk", q, k, preferred_element_type=jnp.float32) * scale
    if kv_mask is not None:
        logits = jnp.where(key_mask(k.shape[2], kv_valid, kv_mask), logits, MASKED)
    elif kv_valid is not None:  # no mask: the same ops as always, so unmasked results stay bitwise the same
        logits = jnp.where(jnp.arange(k.shape[2]) < kv_valid, logits, MASKED)
    top = jax.lax.stop_gradient(jnp.max(logits, axis=-1, keepdims=True))
    weights = jnp.exp(logits - top)
    total = jnp.sum(weights, axis=-1, keepdims=True)
    out = jnp.einsum("bnqk,bnkd->bnqd", weights.astype(v.dtype), v, preferred_element_type=jnp.float32)
    return rearrange(out / total, "b n l d -> b l n d"), (top + jnp.log(total))[..., 0]


def xla_attention_lse(q, k, v, kv_valid=None, kv_mask=None):
    """(out fp32, logsumexp (B, N, Lq) fp32): what the ring's online-softmax merge needs."""
    check_kv_mask(kv_mask, q, k)
    return _attend(q, k, v, kv_valid, kv_mask)


def xla_attention(q: jax.Array, k: jax.Array, v: jax.Array, kv_valid=None, kv_mask=None) -> jax.Array:
    """softmax(q k^T / sqrt(d)) v, left to XLA to fuse."""
    check_kv_mask(kv_mask, q, k)
    return _attend(q, k, v, kv_valid, kv_mask)[0].astype(v.dtype)


def chunked_attention(q: jax.Array, k: jax.Array, v: jax.Array, kv_valid=None, kv_mask=None, *,
                      chunk: int) -> jax.Array:
    """Queries `chunk` at a time (lax.map), so the logits never exceed (B, N, chunk, Lk)."""
    check_kv_mask(kv_mask, q, k)
    length = q.shape[1]
    if chunk <= 0 or chunk >= length:
        return xla_attention(q, k, v, kv_valid, kv_mask)
    pad = (-length) % chunk
    qp = jnp.pad(q, ((0, 0), (0, pad), (0, 0), (0, 0)))
    blocks = rearrange(qp, "b (chunks l) n d -> chunks b l n d", l=chunk)  # lax.map runs over chunks
    out = jax.lax.map(lambda qb: xla_attention(qb, k, v, kv_valid, kv_mask), blocks)
    return rearrange(out, "chunks b l n d -> b (chunks l) n d")[:, :length]
