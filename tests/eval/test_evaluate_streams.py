"""evaluate(streams=...): the one-pass rows. estimate_streams scores each stream of a clip's one-pass
estimate exactly as the single-stream estimate is scored; joint_streams scores the estimate-back
consistency of RGB generated with two modalities, beside one-modality joint generation."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from flax import nnx

from tests.eval.stand_ins import OraclePipeline, Output
from unityvideo_jax import UnityDiT, cli, get_config
from unityvideo_jax.data.input.heldout import eval_clips
from unityvideo_jax.data.render import renderings
from unityvideo_jax.eval import report, scores
from unityvideo_jax.eval import streams as streams_lib
from unityvideo_jax.eval.evaluate import evaluate, family_modalities
from unityvideo_jax.infer.pipeline import StreamsOutput

FAMILIES, COUNT = ("single_person", "objects"), 2
MARK = 1  # flipped in the lowest bit of a one-pass joint generation's RGB, so its estimates are told apart


class Known(OraclePipeline):
    """A pipeline whose every output is known and logged: a modality is the clip's rendering shifted by a
    seed-dependent number of pixels (single-stream and one-pass alike); generated RGB is the clip's own,
    with MARK flipped when it comes from `run_streams`."""

    def __init__(self, config, families, count):
        super().__init__(config, families, count)
        self.log: list[tuple[tuple, np.ndarray]] = []
        self.stream_calls: list[tuple[str, tuple[str, ...], int]] = []  # (task, modalities, clips)
        self.key = {}
        for i, clip in enumerate(eval_clips(config, families, count)):
            self.key[clip.rgb.tobytes()] = self.key[(clip.rgb ^ MARK).tobytes()] = (clip.family, i % count)
            self.by_rgb[(clip.rgb ^ MARK).tobytes()] = clip
        assert len(self.by_caption) == len(families) * count, "the captions must tell the clips apart"

    @staticmethod
    def guess(clip, modality: str, seed: int) -> np.ndarray:
        return np.roll(renderings.render(modality, clip), seed % 3 + 1, axis=2)

    def _read(self, video, prompt):
        if video is not None:
            return [self.by_rgb[v.tobytes()] for v in video], [self.key[v.tobytes()] for v in video]
        clips = [self.by_caption[p] for p in prompt]
        return clips, [self.key[c.rgb.tobytes()] for c in clips]

    def run(self, task, modality, *, prompt=None, video=None, condition=None, seed=0, **options):
        names = [modality] * len(prompt) if isinstance(modality, str) else list(modality)
        assert task in ("estimate", "joint"), task
        clips, keys = self._read(video, prompt if video is None else None)
        aux = []
        for j, (clip, key, m) in enumerate(zip(clips, keys, names)):
            aux.append(self.guess(clip, m, seed))
            marked = task == "estimate" and not np.array_equal(video[j], clip.rgb)
            self.log.append(((task, key, m, seed, marked), aux[-1]))
        rgb = np.stack([c.rgb for c in clips]) if video is None else np.asarray(video)
        return Output(rgb=rgb, aux=np.stack(aux), timings={})

    def run_streams(self, task, generate, *, conditions=None, prompt=None, video=None, seed=0, **options):
        assert task in ("estimate", "joint") and not conditions, task
        clips, keys = self._read(video, prompt if video is None else None)
        self.stream_calls.append((task, tuple(generate), len(clips)))
        aux = {}
        for m in generate:
            aux[m] = np.stack([self.guess(c, m, seed + 7) for c in clips])
            self.log += [((f"streams_{task}", key, m, seed, False), v) for key, v in zip(keys, aux[m])]
        rgb = np.asarray(video) if video is not None else np.stack([c.rgb ^ MARK for c in clips])
        return StreamsOutput(rgb=rgb, aux=aux, timings={})

    def draws(self, kind: str, key: tuple, modality: str, marked: bool = False) -> list[np.ndarray]:
        """The videos logged for (kind, clip, modality), one per seed (padding repeats a clip), in order."""
        found = {}
        for (k, clip, m, seed, mark), video in self.log:
            if (k, clip, m, mark) == (kind, key, modality, marked):
                found.setdefault(seed, video)
        return [found[s] for s in sorted(found)]


@pytest.fixture(scope="module")
def config():
    return get_config("tiny_paper")


@pytest.fixture(scope="module")
def clips(config):
    return {(c.family, i % COUNT): c for i, c in enumerate(eval_clips(config, FAMILIES, COUNT))}


def _rows(results: dict, task: str, method: str) -> dict:
    return {(r["family"], r["clip"], r["modality"], r["scope"], r["metric"]): r["value"]
            for r in results["per_clip"] if (r["task"], r["method"]) == (task, method)}


def _flat(scored: dict, key: tuple) -> dict:
    return {(*key, scope, metric): value for scope, values in scored.items() for metric, value in values.items()}


def _same(got: dict, want: dict) -> None:
    assert set(got) == set(want)
    for k, v in want.items():
        assert got[k] == pytest.approx(v, nan_ok=True), k


def test_one_pass_estimates_are_scored_as_scoring_them_directly(config, clips):
    pipe = Known(config, FAMILIES, COUNT)
    results = evaluate(pipe, config, FAMILIES, COUNT, samples=2, estimate_steps=1, batch=3, baseline_clips=1,
                       tasks=("estimate",), streams=True)
    assert set(results["tasks"]) == {"estimate", "estimate_streams"} and results["settings"]["streams"] == [
        "estimate_streams"]
    want = {}
    for (family, index), clip in clips.items():
        for m in family_modalities(config, family):
            draws = pipe.draws("streams_estimate", (family, index), m)
            assert len(draws) == 2  # `samples` draws, merged as the single estimate's are
            want.update(_flat(scores.score_draws(m, draws, clip), (family, index, m)))
    _same(_rows(results, "estimate_streams", "streams"), want)
    # `single` beside it: the estimate task's own scores of the same clips
    _same(_rows(results, "estimate_streams", "single"), _rows(results, "estimate", "model"))
    entry = results["tasks"]["estimate_streams"]["objects"]["segmentation"]
    assert entry["clips"] == COUNT and set(entry) == {"clips", "streams", "single"}
    # one pass over every modality of the family; the clips of a family share calls (at most 2 x batch streams)
    assert sorted(set(pipe.stream_calls)) == [("estimate", ("depth", "flow", "segmentation"), 1),
                                              ("estimate", ("depth", "flow", "skeleton", "densepose"), 1)]
    assert len(pipe.stream_calls) == 2 * 2 * COUNT  # families x samples x clips: a call of 2 x 3 streams holds one


def test_joint_streams_score_the_estimate_back_consistency(config, clips):
    pipe = Known(config, FAMILIES, COUNT)
    results = evaluate(pipe, config, FAMILIES, COUNT, samples=2, estimate_steps=1, batch=4, baseline_clips=1,
                       tasks=("joint",), streams=True)
    pairs = results["settings"]["joint_streams_pairs"]
    assert pairs == {"objects": [["depth", "flow"], ["segmentation", "depth"]],
                     "single_person": [["depth", "flow"], ["skeleton", "densepose"]]}
    want = {"streams": {}, "single": {}}
    for (family, index), clip in clips.items():
        for m in pairs[family][index]:
            key = (family, index)
            generated = pipe.draws("streams_joint", key, m)
            assert len(generated) == 1
            back = pipe.draws("estimate", key, m, marked=True)
            want["streams"].update(_flat(scores.score_agreement(m, back, generated[0]), (family, index, m)))
            single = pipe.draws("joint", key, m)  # the joint task's generation, reused
            back = pipe.draws("estimate", key, m, marked=False)
            assert len(single) == 1 and len(back) == 2
            want["single"].update(_flat(scores.score_agreement(m, back, single[0]), (family, index, m)))
    for method in ("streams", "single"):
        _same(_rows(results, "joint_streams", method), want[method])
    # every modality of each family is in a pair, and only the all-pixels scope is scored
    for family in FAMILIES:
        assert set(results["tasks"]["joint_streams"][family]) == set(family_modalities(config, family))
    assert {r["scope"] for r in results["per_clip"] if r["task"] == "joint_streams"} == {"all"}


def test_streams_do_not_change_the_other_rows(config):
    pipe = Known(config, ("objects",), 1)
    off = evaluate(pipe, config, "objects", 1, batch=2, baseline_clips=1, tasks=("estimate", "joint"))
    on = evaluate(Known(config, ("objects",), 1), config, "objects", 1, batch=2, baseline_clips=1,
                  tasks=("estimate", "joint"), streams=True)
    assert set(off["tasks"]) == {"estimate", "joint"} and "streams" not in off["settings"]
    assert set(on["tasks"]) == {"estimate", "joint", "estimate_streams", "joint_streams"}
    base = [r for r in on["per_clip"] if r["task"] in ("estimate", "joint")]
    assert json.dumps(base, sort_keys=True) == json.dumps(off["per_clip"], sort_keys=True)  # same seeds, same rows


def test_stream_rows_are_named_or_refused(config):
    assert streams_lib.parse_streams(True, ("estimate", "condition")) == ("estimate_streams",)
    assert streams_lib.parse_streams(False, ("estimate",)) == ()
    assert streams_lib.parse_streams("joint_streams,estimate_streams", ()) == ("estimate_streams", "joint_streams")
    with pytest.raises(ValueError, match="streams \\['estimate'\\]"):
        evaluate(Known(config, ("objects",), 1), config, "objects", 1, streams="estimate")
    assert streams_lib.modality_pairs(("a", "b", "c", "d", "e")) == [("a", "b"), ("c", "d"), ("e", "a")]
    assert streams_lib.modality_pairs(("a",)) == []


def test_report_renders_the_stream_rows(config, tmp_path):
    results = evaluate(Known(config, FAMILIES, 1), config, FAMILIES, 1, batch=4, baseline_clips=1,
                       tasks=("estimate", "joint"), streams=True)
    written = report.write_report(results, tmp_path / "out")
    assert set(written) == {"json", "markdown", "estimate", "joint", "estimate_streams", "joint_streams"}
    assert written["estimate_streams"].read_bytes()[:4] == b"\x89PNG"
    text = written["markdown"].read_text()
    assert "## Modality estimation of all the family's modalities in one pass" in text
    assert "| family | modality | clips | metric | streams (all) | single (all) |" in text
    assert "s for one pass per clip" in text and "## Joint generation with two modalities in one pass" in text
    loaded = json.loads(written["json"].read_text())
    assert loaded["tasks"]["joint_streams"]["objects"]["depth"]["streams"]["all"]["delta1"] is not None


def test_eval_cli_streams_flag(tmp_path, capsys, monkeypatch):
    from unityvideo_jax.infer import pipeline as pipeline_lib

    config = get_config("tiny_paper")
    monkeypatch.setattr(pipeline_lib.Pipeline, "from_checkpoint",
                        staticmethod(lambda directory, **kwargs: Known(config, ["objects"], 1)))
    run = ["eval", "--checkpoint", str(tmp_path), "--families", "objects", "--count", "1", "--tasks", "estimate",
           "--output", str(tmp_path / "out")]
    assert cli.main(run + ["--streams"]) == 0
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert set(results["tasks"]) == {"estimate", "estimate_streams"} and "estimate_streams" in results["timings"]
    assert (tmp_path / "out" / "estimate_streams.png").is_file()
    assert cli.main(run) == 0  # default off: the report as before
    assert set(json.loads((tmp_path / "out" / "results.json").read_text())["tasks"]) == {"estimate"}


@pytest.fixture(scope="module")
def tiny_results():
    """A random tiny model (the real pipeline) through both stream rows, at the smallest settings."""
    from unityvideo_jax.infer.pipeline import Pipeline

    config = get_config("tiny_paper")
    params = nnx.to_pure_dict(nnx.state(UnityDiT(config.model, rngs=nnx.Rngs(0)), nnx.Param))
    pipe = Pipeline(config, params)
    return config, evaluate(pipe, config, FAMILIES, COUNT, steps=1, estimate_steps=1, samples=1, batch=2,
                            baseline_clips=1, tasks=("estimate", "joint"), streams=True)


def _finite(value) -> bool:
    return value is not None and math.isfinite(value)


def test_a_tiny_model_gets_finite_numbers_for_every_modality(tiny_results):
    config, results = tiny_results
    for family in FAMILIES:
        names = set(family_modalities(config, family))
        estimated = results["tasks"]["estimate_streams"][family]
        assert set(estimated) == names
        for m, entry in estimated.items():
            for method in ("streams", "single"):
                assert _finite(entry[method]["all"][scores.HEADLINE[m]]), (family, m, method, entry)
                assert _finite(entry[method]["object"][scores.HEADLINE[m]]), (family, m, method, entry)
        joint = results["tasks"]["joint_streams"][family]
        assert set(joint) == names  # count 2 covers each family's pairs
        for m, entry in joint.items():
            for method in ("streams", "single"):
                assert any(_finite(v) for v in entry[method]["all"].values()), (family, m, method, entry)
        for m in ("depth", "flow"):
            assert all(_finite(joint[m][method]["all"][scores.HEADLINE[m]]) for method in ("streams", "single"))
    timings = results["timings"]
    assert timings["estimate_streams"] > 0 and timings["joint_streams"] > 0
