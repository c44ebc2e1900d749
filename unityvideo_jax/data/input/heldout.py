"""Held-out UniSynth clips for evaluation, from seeds training never uses, in two splits.

Training draws seeds below sources.SYNTH_CLIPS (in memory) or below the TFDS builder's
clips_per_family; evaluation seeds start at EVAL_SEED_BASE, so the two can never meet.

  validation  for sweeps and every choice made by looking at scores (benchmarks/demo_sweep.py); the
              seeds every evaluation used before the split, so the demo's settings were tuned on it
  test        only for reported numbers: `unityvideo eval`, the demo's report (the default)
"""

from __future__ import annotations

from typing import Iterator, Sequence

from unityvideo_jax.data.input.sources import SYNTH_CLIPS
from unityvideo_jax.data.unisynth.clips import FAMILIES, Clip, render_clip

EVAL_SEED_BASE = 1 << 40
SEEDS_PER_EVAL_SEED = 1 << 20  # clips one `seed` can yield per family
SPLITS = {"validation": 0, "test": 1 << 36}  # offsets of the two disjoint ranges (2^16 evaluation seeds each)

assert EVAL_SEED_BASE > SYNTH_CLIPS


def _split_offset(split: str) -> int:
    if split not in SPLITS:
        raise ValueError(f"split={split!r}: expected one of {', '.join(SPLITS)} (validation to choose, test to report)")
    return SPLITS[split]


def eval_seed(seed: int, index: int, split: str = "validation") -> int:
    """The scene seed of held-out clip `index` of evaluation seed `seed` in `split`."""
    return EVAL_SEED_BASE + _split_offset(split) + int(seed) * SEEDS_PER_EVAL_SEED + int(index)


def eval_clips(config, families: Sequence[str], count: int, seed: int = 0, split: str = "test") -> Iterator[Clip]:
    """`count` held-out clips per family of `split` (config.data frames and size), family by family; each
    `Clip` carries its ground truth (depth, flow, instances, keypoints, visibility, parts, uv)."""
    if isinstance(families, str):
        families = (families,)
    unknown = [f for f in families if f not in FAMILIES]
    if unknown:
        raise ValueError(f"unknown families {unknown}: expected some of {', '.join(FAMILIES)}")
    _split_offset(split)
    if not 0 <= count <= SEEDS_PER_EVAL_SEED or not 0 <= seed < SPLITS["test"] // SEEDS_PER_EVAL_SEED:
        raise ValueError(f"count={count}, seed={seed}: expected 0 <= count <= {SEEDS_PER_EVAL_SEED} and seed >= 0")
    d = config.data
    for family in families:
        for i in range(count):
            yield render_clip(family, eval_seed(seed, i, split), d.frames, d.height, d.width)
