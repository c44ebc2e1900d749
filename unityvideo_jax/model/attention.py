"""Attention math; the kernel is chosen by name (`config.model.attention`).

Every kernel takes q (B, Lq, N, D), k and v (B, Lk, N, D) and returns (B, Lq, N, D). Logits and
softmax are computed in fp32 whatever the input dtype.
"""

from __future__ import annotations

import functools
from typing import Callable

import jax
import jax.numpy as jnp


def xla_attention(q: jax.Array, k: jax.Array, v: jax.Array) -> jax.Array:
    """softmax(q k^T / sqrt(d)) v, left to XLA to fuse.

    Heads go in front before the matmuls, and the softmax's division is applied after the
    (probabilities x values) matmul, on (Lq, D) instead of (Lq, Lk): on CPU this measured 2-4x
    faster than a head-last einsum with a normalised softmax (benchmarks/dit_step.py).
    """
    scale = q.shape[-1] ** -0.5
    q, k, v = (x.transpose(0, 2, 1, 3) for x in (q, k, v))  # (B, N, L, D)
    logits = jnp.einsum("bnqd,bnkd->bnqk", q, k, preferred_element_type=jnp.float32) * scale
    weights = jnp.exp(logits - jax.lax.stop_gradient(jnp.max(logits, axis=-1, keepdims=True)))
    total = jnp.sum(weights, axis=-1, keepdims=True)
    out = jnp.einsum("bnqk,bnkd->bnqd", weights.astype(v.dtype), v, preferred_element_type=jnp.float32)
    return (out / total).astype(v.dtype).transpose(0, 2, 1, 3)


def chunked_attention(q: jax.Array, k: jax.Array, v: jax.Array, *, chunk: int) -> jax.Array:
    """Queries `chunk` at a time (lax.map), so the logits never exceed (B, N, chunk, Lk)."""
    length = q.shape[1]
    if chunk <= 0 or chunk >= length:
        return xla_attention(q, k, v)
    pad = (-length) % chunk
    qp = jnp.pad(q, ((0, 0), (0, pad), (0, 0), (0, 0)))
    blocks = qp.reshape(q.shape[0], -1, chunk, *q.shape[2:]).swapaxes(0, 1)
    out = jax.lax.map(lambda qb: xla_attention(qb, k, v), blocks)
    out = out.swapaxes(0, 1).reshape(q.shape[0], -1, *q.shape[2:])
    return out[:, :length]


KERNELS: dict[str, Callable[..., jax.Array]] = {
    "xla": xla_attention,
    "chunked": chunked_attention,
}


def get_kernel(name: str, chunk: int = 0) -> Callable[[jax.Array, jax.Array, jax.Array], jax.Array]:
    """The attention kernel registered under `name`."""
    if name not in KERNELS:
        raise ValueError(f"config.model.attention={name!r}: expected one of {sorted(KERNELS)}")
    kernel = KERNELS[name]
    return functools.partial(kernel, chunk=chunk) if name == "chunked" else kernel
