"""Rematerialisation policies by name (`config.model.remat_policy`), applied per scanned block."""

from __future__ import annotations

import jax

cp = jax.checkpoint_policies

# None means: no remat at all (everything the backward pass needs is kept).
POLICIES = {
    "none": None,
    "full": cp.nothing_saveable,  # keep only each block's input; recompute the rest
    "dots": cp.dots_with_no_batch_dims_saveable,  # keep matmul outputs, recompute elementwise work
    "dots_offload": cp.offload_dot_with_no_batch_dims("device", "pinned_host"),
}


def get_policy(name: str):
    if name not in POLICIES:
        raise ValueError(f"config.model.remat_policy={name!r}: expected one of {sorted(POLICIES)}")
    return POLICIES[name]
