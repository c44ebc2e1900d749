"""Per-device parameter and optimiser bytes (memory_analysis of the compiled state) fall as 1/fsdp."""

from __future__ import annotations

import jax
import pytest
from flax.core import spmd as flax_spmd

from unityvideo_jax import get_config
from unityvideo_jax.parallel.mesh import make_mesh
from unityvideo_jax.parallel.rules import get_rules
from unityvideo_jax.train.loop import sharded_state
from unityvideo_jax.train.optimizer import make_optimizer

pytestmark = pytest.mark.devices(8)  # a CPU subprocess gives them where this process has fewer (conftest.py)


def _state_bytes_per_device(fsdp: int) -> int:
    """Argument bytes of a step that takes the whole train state (params, AdamW moments, EMA)."""
    config = get_config("tiny_paper")
    config.model.update(dim=256, ffn_dim=512, num_heads=4)  # wide enough that the matrices dominate
    config.parallel.update(preset="fsdp", data=1, fsdp=fsdp, context=1, tensor=1, devices=fsdp)
    mesh, rules = make_mesh(config.parallel), get_rules("fsdp")
    with jax.set_mesh(mesh), flax_spmd.logical_axis_rules(rules):
        state, _, _, _ = sharded_state(config, mesh, rules, make_optimizer(config.train))
        compiled = jax.jit(lambda s: s.step, keep_unused=True).lower(state).compile()
    return compiled.memory_analysis().argument_size_in_bytes


def test_state_bytes_per_device_fall_as_one_over_fsdp():
    one = _state_bytes_per_device(1)
    assert one > 30e6  # ~3.7M parameters x (weights, two moments, EMA) in fp32
    for fsdp in (2, 4, 8):
        ratio = _state_bytes_per_device(fsdp) * fsdp / one
        assert 0.9 <= ratio <= 1.1, f"fsdp={fsdp}: {ratio:.3f} x the ideal 1/{fsdp} of {one} bytes"
