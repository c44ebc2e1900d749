"""Logical axis names, the one vocabulary modules and presets share.

Modules name the axes of their parameters (`partitioned`) and activations (`constrain`); the preset
in force (rules.py, flax's logical axis rules) maps the names to mesh axes (`logical_to_mesh`).
"""

from __future__ import annotations

import jax
from flax import nnx
from flax.core import spmd as flax_spmd


def partitioned(init, names):
    """An initializer whose variable carries logical axis `names`. Not sharded eagerly: the names are
    metadata only, so a module also builds without a mesh."""
    return nnx.with_partitioning(init, names, eager_sharding=False)


def constrain(x: jax.Array, names: tuple) -> jax.Array:
    """Constrain an activation to the logical axes `names` under the active mesh and rules.

    The model only names axes; the preset in force maps them to mesh axes. Without a mesh or rules
    this is the identity, so the model runs anywhere.
    """
    rules = flax_spmd.get_logical_axis_rules()
    mesh = jax.sharding.get_abstract_mesh()
    if not rules or mesh.empty:
        return x
    return jax.lax.with_sharding_constraint(x, logical_to_mesh(names, rules))


def logical_to_mesh(names: tuple, rules) -> jax.sharding.PartitionSpec:
    """Logical axis names -> a PartitionSpec under `rules`; a name the rules omit is replicated."""
    table = dict(rules)
    return jax.sharding.PartitionSpec(*(table.get(n) if n is not None else None for n in names))
