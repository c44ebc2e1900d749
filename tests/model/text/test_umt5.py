"""The umT5 encoder port against transformers' UMT5EncoderModel on a tiny random config."""

import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from flax import nnx
from safetensors.numpy import load_file, save_file

from unityvideo_jax.model.text.umt5 import UMT5_TINY, UMT5_XXL, UMT5Encoder, hf_table, load_umt5, relative_buckets

transformers = pytest.importorskip("transformers")

LOGICAL_NAMES = {"embed", "mlp", "heads", "kv", "vocab", "layers", None}
LENGTH = 160  # past max_distance 128, so the far buckets are used too


def _hf_config(**overrides):
    sizes = dict(vocab_size=128, d_model=32, d_kv=8, num_heads=4, d_ff=64, num_layers=2)
    sizes.update(relative_attention_num_buckets=32, relative_attention_max_distance=128, **overrides)
    return transformers.UMT5Config(**sizes)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    torch.manual_seed(0)
    model = transformers.UMT5EncoderModel(_hf_config()).eval()
    directory = tmp_path_factory.mktemp("tiny_umt5")
    model.save_pretrained(directory)
    return model, directory


@pytest.fixture(scope="module")
def inputs():
    ids = torch.randint(0, 128, (2, LENGTH), generator=torch.Generator().manual_seed(1))
    mask = torch.ones(2, LENGTH, dtype=torch.long)
    mask[1, 97:] = 0
    return ids, mask


def _run(model, inputs):
    ids, mask = inputs
    return np.asarray(model(jnp.asarray(ids.numpy()), jnp.asarray(mask.numpy().astype(bool))))


def test_matches_transformers_with_padding_mask(reference, inputs):
    model, directory = reference
    with torch.no_grad():
        expected = model(input_ids=inputs[0], attention_mask=inputs[1]).last_hidden_state.numpy()
    ours = _run(load_umt5(directory, dtype="float32"), inputs)
    assert ours.shape == expected.shape
    assert np.abs(ours - expected).max() <= 1e-5 * np.abs(expected).max()


def test_padding_does_not_leak_into_real_tokens(reference, inputs):
    ours = load_umt5(reference[1], dtype="float32")
    ids, mask = inputs
    full = _run(ours, inputs)
    alone = _run(ours, (ids[1:, :97], mask[1:, :97]))
    np.testing.assert_allclose(full[1, :97], alone[0], atol=1e-5)


@pytest.mark.parametrize("num_buckets, max_distance", [(32, 128), (16, 32), (64, 256)])
def test_relative_buckets_match_transformers(reference, num_buckets, max_distance):
    attention = reference[0].encoder.block[0].layer[0].SelfAttention
    length = 1024
    positions = torch.arange(length)
    expected = attention.__class__._relative_position_bucket(
        _Buckets(num_buckets, max_distance), positions[None, :] - positions[:, None]
    ).numpy()
    np.testing.assert_array_equal(relative_buckets(length, num_buckets, max_distance), expected)


class _Buckets:
    # The attributes transformers' bucket function reads from its module (an encoder: bidirectional).
    def __init__(self, num_buckets, max_distance):
        self.relative_attention_num_buckets, self.relative_attention_max_distance = num_buckets, max_distance
        self.is_decoder = False


def test_sharded_bf16_checkpoint_loads(reference, tmp_path):
    model, _ = reference
    bf16 = transformers.UMT5EncoderModel(_hf_config()).eval()
    bf16.load_state_dict(model.state_dict())
    bf16.to(torch.bfloat16).save_pretrained(tmp_path, max_shard_size="20KB")
    assert (tmp_path / "model.safetensors.index.json").is_file()
    ours = load_umt5(tmp_path, dtype="float32")
    expected = bf16.encoder.block[1].layer[1].DenseReluDense.wo.weight.float().detach().numpy()
    np.testing.assert_array_equal(np.asarray(ours.layers[1].mlp.down.kernel[...]), expected.T)
    assert ours.layers[1].mlp.down.kernel[...].dtype == jnp.float32  # fp32 master weights


