"""The name table of diffusers' `WanTransformer3DModel` (the RGB backbone, single stream)."""

from __future__ import annotations

from unityvideo_jax.convert.table import NameTable, Rule


def _attention(ours: str, theirs: str) -> list[Rule]:
    rules = []
    for proj, name in (("to_q", "to_q"), ("to_k", "to_k"), ("to_v", "to_v"), ("to_out", "to_out.0")):
        rules.append(Rule(f"blocks.{ours}.{proj}.kernel", f"blocks.{{i}}.{theirs}.{name}.weight", "linear"))
        rules.append(Rule(f"blocks.{ours}.{proj}.bias", f"blocks.{{i}}.{theirs}.{name}.bias"))
    for norm in ("norm_q", "norm_k"):
        rules.append(Rule(f"blocks.{ours}.{norm}.scale", f"blocks.{{i}}.{theirs}.{norm}.weight"))
    return rules


def _linear(ours: str, theirs: str) -> list[Rule]:
    return [Rule(f"{ours}.kernel", f"{theirs}.weight", "linear"), Rule(f"{ours}.bias", f"{theirs}.bias")]


RULES = [
    Rule("patch_embedding.kernel", "patch_embedding.weight", "conv3d"),
    Rule("patch_embedding.bias", "patch_embedding.bias"),
    *_linear("condition_embedder.time_embedder.linear_1", "condition_embedder.time_embedder.linear_1"),
    *_linear("condition_embedder.time_embedder.linear_2", "condition_embedder.time_embedder.linear_2"),
    *_linear("condition_embedder.time_proj", "condition_embedder.time_proj"),
    *_linear("condition_embedder.text_embedder.linear_1", "condition_embedder.text_embedder.linear_1"),
    *_linear("condition_embedder.text_embedder.linear_2", "condition_embedder.text_embedder.linear_2"),
    *_attention("attn1", "attn1"),
    *_attention("attn2", "attn2"),
    Rule("blocks.norm2.scale", "blocks.{i}.norm2.weight"),
    Rule("blocks.norm2.bias", "blocks.{i}.norm2.bias"),
    *_linear("blocks.ffn.net_0", "blocks.{i}.ffn.net.0.proj"),
    *_linear("blocks.ffn.net_2", "blocks.{i}.ffn.net.2"),
    Rule("blocks.scale_shift_table", "blocks.{i}.scale_shift_table"),
    Rule("head.proj_kernel", "proj_out.weight", "linear"),
    Rule("head.proj_bias", "proj_out.bias"),
    Rule("head.scale_shift_table", "scale_shift_table"),
]

TABLE = NameTable("diffusers", tuple(RULES))
