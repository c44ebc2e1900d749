"""umT5 encoder (Wan's text encoder) in Flax NNX.

Numerics follow transformers' `UMT5EncoderModel`: pre-norm blocks with an RMS "T5 LayerNorm" (scale
only, no mean), unscaled dot-product attention plus a relative position bias that every layer owns
(plain T5 shares layer 0's), a gated tanh-GELU MLP, and a final norm. Padding keys are masked.
"""

import dataclasses
import json
import math
from pathlib import Path
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from unityvideo_jax.model.text.hf_import import Tensor, import_weights
from unityvideo_jax.parallel.logical import partitioned

init = jax.nn.initializers


@dataclasses.dataclass(frozen=True)
class UMT5EncoderConfig:
    vocab_size: int = 256384
    d_model: int = 4096
    d_kv: int = 64
    num_heads: int = 64
    d_ff: int = 10240
    num_layers: int = 24
    relative_buckets: int = 32
    relative_max_distance: int = 128
    layer_norm_eps: float = 1e-6
    dtype: str = "float32"  # compute dtype; parameters stay float32

    @classmethod
    def from_hf_json(cls, path: str | Path, **overrides) -> "UMT5EncoderConfig":
        """Reads the sizes from a transformers `config.json`."""
        hf = json.loads(Path(path).read_text())
        if hf.get("feed_forward_proj", "gated-gelu") != "gated-gelu":
            found = hf["feed_forward_proj"]
            raise ValueError(f"{path}: feed_forward_proj {found!r}; only umT5's 'gated-gelu' is supported")
        return cls(
            vocab_size=hf["vocab_size"],
            d_model=hf["d_model"],
            d_kv=hf["d_kv"],
            num_heads=hf["num_heads"],
            d_ff=hf["d_ff"],
            num_layers=hf["num_layers"],
            relative_buckets=hf["relative_attention_num_buckets"],
            relative_max_distance=hf["relative_attention_max_distance"],
            layer_norm_eps=hf["layer_norm_epsilon"],
            **overrides,
        )


    @classmethod
    def from_wan_state(cls, reader, **overrides) -> "UMT5EncoderConfig":
        """Reads the sizes from the tensors of an original Wan umT5 file (`models_t5_umt5-xxl-enc-bf16.pth`,
        which comes without a config): vocabulary and width from the embedding, heads and buckets from a
        layer's relative bias, the rest from the first layer's projections."""
        need = ("token_embedding.weight", "blocks.0.attn.q.weight", "blocks.0.ffn.fc1.weight",
                "blocks.0.pos_embedding.embedding.weight")
        missing = [n for n in need if n not in reader]
        if missing:
            raise ValueError(f"{reader.path} is not an original Wan umT5 encoder (no {', '.join(missing)}); pass "
                             "models_t5_umt5-xxl-enc-bf16.pth or a transformers text_encoder/ folder")
        vocab, d_model = reader.shape("token_embedding.weight")
        buckets, heads = reader.shape("blocks.0.pos_embedding.embedding.weight")
        layers = 1 + max(int(n.split(".")[1]) for n in reader if n.startswith("blocks."))
        return cls(vocab_size=vocab, d_model=d_model, d_kv=reader.shape("blocks.0.attn.q.weight")[0] // heads,
                   num_heads=heads, d_ff=reader.shape("blocks.0.ffn.fc1.weight")[0], num_layers=layers,
                   relative_buckets=buckets, **overrides)


UMT5_XXL = UMT5EncoderConfig(dtype="bfloat16")  # google/umt5-xxl encoder, as used by Wan 2.1 / 2.2 (bf16 there too)
UMT5_TINY = UMT5EncoderConfig(vocab_size=128, d_model=32, d_kv=8, num_heads=4, d_ff=64, num_layers=2)  # for tests


def relative_buckets(length: int, num_buckets: int, max_distance: int) -> np.ndarray:
    """(L, L) int32 bucket of key position minus query position, bidirectional.

    Computed on the host (the length is static) in float32 step by step as PyTorch does: some logs land
    on integers (distances 16, 32, 64 with 32 buckets), where the rounding picks the bucket.
    """
    relative = np.arange(length)[None, :] - np.arange(length)[:, None]
    half = num_buckets // 2  # one half per direction
    bucket = (relative > 0).astype(np.int64) * half
    distance = np.abs(relative)
    max_exact = half // 2
    ratio = np.log(np.maximum(distance, 1).astype(np.float32) / np.float32(max_exact))
    ratio = ratio / np.float32(math.log(max_distance / max_exact)) * np.float32(half - max_exact)
    large = np.minimum(max_exact + ratio.astype(np.int64), half - 1)
    return (bucket + np.where(distance < max_exact, distance, large)).astype(np.int32)