def test_loader_names_missing_and_misshaped_tensors(reference, tmp_path):
    _, directory = reference
    tensors = load_file(directory / "model.safetensors")
    del tensors["encoder.block.1.layer.0.SelfAttention.relative_attention_bias.weight"]
    tensors["encoder.block.0.layer.1.DenseReluDense.wi_1.weight"] = np.zeros((64, 31), np.float32)
    save_file(tensors, tmp_path / "model.safetensors")
    (tmp_path / "config.json").write_text((directory / "config.json").read_text())
    with pytest.raises(ValueError) as error:
        load_umt5(tmp_path)
    message = str(error.value)
    assert "encoder.block.0.layer.1.DenseReluDense.wi_1.weight has shape (64, 31), expected (64, 32)" in message
    assert "missing encoder.block.1.layer.0.SelfAttention.relative_attention_bias.weight" in message


def test_config_from_checkpoint_and_missing_paths(reference, tmp_path):
    _, directory = reference
    config = json.loads((directory / "config.json").read_text())
    assert load_umt5(directory).config.d_ff == config["d_ff"]
    with pytest.raises(FileNotFoundError, match="nothing_here"):
        load_umt5(tmp_path / "nothing_here")
    save_file({"x": np.zeros(1, np.float32)}, tmp_path / "model.safetensors")
    with pytest.raises(FileNotFoundError, match="config.json"):
        load_umt5(tmp_path)


def test_xxl_builds_abstractly_with_logical_names():
    model = nnx.eval_shape(lambda: UMT5Encoder(UMT5_XXL, rngs=nnx.Rngs(0)))
    c = UMT5_XXL
    per_layer = 4 * c.d_model * c.num_heads * c.d_kv + 3 * c.d_model * c.d_ff + c.relative_buckets * c.num_heads + 2 * c.d_model
    total = 0
    for path, variable in nnx.to_flat_state(nnx.state(model, nnx.Param)):
        names = variable.get_metadata().get("out_sharding")
        assert names is not None and len(names) == variable.get_value().ndim, path
        assert set(names) <= LOGICAL_NAMES, (path, names)
        total += math.prod(variable.get_value().shape)
    assert total == c.vocab_size * c.d_model + c.num_layers * per_layer + c.d_model  # about 5.7e9


def test_table_covers_every_parameter_exactly_once():
    paths = [t.path for t in hf_table(UMT5_TINY)]
    model = nnx.eval_shape(lambda: UMT5Encoder(UMT5_TINY, rngs=nnx.Rngs(0)))
    params = {".".join(map(str, p)) for p, _ in nnx.to_flat_state(nnx.state(model, nnx.Param))}
    assert sorted(paths) == sorted(params)


@pytest.mark.skipif(jax.device_count() < 4, reason="needs 4 host devices (XLA_FLAGS in tests/conftest.py)")
def test_loads_sharded_over_a_mesh_and_matches(reference, inputs):
    # Heads over a 'tensor' axis, embed over 'fsdp': the placement the xxl model needs.
    mesh = jax.make_mesh((2, 2), ("fsdp", "tensor"), axis_types=(jax.sharding.AxisType.Auto,) * 2)
    rules = {"heads": "tensor", "mlp": "tensor", "vocab": "tensor", "embed": "fsdp"}
    specs = {
        ".".join(map(str, p)): jax.sharding.PartitionSpec(*(rules.get(n) for n in v.get_metadata()["out_sharding"]))
        for p, v in nnx.to_flat_state(nnx.state(nnx.eval_shape(lambda: UMT5Encoder(UMT5_TINY, rngs=nnx.Rngs(0))), nnx.Param))
    }
    put = lambda path, array: jax.device_put(array, jax.sharding.NamedSharding(mesh, specs[path]))  # noqa: E731
    sharded = load_umt5(reference[1], dtype="float32", put=put)
    ours = np.asarray(jax.jit(lambda m, i, k: m(i, k))(sharded, *map(jnp.asarray, (inputs[0].numpy(), inputs[1].numpy() > 0))))
    kernel = sharded.layers[0].attention.query.kernel[...]
    assert kernel.sharding.spec == jax.sharding.PartitionSpec("fsdp", "tensor", None) and len(kernel.sharding.device_set) == 4
    np.testing.assert_allclose(ours, _run(load_umt5(reference[1], dtype="float32"), inputs), atol=1e-5)
