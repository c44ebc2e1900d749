"""Placing per-host batches onto the mesh as global arrays, the batch sharded as the preset says.

Every host loads only the rows of the global batch its own devices hold. `batch_shard` says
which: the global batch splits into `count` equal row blocks and this host feeds block `index`.
Usually that is (process_index, process_count); when an axis that does not shard the batch
(context, tensor) spans hosts, those hosts hold the same rows and get the same index. (Which
global rows a block lands on follows the mesh's device order; the step does not care.)
"""

from __future__ import annotations

import functools
from collections import defaultdict

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding

from unityvideo_jax.parallel.logical import logical_to_mesh
from unityvideo_jax.parallel.mesh import make_mesh
from unityvideo_jax.parallel.rules import get_rules, mesh_axes_of


def batch_sharding(mesh: Mesh, rules, ndim: int) -> NamedSharding:
    """The leading (batch) axis over the preset's batch axes; everything else replicated."""
    return NamedSharding(mesh, logical_to_mesh(("activation_batch",) + (None,) * (ndim - 1), rules))


def batch_shard(mesh: Mesh, rules, process_index: int | None = None) -> tuple[int, int]:
    """(index, count): the host `process_index` feeds row block `index` of `count` of each batch."""
    return _batch_shard(mesh, tuple(rules), jax.process_index() if process_index is None else process_index)


@functools.lru_cache(maxsize=16)  # to_global asks every step
def _batch_shard(mesh: Mesh, rules, process_index: int) -> tuple[int, int]:
    parts = int(np.prod([mesh.shape[a] for a in mesh_axes_of(rules, "activation_batch")]))
    placement = batch_sharding(mesh, rules, 1).devices_indices_map((parts,))
    held = defaultdict(set)
    for device, (rows,) in placement.items():
        held[device.process_index].add(rows.start or 0)
    # Hosts holding the same parts share a block; jax places a host's rows in the order of its parts.
    blocks = sorted({frozenset(p) for p in held.values()}, key=min)
    if len({len(b) for b in blocks}) != 1 or sum(len(b) for b in blocks) != parts:
        raise ValueError(
            f"the batch axes {mesh_axes_of(rules, 'activation_batch')} give the hosts overlapping or unequal "
            "parts of the batch: choose mesh sizes (config.parallel) that split the batch evenly across hosts"
        )
    return blocks.index(frozenset(held[process_index])), len(blocks)


def host_shard(config) -> dict[str, int]:
    """`make_iterator`'s process_index / process_count for this host under `config.parallel`."""
    index, count = batch_shard(make_mesh(config.parallel), get_rules(config.parallel.preset))
    return dict(process_index=index, process_count=count)


def to_global(batch: dict[str, np.ndarray], mesh: Mesh, rules) -> dict[str, jax.Array]:
    """Each host passes its own row block of the global batch; the result is one global array per key."""
    _, count = batch_shard(mesh, rules)
    out = {}
    for key, value in batch.items():
        value = np.asarray(value)
        shape = (value.shape[0] * count,) + value.shape[1:]
        out[key] = jax.make_array_from_process_local_data(batch_sharding(mesh, rules, value.ndim), value, shape)
    return out
