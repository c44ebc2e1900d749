"""The release name table against the published 5B checkpoint's tensor list (no torch needed).

release_5b_tensors.tsv lists every tensor of the released file with its shape: facts about that
file, independent of our tables, so a renamed or reshaped parameter fails here.
"""

from __future__ import annotations

import math
from pathlib import Path

from tests.convert.random_checkpoints import foreign_shapes
from unityvideo_jax import get_config
from unityvideo_jax.convert import diffusers, release
from unityvideo_jax.weights.safetensors_file import DTYPES, file_layout

REFERENCE = Path(__file__).with_name("release_5b_tensors.tsv")
RELEASE_BYTES = 10_020_954_352  # the published file's size (the TSV's header states it)


def _reference_list() -> dict[str, tuple[int, ...]]:
    rows = [line.split("\t") for line in REFERENCE.read_text().splitlines() if not line.startswith("#")]
    return {name: tuple(int(s) for s in shape.split("x")) for name, shape in rows}


def test_5b_release_export_has_exactly_the_reference_names_and_shapes():
    ours = foreign_shapes(get_config("wan22_ti2v_5b_release"), "release")
    reference = _reference_list()
    assert len(reference) == 837
    assert sorted(set(reference) - set(ours)) == [] and sorted(set(ours) - set(reference)) == []
    assert {n: s for n, s in ours.items() if reference[n] != s} == {}
    assert sum(math.prod(s) for s in ours.values()) == 5_010_432_384


def test_our_writer_lays_out_the_5b_tensors_in_the_published_file_size():
    """Without metadata, our bf16 layout of these tensors is as long as the published file."""
    specs = {name: (shape, DTYPES["BF16"]) for name, shape in _reference_list().items()}
    order, head = file_layout(specs)
    assert order == sorted(specs)  # all one dtype: name order
    assert len(head) + sum(2 * math.prod(shape) for shape, _ in specs.values()) == RELEASE_BYTES


# Original Wan -> diffusers renames, as the facts file states them (independent of our tables).
WAN_TO_DIFFUSERS = [
    ("self_attn.", "attn1."), ("cross_attn.", "attn2."), (".q.", ".to_q."), (".k.", ".to_k."), (".v.", ".to_v."),
    (".o.", ".to_out.0."), ("ffn.0.", "ffn.net.0.proj."), ("ffn.2.", "ffn.net.2."), ("norm3.", "norm2."),
    ("head.head.", "proj_out."), ("head.modulation", "scale_shift_table"), ("blocks.{i}.modulation", "blocks.{i}.scale_shift_table"),
    ("text_embedding.0.", "condition_embedder.text_embedder.linear_1."),
    ("text_embedding.2.", "condition_embedder.text_embedder.linear_2."),
    ("time_embedding.0.", "condition_embedder.time_embedder.linear_1."),
    ("time_embedding.2.", "condition_embedder.time_embedder.linear_2."),
    ("time_projection.1.", "condition_embedder.time_proj."),
]


def test_release_backbone_names_are_the_wan_names_of_the_diffusers_table():
    theirs = {r.ours: r.theirs for r in diffusers.TABLE.rules}
    assert {r.ours for r in release.BACKBONE} == set(theirs)
    for rule in release.BACKBONE:
        name = rule.theirs.removeprefix("base.")
        for wan, diff in WAN_TO_DIFFUSERS:
            name = name.replace(wan, diff)
        assert name == theirs[rule.ours], rule
