"""Stand-ins for infer.pipeline.Pipeline with its `run` interface, for evaluation tests.

`OraclePipeline` knows the held-out clips and answers every task with ground truth: the rendering
of the clip whose RGB it is given (estimate), the clip whose modality rendering it is given
(condition), a clip with the caption (joint). `NoisePipeline` answers with uniform noise.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from unityvideo_jax import modalities
from unityvideo_jax.data.input.heldout import eval_clips
from unityvideo_jax.data.render import renderings


@dataclasses.dataclass
class Output:
    rgb: np.ndarray
    aux: np.ndarray
    timings: dict


def _names(modality, batch: int) -> list[str]:
    return [modality] * batch if isinstance(modality, str) else list(modality)


def _batch(prompt, video, condition) -> int:
    for x in (video, condition):
        if x is not None:
            return len(x)
    return len(prompt)


class OraclePipeline:
    def __init__(self, config, families, count: int, seed: int = 0):
        self.config = config
        self.calls: list[tuple[str, tuple[str, ...], int, int]] = []  # (task, modalities, steps, samples)
        self.by_rgb, self.by_condition, self.by_caption = {}, {}, {}
        for clip in eval_clips(config, families, count, seed):
            self.by_rgb[clip.rgb.tobytes()] = clip
            self.by_caption.setdefault(clip.caption, clip)
            for name in modalities.NAMES:
                self.by_condition[(name, renderings.render(name, clip).tobytes())] = clip

    def run(self, task, modality, *, prompt=None, video=None, condition=None, steps=20, guidance=1.0, seed=0,
            method="euler", samples=1):
        names = _names(modality, _batch(prompt, video, condition))
        self.calls.append((task, tuple(names), steps, samples))
        if task == "estimate":
            clips = [self.by_rgb[v.tobytes()] for v in video]
        elif task == "condition":
            clips = [self.by_condition[(n, c.tobytes())] for n, c in zip(names, condition)]
        else:
            clips = [self.by_caption[p] for p in prompt]
        rgb = np.stack([c.rgb for c in clips]) if video is None else np.asarray(video)
        aux = np.stack([renderings.render(n, c) for n, c in zip(names, clips)])
        return Output(rgb=rgb, aux=aux, timings={})


class NoisePipeline:
    def __init__(self, config, seed: int = 0):
        self.config = config
        self.rng = np.random.default_rng(seed)

    def run(self, task, modality, *, prompt=None, video=None, condition=None, **options):
        d = self.config.data
        shape = (_batch(prompt, video, condition), d.frames, d.height, d.width, 3)
        noise = lambda: self.rng.integers(0, 256, shape, dtype=np.uint8)  # noqa: E731
        return Output(rgb=noise() if video is None else np.asarray(video), aux=noise(), timings={})
