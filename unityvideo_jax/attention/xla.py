"""Attention with plain XLA ops: the whole softmax at once, or queries a chunk at a time.

q (B, Lq, N, D), k and v (B, Lk, N, D) -> (B, Lq, N, D). Keys at positions >= `kv_valid` get no
weight (the padding a sharded sequence may need). Logits and softmax are computed in fp32 whatever
the input dtype.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from einops import rearrange

MASKED = -0.5 * float(jnp.finfo(jnp.float32).max)  # finite: a fully padded block stays NaN-free


def _attend(q, k, v, kv_valid):
    """(out (B, Lq, N, D) fp32, logsumexp (B, N, Lq) fp32) of softmax(q k^T / sqrt(d)) v.

    Heads go in front before the matmuls, and the softmax's division is applied after the
    (probabilities x values) matmul, on (Lq, D) instead of (Lq, Lk): on CPU this measured 2-4x
    faster than a head-last einsum with a normalised softmax (benchmarks/dit_step.py).
    """
    scale = q.shape[-1] ** -0.5
    q, k, v = (rearrange(x, "b l n d -> b n l d") for x in (q, k, v))
    logits = jnp.einsum("bnqd,bnkd->bnqk", q, k, preferred_element_type=jnp.float32) * scale
    if kv_valid is not None:
        logits = jnp.where(jnp.arange(k.shape[2]) < kv_valid, logits, MASKED)
    top = jax.lax.stop_gradient(jnp.max(logits, axis=-1, keepdims=True))
    weights = jnp.exp(logits - top)
    total = jnp.sum(weights, axis=-1, keepdims=True)
    out = jnp.einsum("bnqk,bnkd->bnqd", weights.astype(v.dtype), v, preferred_element_type=jnp.float32)
    return rearrange(out / total, "b n l d -> b l n d"), (top + jnp.log(total))[..., 0]


def xla_attention_lse(q, k, v, kv_valid=None):
    """(out fp32, logsumexp (B, N, Lq) fp32): what the ring's online-softmax merge needs."""
    return _attend(q, k, v, kv_valid)


def xla_attention(q: jax.Array, k: jax.Array, v: jax.Array, kv_valid=None) -> jax.Array:
    """softmax(q k^T / sqrt(d)) v, left to XLA to fuse."""
    return _attend(q, k, v, kv_valid)[0].astype(v.dtype)


def chunked_attention(q: jax.Array, k: jax.Array, v: jax.Array, kv_valid=None, *, chunk: int) -> jax.Array:
    """Queries `chunk` at a time (lax.map), so the logits never exceed (B, N, chunk, Lk)."""
    length = q.shape[1]
    if chunk <= 0 or chunk >= length:
        return xla_attention(q, k, v, kv_valid)
    pad = (-length) % chunk
    qp = jnp.pad(q, ((0, 0), (0, pad), (0, 0), (0, 0)))
    blocks = rearrange(qp, "b (chunks l) n d -> chunks b l n d", l=chunk)  # lax.map runs over chunks
    out = jax.lax.map(lambda qb: xla_attention(qb, k, v, kv_valid), blocks)
    return rearrange(out, "chunks b l n d -> b (chunks l) n d")[:, :length]