class UMT5Attention(nnx.Module):
    def __init__(self, config: UMT5EncoderConfig, *, rngs: nnx.Rngs):
        d, h, k = config.d_model, config.num_heads, config.d_kv
        dtype = jnp.dtype(config.dtype)

        def project_in():  # (B, L, D) -> (B, L, H, K), no bias
            kernel = partitioned(init.normal(d**-0.5), ("embed", "heads", "kv"))
            return nnx.Einsum("BLD,DHK->BLHK", (d, h, k), kernel_init=kernel, dtype=dtype, rngs=rngs)

        self.query, self.key, self.value = project_in(), project_in(), project_in()
        kernel = partitioned(init.normal((h * k) ** -0.5), ("heads", "kv", "embed"))
        self.out = nnx.Einsum("BLHK,HKD->BLD", (h, k, d), kernel_init=kernel, dtype=dtype, rngs=rngs)
        table = partitioned(init.normal(d**-0.5), (None, "heads"))
        self.relative_bias = nnx.Embed(config.relative_buckets, h, embedding_init=table, rngs=rngs)
        self.buckets = (config.relative_buckets, config.relative_max_distance)

    def __call__(self, x: jax.Array, mask: jax.Array) -> jax.Array:
        """x (B, L, D), mask (B, L) bool (True = real token) -> (B, L, D)."""
        q, k, v = self.query(x), self.key(x), self.value(x)
        bias = self.relative_bias.embedding[...][relative_buckets(x.shape[1], *self.buckets)]  # (L, M, H)
        # umT5 does not scale q.k: the scale is folded into the initialisation and the bias.
        logits = jnp.einsum("BLHK,BMHK->BHLM", q, k, preferred_element_type=jnp.float32)
        logits = logits + jnp.transpose(bias, (2, 0, 1))[None].astype(jnp.float32)
        logits = jnp.where(mask[:, None, None, :], logits, jnp.finfo(jnp.float32).min)
        weights = jax.nn.softmax(logits, axis=-1).astype(v.dtype)  # softmax in fp32
        return self.out(jnp.einsum("BHLM,BMHK->BLHK", weights, v))


class UMT5MLP(nnx.Module):
    def __init__(self, config: UMT5EncoderConfig, *, rngs: nnx.Rngs):
        d, f = config.d_model, config.d_ff
        def linear(n_in, n_out, names):
            kernel = partitioned(init.normal(n_in**-0.5), names)
            return nnx.Linear(n_in, n_out, use_bias=False, dtype=jnp.dtype(config.dtype), kernel_init=kernel, rngs=rngs)

        self.gate = linear(d, f, ("embed", "mlp"))
        self.up = linear(d, f, ("embed", "mlp"))
        self.down = linear(f, d, ("mlp", "embed"))

    def __call__(self, x: jax.Array) -> jax.Array:
        # transformers' "gelu_new" is the tanh approximation.
        return self.down(jax.nn.gelu(self.gate(x), approximate=True) * self.up(x))


def _rms_norm(config: UMT5EncoderConfig, rngs: nnx.Rngs) -> nnx.RMSNorm:
    # fp32 island, scale only (the "T5 LayerNorm").
    scale = partitioned(init.ones, ("embed",))
    return nnx.RMSNorm(config.d_model, epsilon=config.layer_norm_eps, dtype=jnp.float32, scale_init=scale, rngs=rngs)


class UMT5Layer(nnx.Module):
    def __init__(self, config: UMT5EncoderConfig, *, rngs: nnx.Rngs):
        self.attention_norm = _rms_norm(config, rngs)
        self.attention = UMT5Attention(config, rngs=rngs)
        self.mlp_norm = _rms_norm(config, rngs)
        self.mlp = UMT5MLP(config, rngs=rngs)
        self.dtype = jnp.dtype(config.dtype)

    def __call__(self, x: jax.Array, mask: jax.Array) -> jax.Array:
        # Residual stream in fp32, matmuls in the compute dtype.
        x = x + self.attention(self.attention_norm(x).astype(self.dtype), mask).astype(jnp.float32)
        return x + self.mlp(self.mlp_norm(x).astype(self.dtype)).astype(jnp.float32)


class UMT5Encoder(nnx.Module):
    """Token ids -> last hidden state (B, L, D) float32 (positions after the mask are not zeroed here)."""

    def __init__(self, config: UMT5EncoderConfig, *, rngs: nnx.Rngs):
        self.config = config
        table = partitioned(init.normal(1.0), ("vocab", "embed"))
        self.embed = nnx.Embed(config.vocab_size, config.d_model, embedding_init=table, rngs=rngs)
        self.layers = nnx.List([UMT5Layer(config, rngs=rngs) for _ in range(config.num_layers)])
        self.final_norm = _rms_norm(config, rngs)

    def __call__(self, ids: jax.Array, mask: jax.Array) -> jax.Array:
        """ids (B, L) int, mask (B, L) bool with True on real tokens -> (B, L, D) float32."""
        # gather, then cast: nnx.Embed would cast the whole table to its init dtype first (4.2 GB of
        # fp32 temporaries for umT5-XXL's 256k x 4096 table held in bf16)
        x = jnp.take(self.embed.embedding[...], ids, axis=0).astype(jnp.float32)
        for layer in self.layers:
            x = layer(x, mask)
        return self.final_norm(x)


