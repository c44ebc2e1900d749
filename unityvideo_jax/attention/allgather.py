"""All-gather attention (preset fsdp_context): queries stay local, K/V are gathered whole.

Runs per device inside `jax.shard_map` (attention/context.py). The simplest context
parallelism: each device attends its (B, L / n, N, D) queries to the all-gathered (B, L, N, D)
keys and values. Memory per device grows with the whole sequence's K/V (not its logits: the
kernel still sees only local queries); the backward's reduce-scatter returns the K/V gradients.
"""

from __future__ import annotations

import jax


def allgather_attention(q, k, v, kv_mask=None, *, axis, kv_valid, kernel):
    """`kernel` for the local queries against the whole sequence; keys at >= kv_valid are padding.

    A key mask (B, L / n) is gathered with the keys it belongs to."""
    k, v = (jax.lax.all_gather(x, axis, axis=1, tiled=True) for x in (k, v))
    if kv_mask is None:
        return kernel(q, k, v, kv_valid)
    return kernel(q, k, v, kv_valid, kv_mask=jax.lax.all_gather(kv_mask, axis, axis=1, tiled=True))
