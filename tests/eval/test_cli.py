"""`unityvideo eval`: the verb writes the report; bad input is one line and exit code 2."""

from __future__ import annotations

import json

import pytest

from tests.eval.stand_ins import OraclePipeline
from unityvideo_jax import cli, get_config


@pytest.mark.parametrize("args, message", [
    (["--checkpoint", "/no/such/checkpoint"], "--checkpoint /no/such/checkpoint is not a directory"),
    (["--families", "two_person,dogs"], "families ['dogs']"),
    (["--tasks", "estimate,train"], "tasks ['train']"),
])
def test_bad_input_is_one_line_and_exit_code_2(tmp_path, capsys, args, message):
    base = {"--checkpoint": str(tmp_path), "--output": str(tmp_path / "out")}
    for flag, value in zip(args[::2], args[1::2]):
        base[flag] = value
    code = cli.main(["eval"] + [x for pair in base.items() for x in pair])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and message in err, err


def test_eval_writes_the_report(tmp_path, capsys, monkeypatch):
    from unityvideo_jax.infer import pipeline as pipeline_lib

    config = get_config("tiny_paper")
    loaded = []

    def from_checkpoint(directory, *, ema=True, vae_weights=None, text_encoder_weights=None):
        loaded.append((directory, ema))
        return OraclePipeline(config, ["objects"], 1, seed=3)

    monkeypatch.setattr(pipeline_lib.Pipeline, "from_checkpoint", staticmethod(from_checkpoint))
    code = cli.main(["eval", "--checkpoint", str(tmp_path), "--families", "objects", "--count", "1", "--seed", "3",
                     "--steps", "4", "--estimate-steps", "2", "--tasks", "estimate", "--no-ema",
                     "--output", str(tmp_path / "out")])
    assert code == 0 and loaded == [(str(tmp_path), False)]
    assert "results.md" in capsys.readouterr().out
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert (results["settings"]["steps"], results["settings"]["estimate_steps"]) == (4, 2)
    assert set(results["tasks"]) == {"estimate"}
    assert results["tasks"]["estimate"]["objects"]["segmentation"]["model"]["all"]["miou"] == 1.0
    assert (tmp_path / "out" / "estimate.png").is_file() and not (tmp_path / "out" / "joint.png").exists()


def test_eval_flags_are_named_after_their_config_keys(tmp_path, capsys, monkeypatch):
    from unityvideo_jax.infer import pipeline as pipeline_lib

    config = get_config("tiny_paper")
    config.infer.update(steps=3, guidance=2.0)
    loaded = []

    def from_checkpoint(directory, **kwargs):
        loaded.append(kwargs)
        return OraclePipeline(config, ["objects"], 1, seed=3)

    monkeypatch.setattr(pipeline_lib.Pipeline, "from_checkpoint", staticmethod(from_checkpoint))
    run = ["eval", "--checkpoint", str(tmp_path), "--families", "objects", "--count", "1", "--seed", "3",
           "--tasks", "estimate", "--output", str(tmp_path / "out")]
    assert cli.main(run + ["--vae-weights", "/w/vae", "--text-encoder-weights", "/w/wan"]) == 0
    assert loaded[-1] == dict(ema=True, vae_weights="/w/vae", text_encoder_weights="/w/wan")
    settings = json.loads((tmp_path / "out" / "results.json").read_text())["settings"]
    assert (settings["steps"], settings["guidance"]) == (3, 2.0)  # not given: the checkpoint's config.infer
    assert "deprecated" not in capsys.readouterr().err
    assert cli.main(run + ["--cfg", "4.5"]) == 0  # the old spelling of --guidance, for one release
    assert loaded[-1] == dict(ema=True, vae_weights=None, text_encoder_weights=None)
    assert json.loads((tmp_path / "out" / "results.json").read_text())["settings"]["guidance"] == 4.5
    err = capsys.readouterr().err
    assert "--cfg is deprecated" in err and "use --guidance" in err
