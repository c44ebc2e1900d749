"""Predictions that look at no input: what a model scores if it learned a prior and no perception.

Two per modality, both computed from *training* clips (UniSynth seeds 0.., which the training
pipeline draws; held-out clips start at heldout.EVAL_SEED_BASE), each modality from the training
families that have it (config.data.source_modalities):
- constant: one value everywhere: the median training depth, zero flow, all background, every
  joint at the frame centre, no body;
- average: the training set's per-pixel map, averaged over clips and frames: mean depth (the mean
  taken in inverse depth, the space depth is aligned in), mean flow, most frequent instance id,
  mean position of each joint of each figure slot, most frequent body part with mean UV.
Each is a dict in the form `modalities.decode` returns, so scores.py scores it like a model's.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from unityvideo_jax import modalities
from unityvideo_jax.data.render import segmentation_image
from unityvideo_jax.data.unisynth.clips import NUM_PARTS, TRAIN_FAMILIES, render_clip

BASELINE_CLIPS = 16  # training clips per family the statistics come from


@dataclasses.dataclass(frozen=True)
class TrainingStatistics:
    median_depth: float
    mean_depth: np.ndarray  # (H, W), from the mean inverse depth
    mean_flow: np.ndarray  # (H, W, 2)
    instance_mode: np.ndarray  # (H, W) int32
    mean_keypoints: np.ndarray  # (S, 17, 2) per figure slot
    part_mode: np.ndarray  # (H, W) uint8
    mean_uv: np.ndarray  # (H, W, 2), over training body pixels (0 where none)


def _statistics(sources: tuple[tuple[str, tuple[str, ...]], ...], clips: int, frames: int, height: int,
                width: int) -> TrainingStatistics:
    depths, inverse, flow, keypoints = [], [], [], []
    instance_counts = np.zeros((height, width, 64))
    part_counts = np.zeros((height, width, NUM_PARTS + 1))
    uv_sum, uv_count = np.zeros((height, width, 2)), np.zeros((height, width, 1))
    for family, names in sources:
        for seed in range(clips):
            clip = render_clip(family, seed, frames, height, width)
            if "depth" in names:
                depths.append(clip.depth.ravel())
                inverse.append((1.0 / clip.depth).mean(0))
            if "flow" in names:
                flow.append(clip.flow.mean(0))
            if "segmentation" in names:
                # numbered as the training renderings number them (largest first)
                ids = np.minimum(segmentation_image.by_area(clip.instances), instance_counts.shape[-1] - 1)
                instance_counts += (ids[..., None] == np.arange(instance_counts.shape[-1])).sum(0)
            if "skeleton" in names:
                keypoints.append(clip.keypoints.mean(0))  # (P, 17, 2)
            if "densepose" in names:
                part_counts += (clip.parts[..., None] == np.arange(NUM_PARTS + 1)).sum(0)
                body = (clip.parts > 0)[..., None]
                uv_sum += (clip.uv * body).sum(0)
                uv_count += body.sum(0)
    slots = max([len(k) for k in keypoints], default=0)
    slot_means = [np.mean([k[s] for k in keypoints if len(k) > s], axis=0) for s in range(slots)]
    centre = np.array([(width - 1) / 2.0, (height - 1) / 2.0])
    return TrainingStatistics(
        median_depth=float(np.median(np.concatenate(depths))) if depths else 10.0,
        mean_depth=(1.0 / np.mean(inverse, axis=0)).astype(np.float32) if inverse else np.full((height, width), 10.0),
        mean_flow=(np.mean(flow, axis=0) if flow else np.zeros((height, width, 2))).astype(np.float32),
        instance_mode=instance_counts.argmax(-1).astype(np.int32),
        mean_keypoints=np.array(slot_means if slots else [np.tile(centre, (17, 1))], np.float32),
        part_mode=part_counts.argmax(-1).astype(np.uint8),
        mean_uv=(uv_sum / np.maximum(uv_count, 1)).astype(np.float32),
    )


def training_sources(config) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """(family, modality names) of every UniSynth training family in config.data.sources (all four
    training families when the sources are not UniSynth's)."""
    families = [s for s in config.data.sources if s in TRAIN_FAMILIES] or list(TRAIN_FAMILIES)
    listed = config.data.source_modalities
    return tuple(
        (f, tuple(modalities.get(m).name for m in listed[f]) if f in listed else modalities.NAMES) for f in families
    )


def training_statistics(config, clips: int = BASELINE_CLIPS) -> TrainingStatistics:
    """The statistics of `clips` training clips per training family at config.data's size (cached)."""
    d = config.data
    return _cached_statistics(training_sources(config), int(clips), int(d.frames), int(d.height), int(d.width))


_cached_statistics = functools.lru_cache(maxsize=8)(_statistics)


def _repeat(image: np.ndarray, frames: int) -> np.ndarray:
    return np.repeat(image[None], frames, axis=0)


def constant_prediction(modality: str, stats: TrainingStatistics, frames: int) -> dict[str, np.ndarray]:
    h, w = stats.mean_depth.shape
    name = modalities.get(modality).name
    if name == "depth":
        return {"depth": np.full((frames, h, w), stats.median_depth, np.float32)}
    if name == "flow":
        return {"flow": np.zeros((frames, h, w, 2), np.float32)}
    if name == "segmentation":
        return {"instances": np.zeros((frames, h, w), np.int32), "foreground": np.zeros((frames, h, w), bool)}
    if name == "skeleton":
        centre = np.array([(w - 1) / 2.0, (h - 1) / 2.0], np.float32)
        return {"joints": np.broadcast_to(centre, (frames, 17, 1, 2)).copy(), "found": np.ones((frames, 17, 1), bool)}
    return {"parts": np.zeros((frames, h, w), np.uint8), "uv": np.zeros((frames, h, w, 2), np.float32)}


def average_prediction(modality: str, stats: TrainingStatistics, frames: int) -> dict[str, np.ndarray]:
    name = modalities.get(modality).name
    if name == "depth":
        return {"depth": _repeat(stats.mean_depth, frames)}
    if name == "flow":
        return {"flow": _repeat(stats.mean_flow, frames)}
    if name == "segmentation":
        instances = _repeat(stats.instance_mode, frames)
        return {"instances": instances, "foreground": instances > 0}
    if name == "skeleton":
        joints = np.transpose(stats.mean_keypoints, (1, 0, 2))  # (17, S, 2)
        return {"joints": _repeat(joints, frames), "found": np.ones((frames,) + joints.shape[:2], bool)}
    parts = _repeat(stats.part_mode, frames)
    return {"parts": parts, "uv": np.where((parts > 0)[..., None], _repeat(stats.mean_uv, frames), 0.0)}


BASELINES = {"constant": constant_prediction, "average": average_prediction}
