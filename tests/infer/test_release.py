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
    """With stage_weights the text encoder's, the VAE's and the DiT's weights wait in host memory; each is
    placed for its calls and its device buffers deleted after, so no two are ever on the chip together."""
    import contextlib

    import jax

    from unityvideo_jax.weights import host_weights

    _, want = videos
    placed, events, on_device = [], [], [0]
    real = host_weights.HostWeights.placed

    @contextlib.contextmanager
    def recorded(self):
        with real(self) as tree:
            on_device[0] += 1
            events.append((self.bytes, on_device[0]))
            placed.append(tree)
            yield tree
            on_device[0] -= 1

    monkeypatch.setattr(host_weights.HostWeights, "placed", recorded)
    pipe = Pipeline.from_release(files["release"], files["original"], config=get_config(), stage_weights=True)
    assert pipe.staged and pipe.text.weight_bytes > 0
    events.clear()
    got = _three_tasks(pipe)
    assert max(depth for _, depth in events) == 1  # one stage's weights at a time
    kinds = {size for size, _ in events}
    assert len(kinds) == 3 and pipe._dit.bytes in kinds and pipe.text.weight_bytes in kinds  # + the VAE's
    assert all(leaf.is_deleted() for tree in placed for leaf in jax.tree.leaves(tree))
    for a, b in zip(want, got):
        np.testing.assert_array_equal(a, b)


def test_the_text_encoder_can_run_on_the_host_cpu(files, videos):
    import jax

    _, want = videos
    pipe = Pipeline.from_release(files["release"], files["original"], config=get_config(), text_on="cpu")
    assert pipe.text._host.device == jax.devices("cpu")[0]
    for a, b in zip(want, _three_tasks(pipe)):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="text_on='gpu': expected 'chip' or 'cpu'"):
        Pipeline.from_release(files["release"], files["original"], config=get_config(), text_on="gpu")


def test_the_release_runs_two_aux_streams(videos):
    """The published weights were trained with one aux stream; the same weights estimate two
    modalities in one pass and generate a video under two (what that is worth is measured, not tested)."""
    pipe, (rgb, depth, _, _) = videos
    both = pipe.run_streams("estimate", ["depth", "flow"], video=rgb, prompt="the cat", steps=2, seed=1)
    assert set(both.aux) == {"depth", "flow"}
    assert all(v.shape == rgb.shape and v.dtype == np.uint8 for v in both.aux.values())
    under = pipe.run_streams("condition", [], conditions={"depth": depth, "flow": both.aux["flow"]},
                             prompt="the cat", steps=2, seed=2)
    assert under.rgb.shape == rgb.shape and under.rgb.std() > 0
    np.testing.assert_array_equal(under.aux["depth"], depth)  # a condition comes back as given
