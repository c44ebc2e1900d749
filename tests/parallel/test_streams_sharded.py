"""Two aux streams with an absent one, on 8 host devices under the context-parallel presets: the single-device
loss and gradients (the absent stream's key mask travels with the sharded sequence)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from flax.core import spmd as flax_spmd

from tests.conftest import randomize
from tests.model.dit.test_streams import stream_inputs
from tests.parallel.test_presets import _config, _mesh, _randomized, assert_same_loss_and_grads
from unityvideo_jax import UnityDiT
from unityvideo_jax.parallel.rules import get_rules
from unityvideo_jax.parallel.sharding import create_sharded

pytestmark = pytest.mark.devices(8)  # a CPU subprocess gives them where this process has fewer (conftest.py)


def _loss_and_grads(model, inputs):
    graphdef, params = nnx.split(model, nnx.Param)
    present = inputs["aux_present"]

    def loss(params):
        v_rgb, v_aux = nnx.merge(graphdef, params)(**inputs)
        aux = jnp.where(present[:, :, None, None, None, None], v_aux + 0.5, 0.0)  # absent outputs do not count
        return jnp.mean(jnp.square(v_rgb - 0.5)) + jnp.mean(jnp.square(aux))

    return jax.jit(jax.value_and_grad(loss))(params)


@pytest.fixture(scope="module")
def single_device():
    config = _config()
    inputs = stream_inputs(np.random.default_rng(0), config, k=2, batch=4, frames=3, height=4, width=8)
    inputs["aux_present"] = jnp.array([[True, True], [True, False], [True, True], [True, False]])
    return config, inputs, _loss_and_grads(randomize(UnityDiT(config, rngs=nnx.Rngs(0))), inputs)


# The presets that shard the token sequence (where the mask must travel with it); the others run the
# local kernel on whole sequences, as the one-device model does.
SEQUENCE_PRESETS = ("fsdp_context", "ulysses", "ring")


@pytest.mark.parametrize("preset", SEQUENCE_PRESETS)
def test_two_streams_under_every_preset_give_the_single_device_loss_and_gradients(preset, single_device):
    config, inputs, (want_loss, want_grads) = single_device
    mesh, rules = _mesh(preset), get_rules(preset)
    model = _randomized(create_sharded(lambda: UnityDiT(config, rngs=nnx.Rngs(0)), mesh, rules))
    with jax.set_mesh(mesh), flax_spmd.logical_axis_rules(rules):
        loss, grads = _loss_and_grads(model, inputs)
    assert_same_loss_and_grads(loss, grads, want_loss, want_grads)
