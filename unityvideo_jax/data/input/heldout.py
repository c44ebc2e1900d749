"""Held-out UniSynth clips for evaluation, from seeds training never uses.

Training draws seeds below sources.SYNTH_CLIPS (in memory) or below the TFDS builder's
clips_per_family; evaluation seeds start at EVAL_SEED_BASE, so the two can never meet.
"""

from __future__ import annotations

from typing import Iterator, Sequence

from unityvideo_jax.data.input.sources import SYNTH_CLIPS
from unityvideo_jax.data.unisynth.clips import FAMILIES, Clip, render_clip

EVAL_SEED_BASE = 1 << 40
SEEDS_PER_EVAL_SEED = 1 << 20  # clips one `seed` can yield per family

assert EVAL_SEED_BASE > SYNTH_CLIPS


def eval_seed(seed: int, index: int) -> int:
    """The scene seed of held-out clip `index` of evaluation seed `seed`."""
    return EVAL_SEED_BASE + int(seed) * SEEDS_PER_EVAL_SEED + int(index)


def eval_clips(config, families: Sequence[str], count: int, seed: int = 0) -> Iterator[Clip]:
    """`count` held-out clips per family (config.data frames and size), family by family; each
    `Clip` carries its ground truth (depth, flow, instances, keypoints, visibility, parts, uv)."""
    if isinstance(families, str):
        families = (families,)
    unknown = [f for f in families if f not in FAMILIES]
    if unknown:
        raise ValueError(f"unknown families {unknown}: expected some of {', '.join(FAMILIES)}")
    if not 0 <= count <= SEEDS_PER_EVAL_SEED or seed < 0:
        raise ValueError(f"count={count}, seed={seed}: expected 0 <= count <= {SEEDS_PER_EVAL_SEED} and seed >= 0")
    d = config.data
    for family in families:
        for i in range(count):
            yield render_clip(family, eval_seed(seed, i), d.frames, d.height, d.width)
