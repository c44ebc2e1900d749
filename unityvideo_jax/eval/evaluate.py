"""Evaluate a pipeline on held-out UniSynth clips: the three tasks, scored against exact ground truth.

Per held-out clip and modality of its family:
- estimate: the model reads the clip's RGB and renders the modality; each draw is decoded, the draws
  are averaged in the quantity's space (scores.decode_draws), and the result is scored (scores.py),
  beside the no-input baselines (baselines.py) on the same clip;
- condition: the model generates RGB from the modality's rendering of the clip; scored for flicker,
  warping error under the clip's flow, and condition consistency (the same model estimates the
  modality back from the generated RGB, scored against the clip); the real clip is the reference
  ("real": its own flicker and warping error, and the model's estimate from the real RGB);
- joint: RGB and modality from the caption alone; flicker of the RGB (no ground truth fixes where
  objects are, so there is no object scope), beside the real clip's.
Work items are batched across clips and modalities (the pipeline takes one modality per sample);
the last batch is padded by repeating an item, so the pipeline compiles one shape.

The result is a JSON-ready dict:
  settings: families, count, seed, steps, estimate_steps, samples, guidance, method, batch, baseline_clips
  tasks:    {task: {family: {modality: {"clips": n, method: {scope: {metric: mean}}}}}}
            methods: model, constant, average (estimate); model, real (condition, joint)
  per_clip: [{task, family, clip, modality, method, scope, metric, value}, ...]
  timings:  {task: seconds of its pipeline calls (condition's include estimating back), "baselines": seconds}
"""

from __future__ import annotations

import collections
import dataclasses
import time
from typing import Callable, Iterator, Sequence

import numpy as np

from unityvideo_jax import modalities
from unityvideo_jax.data.input.heldout import eval_clips
from unityvideo_jax.data.render import renderings
from unityvideo_jax.data.unisynth.clips import FAMILIES, TRAIN_FAMILIES, ZERO_SHOT_FAMILIES, Clip
from unityvideo_jax.eval import baselines, scores

TASKS = ("estimate", "condition", "joint")
# Families training never sees are scored on every modality their ground truth has: people and a
# four-legged animal both have keypoints (COCO / AP-10K) and body parts (the animal's map onto the
# human ids), so all five apply.
ZERO_SHOT_MODALITIES = {family: modalities.NAMES for family in ZERO_SHOT_FAMILIES}


def parse_families(families: str | Sequence[str]) -> tuple[str, ...]:
    """A comma-separated string or a sequence of family names, checked against UniSynth's families."""
    names = [f.strip() for f in families.split(",")] if isinstance(families, str) else list(families)
    names = [f for f in names if f]
    unknown = [f for f in names if f not in FAMILIES]
    if unknown or not names:
        raise ValueError(f"families {unknown or names}: expected a comma-separated list of {', '.join(FAMILIES)}")
    return tuple(dict.fromkeys(names))


def parse_tasks(tasks: str | Sequence[str]) -> tuple[str, ...]:
    """A comma-separated string or a sequence of task names, checked against TASKS."""
    names = [t.strip() for t in tasks.split(",")] if isinstance(tasks, str) else list(tasks)
    names = [t for t in names if t]
    unknown = [t for t in names if t not in TASKS]
    if unknown or not names:
        raise ValueError(f"tasks {unknown or names}: expected a comma-separated list of {', '.join(TASKS)}")
    return tuple(dict.fromkeys(names))


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


def _chunks(items: list[Item], size: int) -> Iterator[tuple[list[Item], int]]:
    """Batches of exactly `size` items (the last padded with its final item) and how many are not padding."""
    for start in range(0, len(items), size):
        chunk = items[start : start + size]
        yield chunk + [chunk[-1]] * (size - len(chunk)), len(chunk)


def _stack(videos: list[np.ndarray]) -> np.ndarray:
    return np.stack(videos).astype(np.uint8)


