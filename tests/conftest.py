"""Shared fixtures: the one tiny model config every test starts from, and seeded inputs."""

from __future__ import annotations

import os
import sys

import jax
import numpy as np
import pytest

# Tests compare against float32 references: keep XLA's CPU matmuls in full precision.
jax.config.update("jax_default_matmul_precision", "highest")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


def tiny_model_config(**overrides):
    """`configs/tiny.py`'s model section with `overrides` applied (a fresh ConfigDict each call)."""
    from unityvideo_jax import get_config

    model = get_config("tiny").model
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
