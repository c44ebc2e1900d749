"""Sharded model creation: parameters are born on their target shardings, never replicated first."""

from __future__ import annotations

from typing import Callable

import jax
from flax import nnx
from jax.sharding import Mesh, NamedSharding

from unityvideo_jax.parallel.logical import logical_to_mesh
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


def shardings_like_params(tree, params, param_shardings, mesh: Mesh):
    """Shardings for a tree holding copies of the parameters (optimiser moments, EMA, grads).

    A leaf whose key path ends with a parameter's path and has that parameter's shape gets its
    sharding; anything else (step counters, scalars) is replicated.
    """
    flat_params = jax.tree_util.tree_flatten_with_path(params)[0]
    flat_shardings = jax.tree.leaves(param_shardings)
    by_path = {_names(path): (tuple(p.shape), s) for (path, p), s in zip(flat_params, flat_shardings)}
    replicated = NamedSharding(mesh, jax.sharding.PartitionSpec())

    def pick(path, leaf):
        names = _names(path)
        for start in range(len(names)):
            shape, sharding = by_path.get(names[start:], (None, None))
            if shape == tuple(leaf.shape):
                return sharding
        return replicated

    return jax.tree_util.tree_map_with_path(pick, tree)


def _names(path) -> tuple:
    return tuple(str(getattr(k, "key", getattr(k, "name", getattr(k, "idx", k)))) for k in path)
