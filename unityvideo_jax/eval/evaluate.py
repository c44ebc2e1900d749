"""Evaluate a pipeline on held-out UniSynth clips: the three tasks, scored against exact ground truth.

Per held-out clip and modality of its family:
- estimate: the model reads the clip's RGB and renders the modality; each draw is decoded, the draws
  are averaged in the quantity's space (scores.decode_draws), and the result is scored (scores.py),
  beside the no-input baselines (baselines.py) on the same clip;
- condition: the model generates RGB from the modality's rendering of the clip; scored for flicker,
  warping error under the clip's flow, and condition consistency (the same model estimates the
  modality back from the generated RGB, scored against the clip); the real clip is the reference
  ("real": its own flicker and warping error, and the model's estimate from the real RGB), and the
  chance level ("unrelated": the same estimate-back scored against another clip of the family: a
  video that follows its condition scores better against its own clip);
- joint: RGB and modality from the caption alone; flicker of the RGB (no ground truth fixes where
  objects are, so there is no object scope), beside the real clip's; and agreement: the same model
  estimates the modality back from the generated RGB, scored against the generated modality as if it
  were the ground truth (all pixels; scores.score_agreement): a pair that shows one scene agrees.
Work items are batched across clips and modalities (the pipeline takes one modality per sample);
the last batch is padded by repeating an item, so the pipeline compiles one shape.

With `streams` (default off) the multi-stream rows follow (eval/streams.py): estimate_streams (each
clip's modalities estimated together in one `run_streams` pass, beside the single-stream estimate)
and joint_streams (RGB generated with two modalities in one pass, scored by estimate-back
consistency, beside the same consistency of one-modality joint generation).

The result is a JSON-ready dict:
  settings: families, count, seed, steps, estimate_steps, samples, guidance, method, batch, baseline_clips;
            with streams also streams (the rows run) and joint_streams_pairs ({family: [[m1, m2] per clip]})
  tasks:    {task: {family: {modality: {"clips": n, method: {scope: {metric: mean}}}}}}
            methods: model, constant, average (estimate); model, real, unrelated (condition: the
            consistency estimate scored against another clip of the family); model, real (joint);
            streams, single (estimate_streams, joint_streams: one pass over several modalities, and k = 1)
  per_clip: [{task, family, clip, modality, method, scope, metric, value}, ...]
  timings:  {task: seconds of its pipeline calls (condition's and joint_streams' include estimating back),
             "baselines": seconds}
"""

from __future__ import annotations

import collections
import time
from typing import Callable, Sequence

import numpy as np

from unityvideo_jax.data.input.heldout import eval_clips
from unityvideo_jax.data.render import renderings
from unityvideo_jax.data.unisynth.clips import FAMILIES, TRAIN_FAMILIES
from unityvideo_jax.eval import baselines, scores
from unityvideo_jax.eval import streams as streams_lib
from unityvideo_jax.eval.work import ZERO_SHOT_MODALITIES, Item, family_modalities  # noqa: F401 (re-exported)
from unityvideo_jax.eval.work import chunks as _chunks
from unityvideo_jax.eval.work import stack as _stack

TASKS = ("estimate", "condition", "joint")


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

    def streams(self, task: str, chunk: list[Item], generate: Sequence[str], *, estimate: bool = False,
                **inputs) -> list:
        """`pipeline.run_streams` of `generate` for the clips of `chunk`: seeded, stepped and drawn as
        `estimates` (`samples` draws of one sample) when `estimate`, else as `__call__` (one call whose
        `samples` draws the pipeline averages). One StreamsOutput per draw."""
        seed, generate = self._seed(), list(generate)
        draws, samples, steps = (self.samples, 1, self.estimate_steps) if estimate else (1, self.samples, None)
        start = time.perf_counter()
        options = {**self.options, "samples": samples, "steps": steps or self.options["steps"]}
        outs = [self.pipeline.run_streams(task, generate, prompt=[i.clip.caption for i in chunk], seed=seed + k,
                                          **options, **inputs) for k in range(draws)]
        self.seconds[self.phase or task] += time.perf_counter() - start
        expected = (len(chunk),) + chunk[0].clip.rgb.shape
        for out in outs:
            for name, video in [("rgb", out.rgb)] + [(f"aux[{m!r}]", out.aux.get(m)) for m in generate]:
                if video is None or tuple(np.shape(video)) != expected:
                    raise ValueError(f"pipeline.run_streams({task!r}) returned {name} of shape "
                                     f"{None if video is None else np.shape(video)}: expected {expected}")
        return outs

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


def _unrelated(items: list[Item]) -> dict:
    """(family, clip index) -> another held-out clip of the same family (the next one), if it has one."""
    clips: dict[str, dict[int, object]] = collections.defaultdict(dict)
    for item in items:
        clips[item.clip.family][item.index] = item.clip
    out = {}
    for family, by_index in clips.items():
        order = sorted(by_index)
        for k, index in enumerate(order):
            if len(order) > 1:
                out[(family, index)] = by_index[order[(k + 1) % len(order)]]
    return out


