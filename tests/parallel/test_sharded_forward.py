"""On 8 host devices with a (fsdp 4, tensor 2) mesh the sharded model equals the single-device one."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from flax import nnx
from flax.core import spmd as flax_spmd
from jax.sharding import PartitionSpec as P

from tests.conftest import tiny_model_config, two_stream_inputs
from unityvideo_jax import UnityDiT
from unityvideo_jax.parallel.mesh import make_mesh
from unityvideo_jax.parallel.rules import get_rules
from unityvideo_jax.parallel.sharding import create_sharded

pytestmark = pytest.mark.devices(8)  # a CPU subprocess gives them where this process has fewer (conftest.py)


def _mesh(fsdp=4, tensor=2):
    import ml_collections

    parallel = ml_collections.ConfigDict(dict(data=1, fsdp=fsdp, context=1, tensor=tensor))
    return make_mesh(parallel, jax.devices()[:8])


def test_fsdp_tensor_forward_equals_single_device(rng):
    config = tiny_model_config(dim=64, num_heads=4, ffn_dim=128)
    inputs = two_stream_inputs(rng, config, batch=4)
    single = UnityDiT(config, rngs=nnx.Rngs(0))
    want = single(**inputs)

    mesh, rules = _mesh(), get_rules("fsdp_tensor")
    model = create_sharded(lambda: UnityDiT(config, rngs=nnx.Rngs(0)), mesh, rules)

    @nnx.jit
    def forward(model, inputs):
        return model(**inputs)

    with jax.set_mesh(mesh), flax_spmd.logical_axis_rules(rules):
        got = forward(model, inputs)
    for g, w in zip(got, want):
        scale = float(np.abs(np.asarray(w)).max())
        assert float(np.abs(np.asarray(g) - np.asarray(w)).max()) <= 1e-5 * max(scale, 1.0)

    # parameters live where their logical names say
    q = model.blocks.attn1.to_q.kernel[...]  # ('layers', 'embed', 'heads')
    assert q.sharding.spec == P(None, "fsdp", "tensor")
    assert q.addressable_shards[0].data.shape == (config.num_layers, 64 // 4, 64 // 2)
    ffn_out = model.blocks.ffn.net_2.kernel[...]  # ('layers', 'mlp', 'embed')
    assert ffn_out.sharding.spec == P(None, "tensor", "fsdp")
    table = model.modality_switcher[...]  # ('modality', 'embed')
    assert table.sharding.spec == P(None, "fsdp")


def test_heads_that_do_not_divide_the_tensor_axis_are_refused():
    from unityvideo_jax import get_config
    from unityvideo_jax.parallel.validate import validate

    config = get_config("tiny_paper")
    config.parallel.preset = "fsdp_tensor"
    config.model.update(dim=48, num_heads=3, ffn_dim=96)
    with pytest.raises(ValueError, match=r"num_heads=3 cannot be split 2 ways.*'tensor'"):
        validate(config, _mesh())
    config.model.update(dim=64, num_heads=4, ffn_dim=128)
    validate(config, _mesh())  # a divisible layout passes


def test_a_parameter_that_does_not_divide_its_mesh_axes_is_refused():
    config = tiny_model_config(dim=18, num_heads=3, ffn_dim=32)  # width 18 over fsdp=4
    with pytest.raises(ValueError, match=r"dimension of 18 \('embed'\) that cannot be split 4 ways"):
        create_sharded(lambda: UnityDiT(config, rngs=nnx.Rngs(0)), _mesh(), get_rules("fsdp_tensor"))
