"""Ulysses attention: trade the sequence shards for head shards, attend, trade back.

Runs per device inside `jax.shard_map` (attention/context.py). q, k, v arrive as the
local (B, L / n, N, D) block of a sequence sharded n ways over `axis`; one all-to-all makes
them (B, L, N / n, D), every device attends over the whole sequence with its share of the
heads (any kernel, splash included), and a second all-to-all restores the sequence sharding.
Each device sends 3 + 1 activation-sized messages of (n - 1) / n of its block per layer, and
the heads must divide n (validate.py says so before anything compiles).
"""

from __future__ import annotations

import jax


def _to_heads(x, axis):
    return jax.lax.all_to_all(x, axis, split_axis=2, concat_axis=1, tiled=True)


def _to_sequence(x, axis):
    return jax.lax.all_to_all(x, axis, split_axis=1, concat_axis=2, tiled=True)


def ulysses_attention(q, k, v, kv_mask=None, *, axis, kv_valid, kernel):
    """`kernel` over the whole sequence for 1/n of the heads; keys at >= kv_valid are padding.

    A key mask (B, L / n) has no heads to trade: it is all-gathered to the whole sequence, in the
    order the all-to-all concatenates the keys."""
    ways = jax.lax.axis_size(axis)
    if q.shape[2] % ways:
        raise ValueError(
            f"Ulysses attention splits the {q.shape[2]} heads on each device {ways} ways: choose "
            "config.parallel.context (x tensor) dividing config.model.num_heads, or preset 'ring'"
        )
    q, k, v = (_to_heads(x, axis) for x in (q, k, v))
    if kv_mask is None:
        out = kernel(q, k, v, kv_valid)
    else:
        out = kernel(q, k, v, kv_valid, kv_mask=jax.lax.all_gather(kv_mask, axis, axis=1, tiled=True))
    return _to_sequence(out, axis)
