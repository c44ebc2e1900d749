"""Refuse layouts the mesh cannot hold, saying which config value to change."""

from __future__ import annotations

import math


from flax import nnx
from jax.sharding import Mesh

from unityvideo_jax.parallel.rules import get_rules, mesh_axes_of


def validate(config, mesh: Mesh) -> None:
    """Check `config.model` against `mesh` under `config.parallel.preset`; ValueError on the first problem."""
    rules = get_rules(config.parallel.preset)
    model = config.model
    checks = (
        ("heads", model.num_heads, "num_heads"),
        ("mlp", model.ffn_dim, "ffn_dim"),
        ("embed", model.dim, "dim"),
    )
    for logical, size, key in checks:
        axes = mesh_axes_of(rules, logical)
        ways = math.prod(mesh.shape[a] for a in axes)
        if size % ways:
            raise ValueError(
                f"config.model.{key}={size} cannot be split {ways} ways over mesh axes {axes} "
                f"(preset {config.parallel.preset!r}): choose mesh sizes whose product divides {size}, "
                "or another preset"
            )


def check_divisible(state, mesh: Mesh, rules) -> None:
    """Every sharded parameter dimension must divide by its mesh axes' total size."""
    flat = nnx.to_flat_state(state)
    for path, var in flat:
        names = var.get_metadata().get("out_sharding") or ()
        for dim, logical in zip(var.shape, names):
            axes = mesh_axes_of(rules, logical)
            ways = math.prod(mesh.shape[a] for a in axes)
            if dim % ways:
                where = ".".join(str(p) for p in path)
                raise ValueError(
                    f"parameter {where} has a dimension of {dim} ({logical!r}) that cannot be split {ways} "
                    f"ways over mesh axes {axes}: change the model width or the mesh sizes"
                )