def hf_table(config: UMT5EncoderConfig) -> list[Tensor]:
    """Our parameter paths against transformers' `UMT5EncoderModel` names."""
    # The encoder's embedding is tied to `shared`; a checkpoint may hold either name.
    # The original Wan file (models_t5_umt5-xxl-enc-bf16.pth, wan/modules/t5.py's names) is the second
    # spelling of each tensor: token_embedding, blocks.i.{norm1, attn.q/k/v/o, pos_embedding, norm2,
    # ffn.gate.0 (the GELU branch = wi_0), ffn.fc1 (= wi_1), ffn.fc2 (= wo)}, norm.
    table = [Tensor("embed.embedding", ("shared.weight", "encoder.embed_tokens.weight", "token_embedding.weight"))]
    for i in range(config.num_layers):
        ours, theirs, wan = f"layers.{i}", f"encoder.block.{i}.layer", f"blocks.{i}"
        attention = f"{theirs}.0.SelfAttention"
        table += [Tensor(f"{ours}.attention.{a}.kernel", (f"{attention}.{b}.weight", f"{wan}.attn.{b}.weight"), "linear1")
                  for a, b in (("query", "q"), ("key", "k"), ("value", "v"))]  # fmt: skip
        table += [
            Tensor(f"{ours}.attention.out.kernel", (f"{attention}.o.weight", f"{wan}.attn.o.weight"), "linear2"),
            Tensor(f"{ours}.attention.relative_bias.embedding",
                   (f"{attention}.relative_attention_bias.weight", f"{wan}.pos_embedding.embedding.weight")),
            Tensor(f"{ours}.attention_norm.scale", (f"{theirs}.0.layer_norm.weight", f"{wan}.norm1.weight")),
            Tensor(f"{ours}.mlp.gate.kernel", (f"{theirs}.1.DenseReluDense.wi_0.weight", f"{wan}.ffn.gate.0.weight"),
                   "linear1"),
            Tensor(f"{ours}.mlp.up.kernel", (f"{theirs}.1.DenseReluDense.wi_1.weight", f"{wan}.ffn.fc1.weight"), "linear1"),
            Tensor(f"{ours}.mlp.down.kernel", (f"{theirs}.1.DenseReluDense.wo.weight", f"{wan}.ffn.fc2.weight"), "linear1"),
            Tensor(f"{ours}.mlp_norm.scale", (f"{theirs}.1.layer_norm.weight", f"{wan}.norm2.weight")),
        ]
    return table + [Tensor("final_norm.scale", ("encoder.final_layer_norm.weight", "norm.weight"))]


def load_umt5(
    path: str | Path,
    config: UMT5EncoderConfig | None = None,
    *,
    dtype: str | None = None,
    put: Callable[[str, np.ndarray], object] | None = None,
) -> UMT5Encoder:
    """An encoder with the weights of a transformers `UMT5EncoderModel` checkpoint.

    `path`: a directory with `config.json` and `model.safetensors` or a sharded `*.index.json` (e.g.
    the `text_encoder/` folder of a Wan diffusers repository), or one of those files; or the original
    Wan folder's `models_t5_umt5-xxl-enc-bf16.pth` (its sizes read from its tensors). Without `config`,
    the sizes come from the `config.json` beside the weights. `dtype` overrides the config's compute
    dtype (parameters are float32 either way). The model is built abstractly and filled
    tensor by tensor; `put` places each one (see `hf_import.import_weights`), e.g. sharded on a mesh.
    Call it outside `jax.set_mesh` (the abstract build would otherwise read the logical names as mesh
    axes) and let `put` carry the mesh.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: umT5 checkpoint not found; pass the text_encoder/ folder of a Wan checkpoint")
    if path.suffix in (".pth", ".pt"):  # the original Wan file: sizes from its tensors, read through torch
        from unityvideo_jax.weights.torch_state import TorchStateReader

        with TorchStateReader(path) as reader:
            config = config or UMT5EncoderConfig.from_wan_state(reader)
            if dtype is not None:
                config = dataclasses.replace(config, dtype=dtype)
            model = nnx.eval_shape(lambda: UMT5Encoder(config, rngs=nnx.Rngs(0)))
            return import_weights(model, reader, hf_table(config), put=put)
    if config is None:
        config_file = (path if path.is_dir() else path.parent) / "config.json"
        if not config_file.is_file():
            raise FileNotFoundError(f"{config_file}: no config.json beside the weights; pass config=UMT5_XXL or so")
        config = UMT5EncoderConfig.from_hf_json(config_file)
    if dtype is not None:
        config = dataclasses.replace(config, dtype=dtype)
    model = nnx.eval_shape(lambda: UMT5Encoder(config, rngs=nnx.Rngs(0)))
    return import_weights(model, path, hf_table(config), put=put)
