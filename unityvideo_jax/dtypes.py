"""Compute and storage dtypes by the names configs use ("float32", "bfloat16", "float16")."""

from __future__ import annotations

import jax.numpy as jnp

DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16, "float16": jnp.float16}
