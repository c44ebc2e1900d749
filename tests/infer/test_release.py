"""The published model in one call (Pipeline.from_release / `unityvideo sample --release --base`) on
tiny random weights written in exactly the published layouts (release_fixture.py): both base layouts
load and agree, the one call equals today's path (convert the release, then from_checkpoint with the
VAE and text encoder folders), and a missing or mis-shaped file is one clear error."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("diffusers")

from tests.infer.release_fixture import CONFIG, build  # noqa: E402
from tests.infer.release_fixture_config import get_config  # noqa: E402
from unityvideo_jax import cli  # noqa: E402
from unityvideo_jax.infer.pipeline import Pipeline  # noqa: E402
from unityvideo_jax.infer.release import base_folder  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:os.fork")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return build(tmp_path_factory.mktemp("release"))


def _three_tasks(pipe: Pipeline) -> list[np.ndarray]:
    """Joint generation, then estimation of its video and generation under its modality (2 steps each)."""
    joint = pipe.run("joint", "depth", prompt="the cat", steps=2, seed=0)
    estimate = pipe.run("estimate", "depth", video=joint.rgb, prompt="the cat", steps=2, seed=1)
    condition = pipe.run("condition", "depth", condition=joint.aux, prompt="the cat", steps=2, seed=2)
    return [joint.rgb, joint.aux, estimate.aux, condition.rgb]


@pytest.fixture(scope="module")
def videos(files):
    pipe = Pipeline.from_release(files["release"], files["original"], config=get_config())
    return pipe, _three_tasks(pipe)


def test_the_dit_is_kept_in_bf16_as_published(videos):
    import jax
    import jax.numpy as jnp

    pipe, _ = videos
    dtypes = {x.dtype for x in jax.tree.leaves(pipe.params) if jnp.issubdtype(x.dtype, jnp.floating)}
    assert dtypes == {jnp.dtype(jnp.bfloat16)}


def test_layouts_are_told_apart_by_their_files(files):
    assert base_folder(files["original"]).layout == "original"
    assert base_folder(files["diffusers"]).layout == "diffusers"


def test_both_base_layouts_give_the_same_videos(files, videos):
    pipe, original = videos
    assert pipe.config.data.vae_weights.endswith("Wan2.2_VAE.pth")
    assert original[0].shape == (1, 5, 64, 64, 3) and original[0].dtype == np.uint8
    diffusers = _three_tasks(Pipeline.from_release(files["release"], files["diffusers"], config=CONFIG))
    for a, b in zip(original, diffusers):
        np.testing.assert_array_equal(a, b)


def test_one_call_equals_the_parts_converted_separately(files, videos, tmp_path):
    _, one_call = videos
    from unityvideo_jax.convert.transfer import convert_checkpoint

    converted = convert_checkpoint(str(files["release"]), "release", get_config(), str(tmp_path / "converted"))
    parts = Pipeline.from_checkpoint(str(converted), vae_weights=str(files["diffusers"] / "vae"),
                                     text_encoder_weights=str(files["diffusers"]))
    for a, b in zip(one_call, _three_tasks(parts)):
        assert np.abs(a.astype(int) - b.astype(int)).max() <= 1  # uint8 videos: rounding at most


def test_sample_command_runs_the_release(files, tmp_path, capsys):
    out = tmp_path / "joint.mp4"
    assert cli.main(["sample", "--task", "joint", "--modality", "segmentation", "--prompt", "the cat",
                     "--release", str(files["release"]), "--base", str(files["diffusers"]), "--config", CONFIG,
                     "--output", str(out)]) == 0
    assert out.is_file() and (tmp_path / "joint.segmentation.mp4").is_file()


def test_a_missing_part_is_named_with_its_layout(files, tmp_path):
    broken = tmp_path / "original"
    shutil.copytree(files["original"], broken)
    shutil.rmtree(broken / "google")
    with pytest.raises(FileNotFoundError, match=r"original layout but lacks its tokenizer \(.*google/umt5-xxl\)"):
        Pipeline.from_release(files["release"], broken, config=get_config())
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"neither layout.*Wan2.2_VAE.pth.*vae, text_encoder, tokenizer"):
        Pipeline.from_release(files["release"], tmp_path / "empty", config=get_config())
    with pytest.raises(FileNotFoundError, match="release checkpoint .*gone.safetensors not found"):
        Pipeline.from_release(tmp_path / "gone.safetensors", files["original"], config=get_config())


def test_a_damaged_or_foreign_file_is_named(files, tmp_path):
    broken = tmp_path / "original"
    shutil.copytree(files["original"], broken)
    (broken / "models_t5_umt5-xxl-enc-bf16.pth").write_bytes(b"not a pickle" * 10)
    with pytest.raises(ValueError, match="models_t5_umt5-xxl-enc-bf16.pth is not a readable PyTorch state dict"):
        Pipeline.from_release(files["release"], broken, config=get_config())
    wider = get_config()
    wider.model.dim *= 2  # another model than the file holds
    with pytest.raises(ValueError, match=r"does not fit the release format of this config: wrong .* is \[64, 8, 1, 2, 2\], expected \[128"):
        Pipeline.from_release(files["release"], files["original"], config=wider)


def test_cli_names_what_release_needs(files, capsys):
    with pytest.raises(SystemExit):
        cli.main(["sample", "--task", "joint", "--modality", "depth", "--release", str(files["release"]),
                  "--output", "x.mp4"])
    assert "--release needs --base DIR" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["sample", "--task", "joint", "--modality", "depth", "--output", "x.mp4"])
    assert "pass one of --checkpoint DIR or --release FILE --base DIR" in capsys.readouterr().err


def test_staged_weights_take_turns_on_the_device_and_give_the_same_videos(files, videos, monkeypatch):
    """With stage_weights the text encoder's and the DiT's weights wait in host memory; each is placed for
    its stage and its device buffers deleted after, so the two are never on the chip together."""
    import jax

    from unityvideo_jax.infer import chip_stages

    _, want = videos
    events, placed = [], []
    real = chip_stages.HostWeights.placed

    def recorded(self):
        name = "dit" if self.bytes == pipe_dit_bytes[0] else "text"
        inner = real(self)
        tree = inner.__enter__()
        events.append(f"+{name}")
        placed.append(tree)
        try:
            yield tree
        finally:
            inner.__exit__(None, None, None)
            events.append(f"-{name}")

    pipe_dit_bytes = [None]
    monkeypatch.setattr(chip_stages.HostWeights, "placed", __import__("contextlib").contextmanager(recorded))
    pipe = Pipeline.from_release(files["release"], files["original"], config=get_config(), stage_weights=True)
    pipe_dit_bytes[0] = pipe._dit.bytes
    assert pipe.staged and pipe.text.weight_bytes > 0
    events.clear()
    got = _three_tasks(pipe)
    assert events == ["+text", "-text", "+dit", "-dit"] * 3  # one at a time, every task
    assert all(leaf.is_deleted() for tree in placed for leaf in jax.tree.leaves(tree))
    for a, b in zip(want, got):
        np.testing.assert_array_equal(a, b)


def test_hub_repo_ids_download_only_the_needed_files(files, monkeypatch):
    """A repo id instead of a path goes through huggingface_hub (stubbed here: no network), asking for the
    release file and, of the base, only the VAE, the text encoder and the tokenizer."""
    import huggingface_hub

    from unityvideo_jax.infer import release

    asked = []

    def snapshot(repo, allow_patterns):
        asked.append((repo, sorted(allow_patterns)))
        return str(files["diffusers" if repo.endswith("Diffusers") else "original"])

    def one_file(repo, filename):
        asked.append((repo, filename))
        return str(files["release"])

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", one_file)
    assert release.fetch_release("KlingTeam/UnityVideo") == files["release"]
    assert release.fetch_base("Wan-AI/Wan2.2-TI2V-5B") == files["original"]
    assert release.fetch_base("Wan-AI/Wan2.2-TI2V-5B-Diffusers") == files["diffusers"]
    assert asked == [
        ("KlingTeam/UnityVideo", "unityvideo_wan22_ti2v_5b_step15000_ema.safetensors"),
        ("Wan-AI/Wan2.2-TI2V-5B", ["Wan2.2_VAE.pth", "google/umt5-xxl/*", "models_t5_umt5-xxl-enc-bf16.pth"]),
        ("Wan-AI/Wan2.2-TI2V-5B-Diffusers", ["text_encoder/*", "tokenizer/*", "vae/*"]),
    ]

    def offline(*args, **kwargs):
        raise huggingface_hub.errors.LocalEntryNotFoundError("offline mode is enabled")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", offline)
    with pytest.raises(FileNotFoundError, match=r"cannot download Wan base \(original layout\) Wan-AI/Wan2.2-TI2V-5B "
                                                 r"from the Hugging Face Hub .*download Wan2.2_VAE.pth"):
        release.fetch_base("Wan-AI/Wan2.2-TI2V-5B")
    assert release.fetch_base(str(files["original"])) == files["original"]  # a local folder is used as it is


def test_the_text_encoder_can_run_on_the_host_cpu(files, videos):
    import jax

    _, want = videos
    pipe = Pipeline.from_release(files["release"], files["original"], config=get_config(), text_on="cpu")
    assert pipe.text._host.device == jax.devices("cpu")[0]
    for a, b in zip(want, _three_tasks(pipe)):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="text_on='gpu': expected 'chip' or 'cpu'"):
        Pipeline.from_release(files["release"], files["original"], config=get_config(), text_on="gpu")
