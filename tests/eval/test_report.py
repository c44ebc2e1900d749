"""The report files, and the comparison table an ablation prints."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from tests.eval.stand_ins import NoisePipeline, OraclePipeline
from unityvideo_jax import get_config
from unityvideo_jax.eval import compare, report
from unityvideo_jax.eval.evaluate import evaluate
from unityvideo_jax.eval.scores import HEADLINE

FAMILIES = ("two_person", "objects")


@pytest.fixture(scope="module")
def runs():
    config = get_config("tiny_paper")
    oracle = evaluate(OraclePipeline(config, FAMILIES, 1), config, FAMILIES, 1, baseline_clips=2)
    noise = evaluate(NoisePipeline(config), config, FAMILIES, 1, baseline_clips=2)
    return {"oracle": oracle, "noise": noise}


def _refuse_nan(name):
    raise AssertionError(f"{name} in results.json: not valid JSON")


def test_write_report_writes_json_markdown_and_plots(runs, tmp_path):
    written = report.write_report(runs["oracle"], tmp_path / "out")
    assert set(written) == {"json", "markdown", "estimate", "condition", "joint"}
    for name in ("estimate", "condition", "joint"):
        assert written[name].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    loaded = json.loads(written["json"].read_text(), parse_constant=_refuse_nan)
    assert loaded["tasks"]["estimate"]["two_person"]["segmentation"]["model"]["object"]["miou"] == 1.0
    assert loaded["tasks"]["joint"]["objects"]["depth"]["model"]["object"]["flicker"] is None  # NaN -> null
    text = written["markdown"].read_text()
    assert "## Verdict" in text and "| two_person | segmentation | miou | 1.000 |" in text
    assert "1 test clips per family" in text and loaded["settings"]["split"] == "test"  # reported on the test split


def test_verdict_says_whether_the_model_beats_both_baselines(runs):
    oracle = report.verdict_table(runs["oracle"]).splitlines()[2:]
    noise = report.verdict_table(runs["noise"]).splitlines()[2:]
    assert len(oracle) == len(noise) == 5 + 3 + 3  # two_person's modalities, objects', pooled for the shared
    pooled = next(line for line in noise if line.startswith("| pooled (2 families) | depth |"))
    entries = runs["noise"]["tasks"]["estimate"]
    mean = np.mean([entries[f]["depth"]["model"]["object"]["abs_rel"] for f in FAMILIES])
    assert float(pooled.split("|")[4]) == pytest.approx(mean, abs=5e-4)
    assert all(line.endswith("| yes |") for line in oracle)
    assert not any(line.endswith("| yes |") for line in noise)  # aligned noise depth at best ties the constant
    assert all(float(line.split("|")[7]) <= 0.0005 for line in noise)  # margins: at most zero, rounded
    assert all(float(line.split("|")[7]) > 0 for line in oracle)


def test_margin_is_positive_when_better_in_either_direction():
    assert report.margin(0.2, [0.5, 0.3], "abs_rel") == pytest.approx(0.1)
    assert report.margin(0.6, [0.5, 0.7], "miou") == pytest.approx(-0.1)
    assert report.margin(None, [0.5], "miou") is None


def test_task_table_bolds_the_unique_best(runs):
    table = report.task_table("estimate", runs["oracle"])
    row = next(line for line in table.splitlines() if "| objects | depth |" in line and "abs_rel" in line)
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[4].startswith("**") and not cells[5].startswith("**")  # model (all) bold, constant not
    assert report.bold_best([0.5, 0.5], "miou") == ["0.500", "0.500"]  # a tie bolds nothing
    assert report.bold_best([None, 0.2, 0.1], "epe") == ["–", "0.200", "**0.100**"]


def test_comparison_table_lines_up_runs(runs):
    rows = compare.comparison_rows(runs)
    estimate = [r for r in rows if r["task"] == "estimate"]
    assert len(estimate) == 8 and all(r["best"] == "oracle" for r in estimate)
    assert all(r["reference"] is not None for r in estimate)
    # Conditional generation's consistency is read against each run's own score on an unrelated clip (it
    # depends on the model; one clip a family here has none: give each run one), the warping error against
    # real clips'.
    with_unrelated = {name: copy.deepcopy(r) for name, r in runs.items()}
    for value, results in zip((0.25, 0.5), with_unrelated.values()):
        for by_modality in results["tasks"]["condition"].values():
            for modality, entry in by_modality.items():
                entry["unrelated"] = {"object": {HEADLINE[modality]: value}}
    condition = [r for r in compare.comparison_rows(with_unrelated) if r["task"] == "condition"]
    consistency = [r for r in condition if r["metric"] != "warp_error"]
    assert consistency and all(r["per_run"] and r["references"] == {"oracle": 0.25, "noise": 0.5}
                               for r in consistency)
    for row in (r for r in condition if r["metric"] == "warp_error"):
        real = with_unrelated["oracle"]["tasks"]["condition"][row["family"]][row["modality"]]["real"]
        assert not row["per_run"] and row["reference"] == real[row["scope"]]["warp_error"] is not None
    line = next(x for x in compare.comparison_table(with_unrelated).splitlines()
                if x.startswith("| condition | objects | depth | abs_rel"))
    assert "/ 0.250 |" in line and "/ 0.500 |" in line and line.endswith("| per run (after /) |")
    joint = [r for r in rows if r["task"] == "joint"]
    assert joint and all(r["scope"] == "all" for r in joint)  # a generated pair has no ground-truth objects
    assert all(r["reference"] is None for r in joint)
    flicker = [r for r in joint if r["metric"] == "flicker"]
    agreement = [r for r in joint if r["metric"] != "flicker"]
    assert len(flicker) == len(agreement) == 8  # each modality's estimate-back agreement beside the flicker
    assert all(r["best"] == "oracle" for r in agreement)  # a real pair agrees; noise does not
    table = compare.comparison_table(runs)
    assert "| oracle | noise | reference |" in table
    line = next(x for x in table.splitlines() if x.startswith("| estimate | two_person | segmentation |"))
    assert "**1.000**" in line
    # A run that lacks a task still lines up, with dashes.
    estimate_only = {**runs["noise"], "tasks": {"estimate": runs["noise"]["tasks"]["estimate"]}}
    table = compare.comparison_table({"oracle": runs["oracle"], "estimate only": estimate_only})
    line = next(x for x in table.splitlines() if x.startswith("| condition | objects | depth |"))
    assert "| – |" in line


def test_pooled_rows_are_the_mean_over_families_each_counted_once(runs):
    rows = compare.comparison_rows(runs)
    pooled = compare.pooled_rows(rows)
    estimate = [r for r in pooled if r["task"] == "estimate"]
    # depth, flow and segmentation pooled over both families; skeleton and DensePose only two_person has.
    assert [r["family"] for r in estimate].count("pooled (2 families)") == 3
    assert sorted(r["family"] for r in estimate if r["modality"] in ("skeleton", "densepose")) == ["two_person"] * 2
    depth = next(r for r in estimate if r["modality"] == "depth")
    families = [r for r in rows if (r["task"], r["modality"], r["metric"]) == ("estimate", "depth", depth["metric"])]
    assert len(families) == 2
    for name in runs:
        assert depth["values"][name] == pytest.approx(np.mean([r["values"][name] for r in families]))
    assert depth["reference"] == pytest.approx(np.mean([r["reference"] for r in families]))
    assert depth["best"] == "oracle"
    table = compare.comparison_table(runs, pooled=True)
    assert "| estimate | pooled (2 families) | depth |" in table and "| estimate | objects |" not in table
    # A run that lacks a family has no pooled value: a mean over fewer families would not compare.
    one_family = {**runs["noise"], "tasks": {"estimate": {"objects": runs["noise"]["tasks"]["estimate"]["objects"]}}}
    pooled = compare.pooled_rows(compare.comparison_rows({"oracle": runs["oracle"], "one family": one_family}))
    depth = next(r for r in pooled if (r["task"], r["modality"]) == ("estimate", "depth"))
    assert depth["values"]["one family"] is None and depth["best"] == "oracle"


def test_comparison_needs_a_run():
    with pytest.raises(ValueError, match="at least one"):
        compare.comparison_rows({})


def test_pooled_numbers_in_the_markdown_match_the_per_clip_rows(runs):
    results = runs["noise"]
    key = ("estimate", "objects", "flow", "model", "all", "epe")
    rows = [r["value"] for r in results["per_clip"]
            if (r["task"], r["family"], r["modality"], r["method"], r["scope"], r["metric"]) == key]
    assert results["tasks"]["estimate"]["objects"]["flow"]["model"]["all"]["epe"] == pytest.approx(np.mean(rows))


def test_a_panel_without_values_is_named_not_drawn_empty(runs, tmp_path, monkeypatch):
    """Joint generation has no ground-truth objects: its object-pixel panels would be empty. They are left
    out of joint.png and its footnote says which and why."""
    import matplotlib.figure

    titles, notes = [], []
    real_bars = report._bars
    monkeypatch.setattr(report, "_bars", lambda axis, groups, series, title: (titles.append(title),
                                                                              real_bars(axis, groups, series, title)))
    real_text = matplotlib.figure.Figure.text
    monkeypatch.setattr(matplotlib.figure.Figure, "text",
                        lambda self, x, y, s, *a, **k: (notes.append(s), real_text(self, x, y, s, *a, **k))[1])
    assert report.plot_task(runs["oracle"], "joint", report.PLOTTED["joint"], tmp_path / "joint.png") is not None
    assert titles and all(t.endswith("(all)") for t in titles)
    assert len(notes) == 1 and "(object)" in notes[0] and "no ground truth" in notes[0]
    titles.clear(), notes.clear()
    report.plot_task(runs["oracle"], "estimate", report.PLOTTED["estimate"], tmp_path / "estimate.png")
    assert any(t.endswith("(object)") for t in titles) and notes == []  # estimation has both scopes
