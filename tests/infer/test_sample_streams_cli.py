"""`unityvideo sample` with several modalities (`--modality depth,flow`) and clean condition streams
(`--condition depth=a.mp4,skeleton=b.mp4`): one `Pipeline.run_streams` pass, one file per stream, a
JSON that lists every stream; bad flags are one line and exit code 2, before anything is loaded."""

from __future__ import annotations

import json

import numpy as np
import pytest
from flax import nnx

from unityvideo_jax import UnityDiT, cli, get_config
from unityvideo_jax.infer import files as files_lib
from unityvideo_jax.infer import pipeline as pipeline_lib
from unityvideo_jax.infer.video import write_mp4

pytestmark = pytest.mark.filterwarnings("ignore:os.fork")  # imageio writes through a fork+exec'd ffmpeg
FRAMES, SIZE = 5, 16


@pytest.fixture(scope="module")
def tiny():
    """A random tiny model on 5 x 16 x 16 pixel clips (the weights do not depend on the stream count)."""
    config = get_config("tiny_paper")
    config.data.update(frames=FRAMES, height=SIZE, width=SIZE)
    params = nnx.to_pure_dict(nnx.state(UnityDiT(config.model, rngs=nnx.Rngs(0)), nnx.Param))
    return pipeline_lib.Pipeline(config, params)


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """Input videos: RGB, two modality renderings of the same size, and one of another size."""
    folder = tmp_path_factory.mktemp("videos")
    rng = np.random.default_rng(0)
    shapes = {"rgb": (9, 32, 32), "depth": (9, 32, 32), "skeleton": (9, 32, 32), "wide": (9, 32, 48)}
    return {name: str(write_mp4(folder / f"{name}.mp4", rng.integers(0, 256, shape + (3,), dtype=np.uint8)))
            for name, shape in shapes.items()}


@pytest.fixture
def loaded(tiny, monkeypatch):
    """`sample --checkpoint` gets the tiny pipeline; records each load and each run_streams call."""
    calls = {"load": [], "streams": [], "run": []}

    def from_checkpoint(directory, **kwargs):
        calls["load"].append(directory)
        return tiny

    real_streams, real_run = pipeline_lib.Pipeline.run_streams, pipeline_lib.Pipeline.run

    def run_streams(self, task, generate, **kwargs):
        calls["streams"].append((task, list(generate), {k: np.shape(v) for k, v in kwargs["conditions"].items()}))
        return real_streams(self, task, generate, **kwargs)

    def run(self, task, modality, **kwargs):
        calls["run"].append((task, modality))
        return real_run(self, task, modality, **kwargs)

    monkeypatch.setattr(pipeline_lib.Pipeline, "from_checkpoint", staticmethod(from_checkpoint))
    monkeypatch.setattr(pipeline_lib.Pipeline, "run_streams", run_streams)
    monkeypatch.setattr(pipeline_lib.Pipeline, "run", run)
    return calls


def _sample(*args: str) -> list[str]:
    return ["sample", "--checkpoint", "ckpt", "--steps", "1", *args]


def _frames(path: str) -> np.ndarray:
    """A written mp4's frames as stored: uint8 (F, H, W, 3)."""
    import imageio_ffmpeg

    reader = imageio_ffmpeg.read_frames(path)
    width, height = next(reader)["size"]
    return np.stack([np.frombuffer(raw, np.uint8).reshape(height, width, 3) for raw in reader])


def test_two_modalities_write_both_outputs_and_the_json(loaded, videos, tmp_path, capsys):
    out = tmp_path / "out" / "clip.mp4"
    code = cli.main(_sample("--task", "estimate", "--modality", "depth,raft", "--input", videos["rgb"],
                            "--output", str(out)))
    assert code == 0, capsys.readouterr().err
    assert loaded["streams"] == [("estimate", ["depth", "flow"], {})] and loaded["run"] == []  # one pass
    names = sorted(p.name for p in out.parent.iterdir())
    assert names == ["clip.depth.mp4", "clip.flow.mp4", "clip.json", "clip.mp4", "clip.rgb.mp4"]
    record = json.loads((out.parent / "clip.json").read_text())
    assert record["task"] == "estimate" and record["modalities"] == ["depth", "flow"] and record["conditions"] == {}
    assert [(s["name"], s["role"]) for s in record["streams"]] == [("rgb", "input"), ("depth", "generated"),
                                                                  ("flow", "generated")]
    assert {s["name"]: s["file"] for s in record["streams"]} == {
        "rgb": str(out.parent / "clip.rgb.mp4"), "depth": str(out.parent / "clip.depth.mp4"),
        "flow": str(out.parent / "clip.flow.mp4")}
    assert record["files"]["side_by_side"] == str(out) and record["steps"] == 1 and record["input"] == videos["rgb"]
    assert _frames(str(out.parent / "clip.flow.mp4")).shape == (FRAMES, SIZE, SIZE, 3)
    assert _frames(str(out)).shape == (FRAMES, SIZE, 3 * SIZE + 2 * 2, 3)  # RGB | depth | flow
    assert "clip.flow.mp4" in capsys.readouterr().out


