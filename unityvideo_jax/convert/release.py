"""The name table of the released UnityVideo checkpoint (and of our paper flavour in its style).

The release keeps the original Wan names under `base.` (self_attn.q, ffn.0, norm3, modulation,
head.head, ...) and adds the aux stream's parts at the top level: `flow_patch_embedding`,
`flow_in`, `modality_embeddings.<release name>` and `flow_head` (head.weight/bias, modulation).

The paper flavour has no released checkpoint; its parts are named in the same style so both
flavours export and load through this one table: `modality_switcher.<row>` (rows "rgb", then the
modalities) and, with one head per modality, `flow_head.<release name>.head.*` and
`flow_head.<release name>.modulation`. Rules for parameters a model does not have are skipped.
"""

from __future__ import annotations

from unityvideo_jax.convert.table import NameTable, Rule


def _linear(ours: str, theirs: str) -> list[Rule]:
    return [Rule(f"{ours}.kernel", f"{theirs}.weight", "linear"), Rule(f"{ours}.bias", f"{theirs}.bias")]


def _attention(ours: str, theirs: str) -> list[Rule]:
    rules = []
    for proj, name in (("to_q", "q"), ("to_k", "k"), ("to_v", "v"), ("to_out", "o")):
        rules += _linear(f"blocks.{ours}.{proj}", f"base.blocks.{{i}}.{theirs}.{name}")
    for norm in ("norm_q", "norm_k"):
        rules.append(Rule(f"blocks.{ours}.{norm}.scale", f"base.blocks.{{i}}.{theirs}.{norm}.weight"))
    return rules


def _head(ours: str, theirs: str, table_layout: str = "same") -> list[Rule]:
    return [
        Rule(f"{ours}.proj_kernel", f"{theirs}.head.weight", "linear"),
        Rule(f"{ours}.proj_bias", f"{theirs}.head.bias"),
        Rule(f"{ours}.scale_shift_table", f"{theirs}.modulation", table_layout),
    ]


BACKBONE = [
    Rule("patch_embedding.kernel", "base.patch_embedding.weight", "conv3d"),
    Rule("patch_embedding.bias", "base.patch_embedding.bias"),
    *_linear("condition_embedder.text_embedder.linear_1", "base.text_embedding.0"),
    *_linear("condition_embedder.text_embedder.linear_2", "base.text_embedding.2"),
    *_linear("condition_embedder.time_embedder.linear_1", "base.time_embedding.0"),
    *_linear("condition_embedder.time_embedder.linear_2", "base.time_embedding.2"),
    *_linear("condition_embedder.time_proj", "base.time_projection.1"),
    *_attention("attn1", "self_attn"),
    *_attention("attn2", "cross_attn"),
    # Wan's norm3 is the affine cross-attention norm, which diffusers (and we) call norm2.
    Rule("blocks.norm2.scale", "base.blocks.{i}.norm3.weight"),
    Rule("blocks.norm2.bias", "base.blocks.{i}.norm3.bias"),
    *_linear("blocks.ffn.net_0", "base.blocks.{i}.ffn.0"),
    *_linear("blocks.ffn.net_2", "base.blocks.{i}.ffn.2"),
    Rule("blocks.scale_shift_table", "base.blocks.{i}.modulation"),
    *_head("head", "base.head"),
]

AUX = [
    Rule("flow_patch_embedding.kernel", "flow_patch_embedding.weight", "conv3d"),
    Rule("flow_patch_embedding.bias", "flow_patch_embedding.bias"),
    *_linear("flow_in", "flow_in"),
    Rule("modality_embeddings", "modality_embeddings.{m}"),
    Rule("modality_switcher", "modality_switcher.{row}"),
]

# A shared flow_head (release) and a per-modality stack (paper) have the same parameter paths,
# so the two cases are two tables; `table_for` picks by the config.
SHARED_HEAD = _head("flow_head", "flow_head")
PER_MODALITY_HEAD = _head("flow_head", "flow_head.{m}", table_layout="unsqueeze")

TABLE = NameTable("release", tuple(BACKBONE + AUX + SHARED_HEAD))
PER_MODALITY_TABLE = NameTable("release", tuple(BACKBONE + AUX + PER_MODALITY_HEAD))


def table_for(spec) -> NameTable:
    """The release table for a model of `spec` (a DiTSpec): its flow_head is shared or per modality."""
    return PER_MODALITY_TABLE if spec.two_stream and spec.aux_head == "per_modality" else TABLE
