"""A short `unityvideo demo` writes every file its report promises."""

from __future__ import annotations

import json

from unityvideo_jax.cli import main
from unityvideo_jax.data.unisynth.clips import TRAIN_FAMILIES


def test_short_demo_writes_the_whole_report(tmp_path, capsys):
    out = tmp_path / "demo"
    code = main(["demo", "--output", str(out), "--budget-steps", "20", "--clips-per-family", "4", "--eval-count", "1",
                 "--steps", "1", "--samples", "1"])
    assert code == 0
    assert str(out / "index.html") in capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 20
    for name in ("index.html", "loss_curves.png", "metrics/results.json", "metrics/results.md"):
        assert (out / name).stat().st_size > 0, name
    # the shipped long-budget weights scored on the same clips, side by side with this run
    budgets = (out / "budgets.md").read_text()
    assert "| this run | 50,000 steps (demo_long, shipped) |" in budgets
    assert "Two budgets" in (out / "index.html").read_text()
    assert (out / "metrics_demo_long" / "results.json").stat().st_size > 0
    config_modalities = {  # what configs/base.py says each source has
        "single_person": ("depth", "flow", "skeleton", "densepose"),
        "two_person": ("depth", "flow", "segmentation", "skeleton", "densepose"),
        "objects": ("depth", "flow", "segmentation"),
        "mixed": ("depth", "flow", "segmentation", "skeleton", "densepose"),
    }
    page = (out / "index.html").read_text()
    for family in TRAIN_FAMILIES:
        for modality in config_modalities[family]:
            for task in ("estimate", "condition", "joint"):
                for ext in ("mp4", "gif"):
                    path = out / "videos" / f"{task}_{family}_{modality}.{ext}"
                    assert path.stat().st_size > 0, path
                assert f"videos/{task}_{family}_{modality}.gif" in page
        for ext in ("mp4", "gif"):  # the one-pass estimate of every modality of the family
            assert (out / "videos" / f"estimate_streams_{family}.{ext}").stat().st_size > 0
    results = json.loads((out / "metrics" / "results.json").read_text())
    assert set(results["tasks"]) == {"joint", "estimate", "condition", "estimate_streams"}
    assert set(results["tasks"]["estimate_streams"]["mixed"]) == set(config_modalities["mixed"])
    rows = [json.loads(line) for line in (out / "run" / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["step"] == 20 and all(r["loss"] > 0 for r in rows)
