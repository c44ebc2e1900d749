"""Every parallelism preset on 8 host devices: same loss and gradients as one device, and the
parameters and activations sharded as the preset's table says."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from flax import nnx
from flax.core import spmd as flax_spmd
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from tests.conftest import randomize, tiny_model_config, two_stream_inputs
from unityvideo_jax import UnityDiT
from unityvideo_jax.model.dit.block import RESIDUAL_AXES, WanBlock
from unityvideo_jax.model.dit.spec import from_config
from unityvideo_jax.parallel.logical import logical_to_mesh
from unityvideo_jax.parallel.mesh import make_mesh
from unityvideo_jax.parallel.rules import PRESETS, get_rules
from unityvideo_jax.parallel.sharding import create_sharded

pytestmark = pytest.mark.devices(8)  # a CPU subprocess gives them where this process has fewer (conftest.py)

MESHES = {  # (data, fsdp, context, tensor): every axis the preset uses is longer than 1
    "fsdp": (2, 4, 1, 1),
    "fsdp_tensor": (1, 4, 1, 2),
    "fsdp_context": (1, 2, 4, 1),
    "ulysses": (1, 2, 4, 1),
    "ring": (1, 2, 2, 2),
}


def _mesh(preset):
    sizes = dict(zip(("data", "fsdp", "context", "tensor"), MESHES[preset]))
    return make_mesh(ml_collections.ConfigDict(sizes), jax.devices()[:8])


def _config():
    return tiny_model_config(dim=64, num_heads=4, ffn_dim=128)


def _loss_and_grads(model, inputs):
    graphdef, params = nnx.split(model, nnx.Param)

    def loss(params):
        v_rgb, v_aux = nnx.merge(graphdef, params)(**inputs)
        return jnp.mean(jnp.square(v_rgb - 0.5)) + jnp.mean(jnp.square(v_aux + 0.5))

    return jax.jit(jax.value_and_grad(loss))(params)


def _randomized(model):
    """`randomize` (as the single-device model), with every parameter put back on its sharding."""
    shardings = jax.tree.map(lambda x: x.sharding, nnx.state(model, nnx.Param))
    state = nnx.state(randomize(model), nnx.Param)
    nnx.update(model, jax.device_put(state, shardings))
    return model


@pytest.fixture(scope="module")
def single_device():
    config = _config()
    inputs = two_stream_inputs(np.random.default_rng(0), config, batch=4, frames=3, height=4, width=8)
    return config, inputs, _loss_and_grads(randomize(UnityDiT(config, rngs=nnx.Rngs(0))), inputs)


def test_every_preset_is_in_the_test():
    assert set(MESHES) == set(PRESETS)


@pytest.mark.parametrize("preset", sorted(MESHES))
def test_preset_gives_the_single_device_loss_and_gradients(preset, single_device):
    config, inputs, (want_loss, want_grads) = single_device
    mesh, rules = _mesh(preset), get_rules(preset)
    model = _randomized(create_sharded(lambda: UnityDiT(config, rngs=nnx.Rngs(0)), mesh, rules))
    with jax.set_mesh(mesh), flax_spmd.logical_axis_rules(rules):
        loss, grads = _loss_and_grads(model, inputs)
    assert_same_loss_and_grads(loss, grads, want_loss, want_grads)


def assert_same_loss_and_grads(loss, grads, want_loss, want_grads):
    """A sharded run's loss and every gradient equal the single-device ones to fp32 rounding."""
    assert abs(float(loss) - float(want_loss)) <= 1e-5 * abs(float(want_loss))
    got, want = nnx.to_flat_state(grads), dict(nnx.to_flat_state(want_grads))
    for path, g in got:
        w = np.asarray(want[path][...])
        assert np.abs(np.asarray(g[...]) - w).max() <= 1e-5 * max(np.abs(w).max(), 1e-3), path


@pytest.mark.parametrize("preset", sorted(MESHES))
def test_parameters_are_sharded_as_the_table_says(preset):
    mesh, rules = _mesh(preset), get_rules(preset)
    model = create_sharded(lambda: UnityDiT(_config(), rngs=nnx.Rngs(0)), mesh, rules)
    for path, var in nnx.to_flat_state(nnx.state(model, nnx.Param)):
        names = var.get_metadata().get("out_sharding") or (None,) * var.ndim
        assert var[...].sharding.spec == logical_to_mesh(tuple(names), rules), path
    table = dict(PRESETS[preset])
    q = model.blocks.attn1.to_q.kernel[...]  # ('layers', 'embed', 'heads'), spelled out once more
    assert q.sharding.spec == P(None, table["embed"], table.get("heads"))


@pytest.mark.parametrize("preset", sorted(MESHES))
def test_the_residual_stream_is_sharded_as_the_table_says(preset):
    """A block's output (B, S, F, M, D): batch over the batch axes, frame tokens over the sequence axes."""
    mesh, rules = _mesh(preset), get_rules(preset)
    spec = from_config(_config())
    block = create_sharded(lambda: WanBlock(spec, rngs=nnx.Rngs(0)), mesh, rules)
    b, f, m, d = 4, 3, 8, spec.dim
    x = jnp.ones((b, 2, f, m, d))
    context, mod = jnp.ones((b, 2, 5, d)), jnp.zeros((b, 2, 1, 6, d))
    rope = (jnp.ones((2 * f * m, spec.head_dim // 2)), jnp.zeros((2 * f * m, spec.head_dim // 2)))
    seen = []

    @nnx.jit
    def run(block, x):
        out = block(x, context, mod, rope)
        jax.debug.inspect_array_sharding(out, callback=seen.append)
        return out

    with jax.set_mesh(mesh), flax_spmd.logical_axis_rules(rules):
        run(block, x)
    table = dict(PRESETS[preset])
    want = P(table["activation_batch"], None, None, table.get("activation_length"), None)
    assert want == logical_to_mesh(RESIDUAL_AXES, rules)
    assert seen[0].is_equivalent_to(NamedSharding(mesh, want), x.ndim), seen[0].spec