class _Runner:
    """Calls the pipeline with the evaluation's sampling settings and fresh seeds per call (the
    pipeline draws `samples` keys from seed on, so calls are `samples` seeds apart), timing each
    evaluation phase."""

    def __init__(self, pipeline, steps: int, guidance: float, samples: int, method: str, seed: int,
                 estimate_steps: int):
        self.pipeline, self.seed, self.samples = pipeline, int(seed), int(samples)
        self.options = dict(steps=steps, guidance=guidance, samples=samples, method=method)
        self.estimate_steps = int(estimate_steps)
        self.calls, self.phase = 0, ""
        self.seconds: dict[str, float] = collections.defaultdict(float)

    def __call__(self, task: str, chunk: list[Item], **inputs) -> object:
        """One pipeline call whose `samples` draws are averaged as renderings (the pipeline's own mean)."""
        return self._timed(task, chunk, self._seed(), self.samples, inputs)[0]

    def estimates(self, chunk: list[Item], **inputs) -> list:
        """`samples` estimation draws in `estimate_steps` steps (seeded as `__call__` seeds), one Output
        each, so that they are averaged in the decoded quantity's space (scores.decode_draws)."""
        return self._timed("estimate", chunk, self._seed(), 1, inputs, draws=self.samples, steps=self.estimate_steps)

    def _seed(self) -> int:
        seed = self.seed * 1_000_003 + self.calls * self.samples
        self.calls += 1
        return seed

    def _timed(self, task: str, chunk: list[Item], seed: int, samples: int, inputs: dict, draws: int = 1,
               steps: int | None = None) -> list:
        start = time.perf_counter()
        options = {**self.options, "samples": samples, "steps": steps or self.options["steps"]}
        outs = [
            self.pipeline.run(task, [i.modality for i in chunk], prompt=[i.clip.caption for i in chunk],
                              seed=seed + k, **options, **inputs)
            for k in range(draws)
        ]
        self.seconds[self.phase or task] += time.perf_counter() - start
        expected = (len(chunk),) + chunk[0].clip.rgb.shape
        for out in outs:
            for name in ("rgb", "aux"):
                shape = np.shape(getattr(out, name))
                if tuple(shape) != expected:
                    raise ValueError(f"pipeline.run({task!r}) returned {name} of shape {shape}: expected {expected}")
        return outs


class _Tally:
    """Per-clip scores as flat rows, averaged into the nested result."""

    def __init__(self):
        self.rows: list[dict] = []

    def add(self, task: str, item: Item, method: str, scored: dict[str, dict[str, float]]) -> None:
        for scope, values in scored.items():
            for metric, value in values.items():
                self.rows.append(dict(task=task, family=item.clip.family, clip=item.index, modality=item.modality,
                                      method=method, scope=scope, metric=metric, value=float(value)))

    def nested(self) -> dict:
        values: dict = collections.defaultdict(list)
        clips: dict = collections.defaultdict(set)
        for r in self.rows:
            values[(r["task"], r["family"], r["modality"], r["method"], r["scope"], r["metric"])].append(r["value"])
            clips[(r["task"], r["family"], r["modality"])].add(r["clip"])
        out: dict = {}
        for (task, family, modality, method, scope, metric), v in values.items():
            entry = out.setdefault(task, {}).setdefault(family, {}).setdefault(modality, {})
            entry["clips"] = len(clips[(task, family, modality)])
            finite = np.asarray(v)[np.isfinite(v)]
            entry.setdefault(method, {}).setdefault(scope, {})[metric] = float(finite.mean()) if finite.size else None
        return out


def _estimate(run: _Runner, tally: _Tally, items: list[Item], batch: int, stats, estimates: dict) -> None:
    for chunk, used in _chunks(items, batch):
        draws = run.estimates(chunk, video=_stack([i.clip.rgb for i in chunk]))
        for j, item in enumerate(chunk[:used]):
            scored = scores.score_draws(item.modality, [d.aux[j] for d in draws], item.clip)
            estimates[(item.clip.family, item.index, item.modality)] = scored
            tally.add("estimate", item, "model", scored)
            frames = item.clip.rgb.shape[0]
            for name, predict in baselines.BASELINES.items():
                prediction = predict(item.modality, stats, frames)
                tally.add("estimate", item, name, scores.score_prediction(item.modality, prediction, item.clip))


