"""Layouts the mesh cannot hold are refused before anything compiles, naming the value to change."""

from __future__ import annotations

import jax
import ml_collections
import pytest

from unityvideo_jax import get_config
from unityvideo_jax.parallel import distributed
from unityvideo_jax.parallel.mesh import make_mesh
from unityvideo_jax.parallel.validate import validate

pytestmark = pytest.mark.devices(8)  # a CPU subprocess gives them where this process has fewer (conftest.py)


def _config(name="tiny_paper", preset="ring", **parallel):
    config = get_config(name)
    config.parallel.update(preset=preset, data=1, fsdp=1, context=8, tensor=1)
    config.parallel.update(**parallel)
    return config


def _mesh(config):
    return make_mesh(config.parallel, jax.devices()[:8])


def test_ulysses_refuses_12_heads_on_8_context_devices_and_ring_takes_them():
    config = _config("wan21_1p3b_paper", preset="ulysses")
    with pytest.raises(ValueError, match=r"num_heads=12 cannot be split 8 ways over mesh axes \('tensor', 'context'\)"):
        validate(config, _mesh(config))
    config.parallel.preset = "ring"  # the ring never splits heads
    validate(config, _mesh(config))


def test_more_context_devices_than_tokens_per_frame_are_refused():
    config = _config()
    config.data.update(height=8, width=8)  # 8x8 pixels -> 4x4 latents -> 2x2 tokens per frame
    with pytest.raises(ValueError, match=r"split each latent frame's 4 tokens \(2x2\) 8 ways.*context to at most 4"):
        validate(config, _mesh(config))
    config.data.update(height=32, width=32)  # 64 tokens per frame; the joint sequence needs no padding either
    validate(config, _mesh(config))


def test_a_batch_the_batch_axes_do_not_divide_is_refused():
    config = _config(preset="fsdp", fsdp=8, context=1)
    config.data.global_batch = 12
    with pytest.raises(ValueError, match=r"global_batch=12 cannot be split 8 ways over mesh axes \('data', 'fsdp'\)"
                                         r".*a global batch of 8 or 16 would split; \[1, 2, 3, 4, 6, 12\] are the "
                                         r"data-parallel sizes 12 splits into"):
        validate(config, _mesh(config))


def test_dcn_sizes_must_match_the_slices_there_are():
    parallel = ml_collections.ConfigDict(dict(data=1, fsdp=-1, context=2, tensor=1, dcn_data=2))
    with pytest.raises(ValueError, match=r"asks for 2 slices but the devices come from 1"):
        make_mesh(parallel, jax.devices()[:8])  # one process of CPU devices is one slice


def test_one_host_needs_no_distributed_setup_and_a_half_set_environment_is_refused(monkeypatch):
    for name in (distributed.COORDINATOR, distributed.COUNT, distributed.INDEX):
        monkeypatch.delenv(name, raising=False)
    assert distributed.initialize() is False
    monkeypatch.setenv(distributed.COORDINATOR, "127.0.0.1:1234")
    with pytest.raises(ValueError, match=r"JAX_NUM_PROCESSES, JAX_PROCESS_ID is not"):
        distributed.initialize()
