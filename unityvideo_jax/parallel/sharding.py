"""Sharded model creation: parameters are born on their target shardings, never replicated first."""

from __future__ import annotations

from typing import Callable

import jax
from flax import nnx
from jax.sharding import Mesh, NamedSharding

from unityvideo_jax.model.layers import logical_to_mesh
from unityvideo_jax.parallel.validate import check_divisible


def state_shardings(state, mesh: Mesh, rules):
    """NamedShardings for an (abstract) NNX state from its variables' logical names."""

    def sharding(var):
        names = var.get_metadata().get("out_sharding") or (None,) * len(var.shape)
        return var.replace(NamedSharding(mesh, logical_to_mesh(tuple(names), rules)))

    return jax.tree.map(sharding, state, is_leaf=lambda x: isinstance(x, nnx.Variable))


def create_sharded(make: Callable[[], nnx.Module], mesh: Mesh, rules) -> nnx.Module:
    """Run `make` under jit with every parameter's output sharding set from its logical names."""
    abstract = nnx.eval_shape(make)
    check_divisible(nnx.state(abstract), mesh, rules)
    graphdef, abstract_state = nnx.split(abstract)
    shardings = state_shardings(abstract_state, mesh, rules)

    def init():
        return nnx.split(make())[1]

    with jax.set_mesh(mesh):
        state = jax.jit(init, out_shardings=shardings)()
    return nnx.merge(graphdef, state)
