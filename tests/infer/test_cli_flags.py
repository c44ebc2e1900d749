"""One name per setting: the weight folders are `--vae-weights` / `--text-encoder-weights` on every verb
and `config.data.vae_weights` / `config.data.text_encoder_weights` in the config; sampling settings
are named after `config.infer`; old spellings keep working for one release and say what replaced them.

Sample is covered here with its pipeline; train and aot share the CLI's flag helpers and are checked
here too (with their heavy work replaced), since a run's config is what `Pipeline.from_checkpoint` reads.
"""

from __future__ import annotations

import numpy as np
import pytest

from unityvideo_jax import cli, get_config
from unityvideo_jax.infer import files as files_lib
from unityvideo_jax.infer import pipeline as pipeline_lib
from unityvideo_jax.model.vae.latent_space import latent_space
from unityvideo_jax.weights import params_io

pytestmark = pytest.mark.filterwarnings("ignore:os.fork")  # imageio writes through a fork+exec'd ffmpeg
SAMPLE = ["sample", "--task", "joint", "--modality", "depth", "--checkpoint", "ckpt", "--output", "out.mp4"]


def test_missing_vae_folder_names_the_flag_and_the_config_key(tmp_path):
    with pytest.raises(ValueError, match=r"--vae-weights DIR \(config\.data\.vae_weights\)"):
        latent_space("wan21")
    with pytest.raises(FileNotFoundError, match=r"--vae-weights \(config\.data\.vae_weights\) .*no_vae does not"):
        latent_space("wan22", str(tmp_path / "no_vae"))


@pytest.fixture
def saved(monkeypatch):
    """The config `Pipeline.from_checkpoint` finds; loading the weights fails the test (folders come first)."""
    config = get_config("tiny_paper")

    def no_weights(*args, **kwargs):
        raise AssertionError("the weights were loaded before the weight folders were checked")

    monkeypatch.setattr(params_io, "load_config", lambda directory: config)
    monkeypatch.setattr(params_io, "has_item", lambda *args: False)
    monkeypatch.setattr(params_io, "load_params", no_weights)
    return config


def test_from_checkpoint_folders_replace_the_saved_ones_before_the_weights_load(saved, tmp_path):
    saved.data.update(latent="wan21", vae_weights="/the/training/machine/vae")
    with pytest.raises(FileNotFoundError, match="/the/training/machine/vae does not exist"):
        pipeline_lib.Pipeline.from_checkpoint("ckpt")
    with pytest.raises(FileNotFoundError, match=f"{tmp_path / 'here'} does not exist"):
        pipeline_lib.Pipeline.from_checkpoint("ckpt", vae_weights=str(tmp_path / "here"))
    saved.data.update(vae_weights="")
    with pytest.raises(ValueError, match=r"pass --vae-weights DIR \(config\.data\.vae_weights\)"):
        pipeline_lib.Pipeline.from_checkpoint("ckpt")
    saved.data.update(latent="pixel", text_encoder="umt5")
    with pytest.raises(FileNotFoundError, match=r"--text-encoder-weights \(config\.data\.text_encoder_weights\)"):
        pipeline_lib.Pipeline.from_checkpoint("ckpt", text_encoder_weights=str(tmp_path / "no_wan"))


@pytest.fixture
def sample_calls(monkeypatch):
    """What `unityvideo sample` asks of the pipeline (nothing is loaded or sampled)."""
    calls = {}

    def from_checkpoint(directory, **kwargs):
        calls["load"] = kwargs
        return "pipeline"

    def sample_to_files(pipeline, task, modality, output, **kwargs):
        calls["sample"] = kwargs
        return {"files": {"rgb": output}, "timings": {"total_s": 0.0}}

    monkeypatch.setattr(pipeline_lib.Pipeline, "from_checkpoint", staticmethod(from_checkpoint))
    monkeypatch.setattr(files_lib, "sample_to_files", sample_to_files)
    return calls


