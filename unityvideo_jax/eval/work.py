"""The work items an evaluation runs (evaluate.py, streams.py): (clip, modality) pairs, their batches,
and the modalities each family is scored on."""

from __future__ import annotations

import dataclasses
from typing import Iterator

import numpy as np

from unityvideo_jax import modalities
from unityvideo_jax.data.unisynth.clips import ZERO_SHOT_FAMILIES, Clip

# Families training never sees are scored on every modality their ground truth has: people and a
# four-legged animal both have keypoints (COCO / AP-10K) and body parts (the animal's map onto the
# human ids), so all five apply.
ZERO_SHOT_MODALITIES = {family: modalities.NAMES for family in ZERO_SHOT_FAMILIES}


def family_modalities(config, family: str) -> tuple[str, ...]:
    """The modalities a family is scored on: its config.data.source_modalities, or all for zero-shot ones."""
    listed = config.data.source_modalities
    if family in listed:
        return tuple(modalities.get(m).name for m in listed[family])
    return ZERO_SHOT_MODALITIES.get(family, modalities.NAMES)


@dataclasses.dataclass(frozen=True)
class Item:
    clip: Clip
    index: int  # the clip's index among its family's held-out clips
    modality: str


def chunks(items: list, size: int) -> Iterator[tuple[list, int]]:
    """Batches of exactly `size` items (the last padded with its final item) and how many are not padding."""
    for start in range(0, len(items), size):
        chunk = items[start : start + size]
        yield chunk + [chunk[-1]] * (size - len(chunk)), len(chunk)


def stack(videos: list[np.ndarray]) -> np.ndarray:
    return np.stack(videos).astype(np.uint8)