def _merge(*scored: dict) -> dict:
    return {scope: {k: v for s in scored for k, v in s.get(scope, {}).items()} for scope in scores.SCOPES}


def _condition(run: _Runner, tally: _Tally, items: list[Item], batch: int, estimates: dict) -> None:
    for chunk, used in _chunks(items, batch):
        condition = _stack([renderings.render(i.modality, i.clip) for i in chunk])
        generated = run("condition", chunk, condition=condition).rgb
        back = run.estimates(chunk, video=np.asarray(generated, np.uint8))
        for j, (item, rgb) in enumerate(zip(chunk[:used], generated)):
            consistency = scores.score_draws(item.modality, [d.aux[j] for d in back], item.clip)
            tally.add("condition", item, "model", _merge(scores.score_generation(rgb, item.clip), consistency))
            reference = estimates.get((item.clip.family, item.index, item.modality), {})
            tally.add("condition", item, "real", _merge(scores.score_generation(item.clip.rgb, item.clip), reference))


def _joint(run: _Runner, tally: _Tally, items: list[Item], batch: int) -> None:
    for chunk, used in _chunks(items, batch):
        generated = run("joint", chunk).rgb
        for item, rgb in zip(chunk[:used], generated):
            tally.add("joint", item, "model", scores.score_generation(rgb, None))
            tally.add("joint", item, "real", scores.score_generation(item.clip.rgb, None))


def evaluate(
    pipeline,
    config=None,
    families: str | Sequence[str] = TRAIN_FAMILIES,
    count: int = 4,
    seed: int = 0,
    steps: int = 20,
    samples: int = 1,
    *,
    estimate_steps: int | None = None,
    guidance: float = 1.0,
    method: str = "euler",
    batch: int = 8,
    tasks: Sequence[str] = TASKS,
    baseline_clips: int = baselines.BASELINE_CLIPS,
    log: Callable[[str], None] | None = None,
    split: str = "test",
) -> dict:
    """Score `pipeline` on `count` held-out clips per family (see the module doc for the result).

    `steps` sampling steps generate; estimation (and estimating back from generated RGB) takes
    `estimate_steps` (default: `steps`). One Euler step from pure noise is the model's posterior mean
    of the modality given the RGB, which scores best for a small model whose multi-step samples blur."""
    config = pipeline.config if config is None else config
    families, tasks = parse_families(families), parse_tasks(tasks)
    estimate_steps = steps if estimate_steps is None else estimate_steps
    for name, value, least in (("count", count, 1), ("steps", steps, 1), ("estimate_steps", estimate_steps, 1),
                               ("samples", samples, 1), ("batch", batch, 1)):
        if int(value) < least:
            raise ValueError(f"{name}={value}: expected an integer >= {least}")
    log = log or (lambda message: None)

    start = time.perf_counter()
    stats = baselines.training_statistics(config, baseline_clips)
    baseline_seconds = time.perf_counter() - start
    items = [
        Item(clip, i % count, m)
        for i, clip in enumerate(eval_clips(config, families, count, seed, split))
        for m in family_modalities(config, clip.family)
    ]
    log(f"{len(items)} (clip, modality) pairs from {count} clips x {len(families)} families")

    run = _Runner(pipeline, steps, guidance, samples, method, seed, estimate_steps)
    tally, estimates = _Tally(), {}
    for task in TASKS:  # estimation first: the condition task's reference reuses its scores
        if task in tasks:
            log(f"task {task}")
            run.phase = task
            if task == "estimate":
                _estimate(run, tally, items, batch, stats, estimates)
            elif task == "condition":
                _condition(run, tally, items, batch, estimates)
            else:
                _joint(run, tally, items, batch)
    settings = dict(families=list(families), count=count, seed=seed, split=split, steps=steps, estimate_steps=estimate_steps,
                    samples=samples, guidance=guidance,
                    method=method, batch=batch, baseline_clips=baseline_clips, tasks=list(tasks),
                    config=getattr(config, "name", ""))
    timings = {**run.seconds, "baselines": baseline_seconds}
    return dict(settings=settings, tasks=tally.nested(), per_clip=tally.rows, timings=timings)