def _condition(run: _Runner, tally: _Tally, items: list[Item], batch: int, estimates: dict) -> None:
    unrelated = _unrelated(items)
    for chunk, used in _chunks(items, batch):
        condition = _stack([renderings.render(i.modality, i.clip) for i in chunk])
        generated = run("condition", chunk, condition=condition).rgb
        back = run.estimates(chunk, video=np.asarray(generated, np.uint8))
        for j, (item, rgb) in enumerate(zip(chunk[:used], generated)):
            estimate = scores.decode_draws(item.modality, [d.aux[j] for d in back])  # decoded once, scored twice
            consistency = scores.score_prediction(item.modality, estimate, item.clip)
            tally.add("condition", item, "model", _merge(scores.score_generation(rgb, item.clip), consistency))
            other = unrelated.get((item.clip.family, item.index))
            if other is not None:  # the same estimate against a clip it was not conditioned on: the chance level
                tally.add("condition", item, "unrelated", scores.score_prediction(item.modality, estimate, other))
            reference = estimates.get((item.clip.family, item.index, item.modality), {})
            tally.add("condition", item, "real", _merge(scores.score_generation(item.clip.rgb, item.clip), reference))


def _joint(run: _Runner, tally: _Tally, items: list[Item], batch: int, keep: dict | None = None) -> None:
    """`keep`: {(family, clip index, modality): None} whose generated (rgb, aux, agreement) are filled in."""
    for chunk, used in _chunks(items, batch):
        out = run("joint", chunk)
        back = run.estimates(chunk, video=np.asarray(out.rgb, np.uint8))
        for j, (item, rgb) in enumerate(zip(chunk[:used], out.rgb)):
            agreement = scores.score_agreement(item.modality, [d.aux[j] for d in back], np.asarray(out.aux[j]))
            tally.add("joint", item, "model", _merge(scores.score_generation(rgb, None), agreement))
            tally.add("joint", item, "real", scores.score_generation(item.clip.rgb, None))
            key = (item.clip.family, item.index, item.modality)
            if keep is not None and key in keep:
                keep[key] = (np.asarray(rgb), np.asarray(out.aux[j]), agreement)


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
    streams: bool | str | Sequence[str] = False,
    on_estimate_streams: Callable | None = None,
) -> dict:
    """Score `pipeline` on `count` held-out clips per family (see the module doc for the result).

    `steps` sampling steps generate; estimation (and estimating back from generated RGB) takes
    `estimate_steps` (default: `steps`). One Euler step from pure noise is the model's posterior mean
    of the modality given the RGB, which scores best for a small model whose multi-step samples blur.

    `streams`: True adds the multi-stream rows of the tasks asked for (estimate_streams with estimate,
    joint_streams with joint; the pipeline needs `run_streams`), or name the rows ("estimate_streams",
    "joint_streams"). `on_estimate_streams(clip, index, {modality: [draws]})` sees each clip's one-pass
    estimates (uint8 (F, H, W, 3) renderings), e.g. for the demo's video grids."""
    config = pipeline.config if config is None else config
    families, tasks = parse_families(families), parse_tasks(tasks)
    rows = streams_lib.parse_streams(streams, tasks)
    if rows and not callable(getattr(pipeline, "run_streams", None)):
        raise ValueError(f"streams={streams!r}: the pipeline has no run_streams (several modalities in one pass)")
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
    pairs = streams_lib.joint_pairs(items) if "joint_streams" in rows else {}
    generated = dict.fromkeys(streams_lib.single_keys(pairs)) if "joint" in tasks else None
    for task in TASKS:  # estimation first: the condition task's reference reuses its scores
        if task in tasks:
            log(f"task {task}")
            run.phase = task
            if task == "estimate":
                _estimate(run, tally, items, batch, stats, estimates)
            elif task == "condition":
                _condition(run, tally, items, batch, estimates)
            else:
                _joint(run, tally, items, batch, generated)
    for row in rows:  # after the tasks, so that their seeds and results are the same with streams or without
        log(f"task {row}")
        run.phase = row
        if row == "estimate_streams":
            streams_lib.estimate_streams(run, tally, items, batch, estimates, on_estimate_streams)
        else:
            streams_lib.joint_streams(run, tally, pairs, batch, generated or {})
    settings = dict(families=list(families), count=count, seed=seed, split=split, steps=steps, estimate_steps=estimate_steps,
                    samples=samples, guidance=guidance,
                    method=method, batch=batch, baseline_clips=baseline_clips, tasks=list(tasks),
                    config=getattr(config, "name", ""))
    if rows:
        settings["streams"] = list(rows)
    if pairs:
        settings["joint_streams_pairs"] = streams_lib.pairs_setting(pairs)
    timings = {**run.seconds, "baselines": baseline_seconds}
    return dict(settings=settings, tasks=tally.nested(), per_clip=tally.rows, timings=timings)
