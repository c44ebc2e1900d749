"""Shared fixtures: the one tiny model config every test starts from, and seeded inputs."""

from __future__ import annotations

import os
import sys
import tempfile

# Eight host devices for the sharding tests; must be set before jax is first imported.
os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")

import jax  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

# Tests compare against float32 references: keep XLA's CPU matmuls in full precision.
jax.config.update("jax_default_matmul_precision", "highest")
# Many tests compile the same tiny train step; a persistent cache makes the repeats cheap.
jax.config.update("jax_compilation_cache_dir", os.path.join(tempfile.gettempdir(), "unityvideo_jax_test_cache"))
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


def tiny_model_config(**overrides):
    """`configs/tiny_paper.py`'s model section with `overrides` applied (a fresh ConfigDict each call)."""
    from unityvideo_jax import get_config

    model = get_config("tiny_paper").model
    for key, value in overrides.items():
        setattr(model, key, value)
    return model


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def two_stream_inputs(rng, config, batch=2, frames=3, height=4, width=6, text_len=5):
    """Random (rgb, aux, t_rgb, t_aux, text, aux_text, modality) for `config`."""
    import jax.numpy as jnp

    shape = (batch, frames, height, width, config.in_channels)
    return dict(
        rgb=jnp.asarray(rng.standard_normal(shape), jnp.float32),
        aux=jnp.asarray(rng.standard_normal(shape), jnp.float32),
        t_rgb=jnp.asarray(rng.uniform(0.05, 0.95, batch), jnp.float32),
        t_aux=jnp.asarray(rng.uniform(0.05, 0.95, batch), jnp.float32),
        text=jnp.asarray(rng.standard_normal((batch, text_len, config.text_dim)), jnp.float32),
        aux_text=jnp.asarray(rng.standard_normal((batch, text_len, config.text_dim)), jnp.float32),
        modality=jnp.asarray(rng.integers(0, config.num_modalities, batch), jnp.int32),
    )


def randomize(model, seed=0, scale=0.2):
    """Give every parameter random values, so zero-initialised parts (flow_in, tables) matter."""
    from flax import nnx

    state = nnx.state(model, nnx.Param)
    leaves, treedef = jax.tree.flatten(nnx.to_pure_dict(state))
    keys = jax.random.split(jax.random.key(seed), len(leaves))
    new = [jax.random.normal(k, x.shape, x.dtype) * scale for k, x in zip(keys, leaves)]
    nnx.replace_by_pure_dict(state, jax.tree.unflatten(treedef, new))
    nnx.update(model, state)
    return model