def test_conditions_parse_and_generate_the_rgb_under_all_of_them(loaded, videos, tmp_path, capsys):
    out = tmp_path / "cond.mp4"
    code = cli.main(_sample("--task", "condition", "--condition", f"depth={videos['depth']},skeleton={videos['skeleton']}",
                            "--prompt", "a person walks", "--output", str(out)))
    assert code == 0, capsys.readouterr().err
    shape = (1, FRAMES, SIZE, SIZE, 3)
    assert loaded["streams"] == [("condition", [], {"depth": shape, "skeleton": shape})]
    record = json.loads((tmp_path / "cond.json").read_text())
    assert record["conditions"] == {"depth": videos["depth"], "skeleton": videos["skeleton"]}
    assert [(s["name"], s["role"], s.get("source")) for s in record["streams"]] == [
        ("rgb", "generated", None), ("depth", "condition", videos["depth"]),
        ("skeleton", "condition", videos["skeleton"])]
    for name in ("rgb", "depth", "skeleton"):
        assert (tmp_path / f"cond.{name}.mp4").stat().st_size > 0


def test_parse_conditions_and_modalities():
    assert files_lib.parse_conditions(" depth = a.mp4 , raft=gs://b/c.mp4") == {"depth": "a.mp4",
                                                                              "flow": "gs://b/c.mp4"}
    assert files_lib.parse_modalities("depth, raft,segmentation") == ["depth", "flow", "segmentation"]
    assert files_lib.plan_streams("joint", "depth", None, None) == (["depth"], {})  # the single-stream run
    assert files_lib.plan_streams("estimate", "flow", "depth=a.mp4", "in.mp4") == (["flow"], {"depth": "a.mp4"})


def test_one_modality_keeps_the_single_stream_run(monkeypatch, tiny):
    seen = []
    monkeypatch.setattr(pipeline_lib.Pipeline, "from_checkpoint", staticmethod(lambda d, **k: tiny))
    monkeypatch.setattr(files_lib, "sample_to_files",
                        lambda pipe, task, modality, output, **k: seen.append(("one", modality)) or
                        {"files": {}, "timings": {"total_s": 0.0}})
    monkeypatch.setattr(files_lib, "streams_to_files",
                        lambda pipe, task, generate, output, **k: seen.append(("streams", generate, k["conditions"]))
                        or {"files": {}, "timings": {"total_s": 0.0}})
    assert cli.main(_sample("--task", "joint", "--modality", "raft", "--output", "o.mp4")) == 0
    assert cli.main(_sample("--task", "joint", "--modality", "depth", "--condition", "flow=f.mp4",
                            "--output", "o.mp4")) == 0
    assert seen == [("one", "raft"), ("streams", ["depth"], {"flow": "f.mp4"})]


BAD = [
    (["--task", "estimate", "--modality", "depth,depth", "--input", "RGB"], "the modality depth is named twice"),
    (["--task", "estimate", "--modality", "depth,flow,raft", "--input", "RGB"], "the modality flow is named twice"),
    (["--task", "estimate", "--modality", "depth", "--condition", "depth=DEPTH", "--input", "RGB"],
     "the modality depth is named twice (in --modality and --condition)"),
    (["--task", "condition", "--condition", "depth=DEPTH,depth=SKELETON"], "--condition names depth twice"),
    (["--task", "joint", "--modality", "depth,hands"], "unknown modality 'hands'"),
    (["--task", "condition", "--condition", "hands=DEPTH"], "unknown modality 'hands'"),
    (["--task", "condition", "--condition", "DEPTH"], "expected NAME=VIDEO pairs"),
    (["--task", "condition", "--condition", "depth=DEPTH,skeleton"], "--condition 'skeleton': expected NAME=VIDEO"),
    (["--task", "estimate", "--modality", "depth,flow"], "--task estimate needs --input: pass an RGB video"),
    (["--task", "estimate", "--modality", "depth"], "--task estimate needs --input: pass an RGB video"),
    (["--task", "condition", "--modality", "depth,flow", "--input", "DEPTH"], "needs one video per condition"),
    (["--task", "condition", "--condition", "depth=DEPTH", "--input", "RGB"], "takes no --input"),
    (["--task", "joint"], "--modality is required"),
]


@pytest.mark.parametrize("args, message", BAD)
def test_bad_flags_are_one_line_and_exit_code_2_before_loading(loaded, videos, tmp_path, capsys, args, message):
    for placeholder, name in (("RGB", "rgb"), ("DEPTH", "depth"), ("SKELETON", "skeleton")):
        args = [a.replace(placeholder, videos[name]) for a in args]
    code = cli.main(_sample(*args, "--output", str(tmp_path / "o.mp4")))
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and message in err and "Traceback" not in err, err
    assert loaded["load"] == [] and loaded["streams"] == [] and list(tmp_path.iterdir()) == []


def test_condition_videos_of_different_shapes_are_refused(loaded, videos, tmp_path, capsys):
    code = cli.main(_sample("--task", "condition", "--condition", f"depth={videos['depth']},skeleton={videos['wide']}",
                            "--output", str(tmp_path / "o.mp4")))
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert "the condition videos have different shapes" in err and "9x32x32" in err and "9x32x48" in err
    assert loaded["streams"] == [] and list(tmp_path.iterdir()) == []  # nothing sampled, nothing written
    # with --task estimate the RGB must match its extra clean streams too
    code = cli.main(_sample("--task", "estimate", "--modality", "depth", "--input", videos["wide"],
                            "--condition", f"skeleton={videos['skeleton']}", "--output", str(tmp_path / "o.mp4")))
    assert code == 2 and "different shapes" in capsys.readouterr().err and loaded["streams"] == []
