"""BERT encoder (post-norm, absolute positions) in Flax NNX: the all-MiniLM-L6-v2 default text encoder.

Numerics follow transformers' `BertModel` (last hidden state, no pooler): word + position + token-type
embeddings, LayerNorm, then per layer self-attention and an erf-GELU MLP, each added to the residual
and LayerNorm-ed after the add. Padding keys are masked out of the attention.
"""

import dataclasses
import json
from pathlib import Path

import jax
import jax.numpy as jnp
from flax import nnx

from unityvideo_jax.model.text.hf_import import Tensor, import_weights
from unityvideo_jax.parallel.logical import partitioned

init = jax.nn.initializers


@dataclasses.dataclass(frozen=True)
class BertConfig:
    """Sizes of a BERT encoder; the defaults are all-MiniLM-L6-v2."""

    vocab_size: int = 30522
    hidden_size: int = 384
    num_layers: int = 6
    num_heads: int = 12
    intermediate_size: int = 1536
    max_positions: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    dtype: str = "float32"  # compute dtype; parameters stay float32

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads

    @classmethod
    def from_hf_json(cls, path: str | Path, **overrides) -> "BertConfig":
        """Reads the sizes from a transformers `config.json`."""
        hf = json.loads(Path(path).read_text())
        if hf.get("hidden_act", "gelu") != "gelu" or hf.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError(f"{path}: only BERT with hidden_act 'gelu' and absolute positions is supported")
        return cls(
            vocab_size=hf["vocab_size"],
            hidden_size=hf["hidden_size"],
            num_layers=hf["num_hidden_layers"],
            num_heads=hf["num_attention_heads"],
            intermediate_size=hf["intermediate_size"],
            max_positions=hf["max_position_embeddings"],
            type_vocab_size=hf["type_vocab_size"],
            layer_norm_eps=hf["layer_norm_eps"],
            **overrides,
        )


def _layer_norm(config: BertConfig, rngs: nnx.Rngs) -> nnx.LayerNorm:
    # fp32 island; two-pass variance like PyTorch.
    return nnx.LayerNorm(
        config.hidden_size,
        epsilon=config.layer_norm_eps,
        dtype=jnp.float32,
        use_fast_variance=False,
        scale_init=partitioned(init.ones, ("embed",)),
        bias_init=partitioned(init.zeros, ("embed",)),
        rngs=rngs,
    )


class BertEmbeddings(nnx.Module):
    def __init__(self, config: BertConfig, *, rngs: nnx.Rngs):
        embed = lambda n, names: nnx.Embed(  # noqa: E731
            n, config.hidden_size, embedding_init=partitioned(init.normal(0.02), names), rngs=rngs
        )
        self.word = embed(config.vocab_size, ("vocab", "embed"))
        self.position = embed(config.max_positions, (None, "embed"))
        self.token_type = embed(config.type_vocab_size, (None, "embed"))
        self.norm = _layer_norm(config, rngs)

    def __call__(self, ids: jax.Array) -> jax.Array:
        """ids (B, L) int -> (B, L, D) float32; every token has type 0 (single sentences)."""
        length = ids.shape[1]
        x = self.word(ids) + self.token_type.embedding[0] + self.position.embedding[:length]
        return self.norm(x)


# Fan-in initialisers for head-split kernels (D, H, K) and (H, K, D); imported weights replace them.
_INIT_DHK = init.variance_scaling(1.0, "fan_in", "normal", in_axis=0, out_axis=(1, 2))
_INIT_HKD = init.variance_scaling(1.0, "fan_in", "normal", in_axis=(0, 1), out_axis=2)


class BertAttention(nnx.Module):
    def __init__(self, config: BertConfig, *, rngs: nnx.Rngs):
        d, h, k = config.hidden_size, config.num_heads, config.head_dim
        dtype = jnp.dtype(config.dtype)

        def project_in():  # (B, L, D) -> (B, L, H, K)
            kernel = partitioned(_INIT_DHK, ("embed", "heads", "kv"))
            bias = partitioned(init.zeros, ("heads", "kv"))
            shapes = dict(kernel_shape=(d, h, k), bias_shape=(h, k))
            return nnx.Einsum("BLD,DHK->BLHK", **shapes, kernel_init=kernel, bias_init=bias, dtype=dtype, rngs=rngs)

        self.query, self.key, self.value = project_in(), project_in(), project_in()
        kernel, bias = partitioned(_INIT_HKD, ("heads", "kv", "embed")), partitioned(init.zeros, ("embed",))
        shapes = dict(kernel_shape=(h, k, d), bias_shape=(d,))
        self.out = nnx.Einsum("BLHK,HKD->BLD", **shapes, kernel_init=kernel, bias_init=bias, dtype=dtype, rngs=rngs)
        self.scale = k**-0.5

    def __call__(self, x: jax.Array, mask: jax.Array) -> jax.Array:
        """x (B, L, D), mask (B, L) bool (True = real token) -> (B, L, D)."""
        q, k, v = self.query(x), self.key(x), self.value(x)
        logits = jnp.einsum("BLHK,BMHK->BHLM", q, k, preferred_element_type=jnp.float32) * self.scale
        logits = jnp.where(mask[:, None, None, :], logits, jnp.finfo(jnp.float32).min)
        weights = jax.nn.softmax(logits, axis=-1).astype(v.dtype)  # softmax in fp32
        return self.out(jnp.einsum("BHLM,BMHK->BLHK", weights, v))


