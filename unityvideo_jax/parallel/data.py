"""Placing per-host batches onto the mesh as global arrays, the batch sharded as the preset says."""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding

from unityvideo_jax.model.layers import logical_to_mesh


def batch_sharding(mesh: Mesh, rules, ndim: int) -> NamedSharding:
    """The leading (batch) axis over the preset's batch axes; everything else replicated."""
    return NamedSharding(mesh, logical_to_mesh(("activation_batch",) + (None,) * (ndim - 1), rules))


def to_global(batch: dict[str, np.ndarray], mesh: Mesh, rules) -> dict[str, jax.Array]:
    """Each host passes its own slice of the global batch; the result is one global array per key."""
    return {
        key: jax.make_array_from_process_local_data(batch_sharding(mesh, rules, np.ndim(value)), np.asarray(value))
        for key, value in batch.items()
    }