def test_sample_flags_reach_the_pipeline_under_their_config_names(sample_calls, capsys):
    assert cli.main(SAMPLE + ["--vae-weights", "/w/vae", "--text-encoder-weights", "/w/wan", "--guidance", "7.5",
                              "--steps", "3", "--method", "heun"]) == 0  # fmt: skip
    assert sample_calls["load"] == dict(ema=True, vae_weights="/w/vae", text_encoder_weights="/w/wan")
    given = sample_calls["sample"]
    assert (given["guidance"], given["steps"], given["method"]) == (7.5, 3, "heun")
    assert "deprecated" not in capsys.readouterr().err
    assert cli.main(SAMPLE) == 0  # nothing given: the checkpoint's config decides
    assert sample_calls["load"] == dict(ema=True, vae_weights=None, text_encoder_weights=None)
    given = sample_calls["sample"]
    assert (given["guidance"], given["steps"], given["method"]) == (None, None, None)


def test_sample_cfg_is_the_old_spelling_of_guidance(sample_calls, capsys):
    assert cli.main(SAMPLE + ["--cfg", "7.5"]) == 0
    assert sample_calls["sample"]["guidance"] == 7.5
    err = capsys.readouterr().err
    assert "--cfg is deprecated" in err and "use --guidance" in err
    with pytest.raises(SystemExit):
        cli.main(["sample", "--help"])
    assert "--cfg" not in capsys.readouterr().out  # hidden from --help


class _StandIn:
    """A pipeline with the real `sampling` and a `run` that returns blank videos."""

    sampling = pipeline_lib.Pipeline.sampling

    def __init__(self, config):
        self.config, self.calls = config, []

    def run(self, task, modality, **kwargs):
        self.calls.append(kwargs)
        blank = np.zeros((1, 5, 16, 16, 3), np.uint8)
        return pipeline_lib.Output(rgb=blank, aux=blank, timings={"total_s": 0.0})


def test_sampling_settings_default_to_config_infer(tmp_path):
    config = get_config("tiny_paper")
    config.infer.update(steps=7, guidance=2.5, method="heun")
    pipe = _StandIn(config)
    assert pipe.sampling() == (7, 2.5, "heun")
    assert pipe.sampling(3, 1.0, "euler") == (3, 1.0, "euler")
    record = files_lib.sample_to_files(pipe, "joint", "depth", str(tmp_path / "o.mp4"), steps=4)
    assert (record["steps"], record["guidance"], record["method"]) == (4, 2.5, "heun")  # the JSON says what ran
    assert (pipe.calls[0]["steps"], pipe.calls[0]["guidance"], pipe.calls[0]["method"]) == (4, 2.5, "heun")


def test_train_weight_flags_land_in_the_run_config(monkeypatch, tmp_path):
    from unityvideo_jax.train import loop

    seen = []

    def fake_train(config, workdir, iterator, **kwargs):
        seen.append(config)
        raise loop.TrainingStopped("stopped by the test")

    monkeypatch.setattr(loop, "train", fake_train)
    run = ["train", "--config", "tiny_paper", "--workdir", str(tmp_path)]
    assert cli.main(run + ["--vae-weights", "/w/vae", "--text-encoder-weights=/w/wan"]) == 1
    assert (seen[0].data.vae_weights, seen[0].data.text_encoder_weights) == ("/w/vae", "/w/wan")
    assert cli.main(run + ["--config.data.text_encoder_weights=/w/key"]) == 1  # the config key itself works too
    assert (seen[1].data.vae_weights, seen[1].data.text_encoder_weights) == ("", "/w/key")


def test_aot_flags_are_named_after_their_config_keys(monkeypatch, capsys):
    from unityvideo_jax.aot import plan as plan_lib

    seen = []
    monkeypatch.setattr(plan_lib, "plan", lambda config, topology, **kwargs: seen.append(config))
    monkeypatch.setattr(plan_lib, "format_plan", lambda result: "planned")
    aot = ["aot", "--config", "tiny_paper", "--topology", "v5p-8", "--no-sampler"]
    assert cli.main(aot + ["--global-batch", "16", "--remat-policy", "full"]) == 0
    assert (seen[0].data.global_batch, seen[0].model.remat_policy) == (16, "full")
    assert "deprecated" not in capsys.readouterr().err
    assert cli.main(aot + ["--batch", "32", "--remat", "dots"]) == 0  # the old spellings, for one release
    assert (seen[1].data.global_batch, seen[1].model.remat_policy) == (32, "dots")
    err = capsys.readouterr().err
    assert "--batch is deprecated" in err and "use --global-batch" in err
    assert "--remat is deprecated" in err and "use --remat-policy" in err