class BertLayer(nnx.Module):
    def __init__(self, config: BertConfig, *, rngs: nnx.Rngs):
        d, f = config.hidden_size, config.intermediate_size
        dtype = jnp.dtype(config.dtype)
        self.attention = BertAttention(config, rngs=rngs)
        self.attention_norm = _layer_norm(config, rngs)
        linear = lambda n_in, n_out, names: nnx.Linear(  # noqa: E731
            n_in,
            n_out,
            dtype=dtype,
            kernel_init=partitioned(init.lecun_normal(), names),
            bias_init=partitioned(init.zeros, names[1:]),
            rngs=rngs,
        )
        self.up = linear(d, f, ("embed", "mlp"))
        self.down = linear(f, d, ("mlp", "embed"))
        self.mlp_norm = _layer_norm(config, rngs)

    def __call__(self, x: jax.Array, mask: jax.Array) -> jax.Array:
        # Residual stream and norms in fp32, matmuls in the compute dtype.
        dtype = self.up.dtype
        x = self.attention_norm(x + self.attention(x.astype(dtype), mask).astype(jnp.float32))
        h = jax.nn.gelu(self.up(x.astype(dtype)), approximate=False)
        return self.mlp_norm(x + self.down(h).astype(jnp.float32))


class Bert(nnx.Module):
    """Token ids -> last hidden state (B, L, D) float32."""

    def __init__(self, config: BertConfig, *, rngs: nnx.Rngs):
        self.config = config
        self.embeddings = BertEmbeddings(config, rngs=rngs)
        self.layers = nnx.List([BertLayer(config, rngs=rngs) for _ in range(config.num_layers)])

    def __call__(self, ids: jax.Array, mask: jax.Array) -> jax.Array:
        """ids (B, L) int, mask (B, L) bool with True on real tokens -> (B, L, D) float32."""
        if ids.shape[1] > self.config.max_positions:
            limit = self.config.max_positions
            raise ValueError(f"{ids.shape[1]} tokens exceed BERT's {limit} positions; truncate the text")
        x = self.embeddings(ids)
        for layer in self.layers:
            x = layer(x, mask)
        return x


def hf_table(config: BertConfig) -> list[Tensor]:
    """Our parameter paths against transformers' `BertModel` names (with or without a `bert.` prefix)."""

    def entry(path, name, layout="same"):
        return Tensor(path, (name, f"bert.{name}"), layout)

    table = [
        entry("embeddings.word.embedding", "embeddings.word_embeddings.weight"),
        entry("embeddings.position.embedding", "embeddings.position_embeddings.weight"),
        entry("embeddings.token_type.embedding", "embeddings.token_type_embeddings.weight"),
        entry("embeddings.norm.scale", "embeddings.LayerNorm.weight"),
        entry("embeddings.norm.bias", "embeddings.LayerNorm.bias"),
    ]
    for i in range(config.num_layers):
        ours, theirs = f"layers.{i}", f"encoder.layer.{i}"
        for proj in ("query", "key", "value"):
            table.append(entry(f"{ours}.attention.{proj}.kernel", f"{theirs}.attention.self.{proj}.weight", "linear1"))
            table.append(entry(f"{ours}.attention.{proj}.bias", f"{theirs}.attention.self.{proj}.bias", "flat"))
        table += [
            entry(f"{ours}.attention.out.kernel", f"{theirs}.attention.output.dense.weight", "linear2"),
            entry(f"{ours}.attention.out.bias", f"{theirs}.attention.output.dense.bias"),
            entry(f"{ours}.attention_norm.scale", f"{theirs}.attention.output.LayerNorm.weight"),
            entry(f"{ours}.attention_norm.bias", f"{theirs}.attention.output.LayerNorm.bias"),
            entry(f"{ours}.up.kernel", f"{theirs}.intermediate.dense.weight", "linear1"),
            entry(f"{ours}.up.bias", f"{theirs}.intermediate.dense.bias"),
            entry(f"{ours}.down.kernel", f"{theirs}.output.dense.weight", "linear1"),
            entry(f"{ours}.down.bias", f"{theirs}.output.dense.bias"),
            entry(f"{ours}.mlp_norm.scale", f"{theirs}.output.LayerNorm.weight"),
            entry(f"{ours}.mlp_norm.bias", f"{theirs}.output.LayerNorm.bias"),
        ]
    return table


def load_bert(directory: str | Path, *, dtype: str = "float32") -> Bert:
    """A `Bert` with the weights of a transformers BERT directory (`config.json` beside
    `model.safetensors` or a sharded `model.safetensors.index.json`)."""
    directory = Path(directory)
    if not (directory / "config.json").is_file():
        raise FileNotFoundError(f"{directory}: no config.json here; pass a transformers BERT folder")
    config = BertConfig.from_hf_json(directory / "config.json", dtype=dtype)
    model = nnx.eval_shape(lambda: Bert(config, rngs=nnx.Rngs(0)))  # abstract: filled tensor by tensor
    return import_weights(model, directory, hf_table(config))
