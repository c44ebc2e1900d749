"""The MiniLM BERT port against transformers' BertModel on the packaged weights and on a tiny config."""

import jax.numpy as jnp
import numpy as np
import pytest
import torch
from flax import nnx
from safetensors.numpy import load_file, save_file

from unityvideo_jax.model.text.bert import Bert, BertConfig, hf_table, load_bert
from unityvideo_jax.model.text.encoders import minilm_directory
from unityvideo_jax.model.text.hf_import import import_weights

transformers = pytest.importorskip("transformers")

SENTENCES = [
    "A man rides a brown horse along the beach at sunset.",
    "Depth map of a busy street: cars, trees and a cyclist crossing in the rain.",
    "Zwei Hunde spielen im Schnee, während ein Kind lacht.",
    "hi",
    "",
]
LOGICAL_NAMES = {"embed", "mlp", "heads", "kv", "vocab", "layers", None}


@pytest.fixture(scope="module")
def directory():
    return minilm_directory()


@pytest.fixture(scope="module")
def batch(directory):
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(directory))
    encoded = tokenizer(SENTENCES, padding=True, return_tensors="pt")
    return encoded["input_ids"], encoded["attention_mask"]


@pytest.fixture(scope="module")
def reference(directory, batch):
    model = transformers.BertModel.from_pretrained(str(directory), add_pooling_layer=False).eval()
    with torch.no_grad():
        return model(input_ids=batch[0], attention_mask=batch[1]).last_hidden_state.numpy()


def _run(model, batch):
    ids, mask = batch
    return np.asarray(model(jnp.asarray(ids.numpy()), jnp.asarray(mask.numpy().astype(bool))))


def test_matches_transformers_on_packaged_weights(directory, batch, reference):
    ours = _run(load_bert(directory), batch)
    valid = batch[1].numpy().astype(bool)
    assert ours.shape == reference.shape == (len(SENTENCES), valid.shape[1], 384)
    assert np.abs(ours - reference)[valid].max() <= 1e-4


def test_bf16_compute_is_used_and_close(directory, batch, reference):
    ours = _run(load_bert(directory, dtype="bfloat16"), batch)
    valid = batch[1].numpy().astype(bool)
    error = np.abs(ours - reference)[valid].max()
    assert 1e-4 < error < 0.1 * np.abs(reference).max()  # really bf16, still the same function


def test_every_parameter_has_logical_names():
    model = nnx.eval_shape(lambda: Bert(BertConfig(), rngs=nnx.Rngs(0)))
    for path, variable in nnx.to_flat_state(nnx.state(model, nnx.Param)):
        names = variable.get_metadata().get("out_sharding")
        assert names is not None and len(names) == variable.get_value().ndim, path
        assert set(names) <= LOGICAL_NAMES, (path, names)


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    hf_config = transformers.BertConfig(
        vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=48
    )
    model = transformers.BertModel(hf_config, add_pooling_layer=False).eval()
    directory = tmp_path_factory.mktemp("tiny_bert")
    model.save_pretrained(directory)
    return model, directory


def test_matches_transformers_on_a_tiny_random_config_with_padding(tiny_checkpoint):
    reference, directory = tiny_checkpoint
    ids = torch.randint(0, 99, (2, 20), generator=torch.Generator().manual_seed(1))
    mask = torch.ones(2, 20, dtype=torch.long)
    mask[1, 7:] = 0
    with torch.no_grad():
        expected = reference(input_ids=ids, attention_mask=mask).last_hidden_state.numpy()
    ours = _run(load_bert(directory), (ids, mask))
    valid = mask.numpy().astype(bool)
    assert np.abs(ours - expected)[valid].max() <= 1e-5 * np.abs(expected).max()


def test_loader_names_missing_and_misshaped_tensors(tiny_checkpoint, tmp_path):
    _, directory = tiny_checkpoint
    tensors = load_file(directory / "model.safetensors")
    del tensors["encoder.layer.1.attention.self.key.weight"]
    tensors["encoder.layer.0.output.dense.bias"] = np.zeros(31, np.float32)
    save_file(tensors, tmp_path / "model.safetensors")
    (tmp_path / "config.json").write_text((directory / "config.json").read_text())
    with pytest.raises(ValueError, match="2 tensor") as error:
        load_bert(tmp_path)
    message = str(error.value)
    assert "encoder.layer.0.output.dense.bias has shape (31,), expected (32,)" in message
    assert "missing encoder.layer.1.attention.self.key.weight" in message


def test_table_covers_every_parameter_exactly_once():
    config = BertConfig(num_layers=2)
    paths = [t.path for t in hf_table(config)]
    model = nnx.eval_shape(lambda: Bert(config, rngs=nnx.Rngs(0)))
    params = {".".join(map(str, p)) for p, _ in nnx.to_flat_state(nnx.state(model, nnx.Param))}
    assert sorted(paths) == sorted(params)


def test_missing_checkpoint_file_is_named(tmp_path):
    model = nnx.eval_shape(lambda: Bert(BertConfig(num_layers=1), rngs=nnx.Rngs(0)))
    with pytest.raises(FileNotFoundError, match="nowhere.safetensors"):
        import_weights(model, tmp_path / "nowhere.safetensors", hf_table(BertConfig(num_layers=1)))


def test_loads_a_sharded_folder_and_names_a_pickle_only_one(tiny_checkpoint, tmp_path):
    reference, directory = tiny_checkpoint
    reference.save_pretrained(tmp_path / "sharded", max_shard_size="20KB")
    assert len(list((tmp_path / "sharded").glob("*.safetensors"))) > 1
    ours = load_bert(tmp_path / "sharded")
    expected = reference.encoder.layer[1].intermediate.dense.weight.detach().numpy()
    np.testing.assert_array_equal(np.asarray(ours.layers[1].up.kernel[...]), expected.T)
    (tmp_path / "pickled").mkdir()
    (tmp_path / "pickled" / "config.json").write_text((directory / "config.json").read_text())
    torch.save(reference.state_dict(), tmp_path / "pickled" / "pytorch_model.bin")
    with pytest.raises(ValueError, match=r"holds PyTorch pickles \['pytorch_model.bin'\].*never unpickles"):
        load_bert(tmp_path / "pickled")
