"""`unityvideo preprocess` on generated mp4s: good rows land, broken rows are rejected with reasons,
and a run interrupted hard (buffered rows lost) resumes without touching or duplicating shards."""

from __future__ import annotations

import csv

import imageio
import numpy as np
import pytest

from unityvideo_jax import cli, get_config
from unityvideo_jax.data.ingest import preprocess as preprocess_lib
from unityvideo_jax.data.records import manifest as manifest_lib
from unityvideo_jax.data.records import schema
from unityvideo_jax.data.records.writer import DatasetWriter

pytestmark = pytest.mark.filterwarnings("ignore:os.fork")  # imageio writes through a fork+exec'd ffmpeg
FRAMES, SIZE = 5, 16
COLUMNS = ["video", "prompt", "depth", "raft", "segmentation", "source"]
GOOD = {0: "objects", 1: "two_person", 3: "two_person", 6: "objects", 8: "two_person"}
BROKEN = {  # row -> a piece of the reason rejects.csv must give
    2: "missing file",
    4: "cannot decode",
    5: "too short: 3 frames",
    7: "depth video has 9 frames but the video has 12",
    9: "missing file",
}


def moving_box(frames: int, shade: int) -> np.ndarray:
    video = np.full((frames, 48, 64, 3), shade, np.uint8)
    for t in range(frames):
        video[t, 12:36, 4 + 3 * t : 28 + 3 * t] = (250, 40, 40)  # a box moving right
    return video


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("videos")
    write = lambda name, video: imageio.mimwrite(root / name, video, fps=8, macro_block_size=1)  # noqa: E731
    for i in range(4):
        write(f"clip{i}.mp4", moving_box(12, 30 + 50 * i))
    write("depth.mp4", moving_box(12, 200))
    write("flow.mp4", moving_box(12, 120))
    write("seg.mp4", moving_box(12, 0))
    write("short.mp4", moving_box(3, 90))
    write("depth9.mp4", moving_box(9, 200))
    (root / "broken.mp4").write_bytes(b"this is not an mp4 file" * 20)
    rows = [
        ["clip0.mp4", "a red box slides right", "depth.mp4", "flow.mp4", "", "objects"],
        ["clip1.mp4", "two people", "depth.mp4", "flow.mp4", "seg.mp4", ""],
        ["nowhere.mp4", "missing", "depth.mp4", "", "", ""],
        ["clip2.mp4", "", "depth.mp4", "", "seg.mp4", ""],
        ["broken.mp4", "undecodable", "", "", "", ""],
        ["short.mp4", "too short", "", "", "", ""],
        ["clip3.mp4", "box again", "", "flow.mp4", "", "objects"],
        ["clip3.mp4", "misaligned", "depth9.mp4", "", "", ""],
        ["clip0.mp4", "only rgb and depth", "depth.mp4", "", "", ""],
        ["clip1.mp4", "missing modality", "depth.mp4", "gone.mp4", "", ""],
    ]
    with open(root / "meta.csv", "w", newline="") as f:
        table = csv.writer(f)
        table.writerow(COLUMNS)
        table.writerows(rows)
    return root


def tiny_config():
    config = get_config("tiny_paper")
    config.data.frames, config.data.height, config.data.width = FRAMES, SIZE, SIZE
    return config


def shard_rows(output) -> list[int]:
    return [row for shard in manifest_lib.load(output).shards for row in shard.rows]


def test_preprocess_resumes_after_a_hard_interruption(folder, tmp_path, monkeypatch):
    output = tmp_path / "out"
    real = preprocess_lib.row_record
    calls = []

    def dies_on_the_seventh_row(row, *args):
        calls.append(row.index)
        if len(calls) == 7:
            raise KeyboardInterrupt
        return real(row, *args)

    # First run: killed at row 6; like a kill -9, buffered rows and rejects are never committed.
    monkeypatch.setattr(preprocess_lib, "row_record", dies_on_the_seventh_row)
    monkeypatch.setattr(DatasetWriter, "close", lambda self: None)
    with pytest.raises(KeyboardInterrupt):
        preprocess_lib.preprocess(tiny_config(), folder / "meta.csv", folder, output, source="two_person", shard_size=1)
    monkeypatch.undo()
    first = {p.name: p.read_bytes() for p in output.glob("*.array_record")}
    assert sorted(shard_rows(output)) == [0, 1, 3]  # committed one shard per good row before row 6
    (output / ".tmp-objects-00009.array_record").write_bytes(b"half a shard")

    summary = preprocess_lib.preprocess(tiny_config(), folder / "meta.csv", folder, output, source="two_person",
                                        shard_size=1)  # fmt: skip
    assert (summary.written, summary.rejected) == (2, 4)
    assert summary.already_done == 4  # rows 0, 1, 3 and row 2's reject, committed with row 3's shard
    for name, data in first.items():
        assert (output / name).read_bytes() == data  # finished shards untouched
    rows = shard_rows(output)
    assert sorted(rows) == sorted(GOOD) and len(rows) == len(set(rows))
    assert not list(output.glob(".tmp-*"))
    with open(output / "rejects.csv") as f:
        rejects = {int(r["row"]): r["reason"] for r in csv.DictReader(f)}
    assert sorted(rejects) == sorted(BROKEN)
    for row, reason in BROKEN.items():
        assert reason in rejects[row], (row, rejects[row])
    # A third run has nothing left to do.
    again = preprocess_lib.preprocess(tiny_config(), folder / "meta.csv", folder, output, source="two_person")
    assert (again.written, again.rejected, again.already_done) == (0, 0, 10)


def test_records_hold_sampled_cropped_videos_and_their_modalities(folder, tmp_path):
    output = tmp_path / "out"
    preprocess_lib.preprocess(tiny_config(), folder / "meta.csv", folder, output, source="two_person", shard_size=8)
    m = manifest_lib.load(output)
    assert m.sources() == ["objects", "two_person"] and m.video_shape == [FRAMES, SIZE, SIZE, 3]
    from grain.sources import ArrayRecordDataSource

    found = {}
    for shard in m.shards:
        source = ArrayRecordDataSource([str(output / shard.file)])
        for i, row in enumerate(shard.rows):
            found[row] = schema.from_bytes(source[i])
    assert {row: r["source"] for row, r in found.items()} == GOOD
    assert schema.available_modalities(found[1]) == ("depth", "flow", "segmentation")
    assert schema.available_modalities(found[6]) == ("flow",)
    assert found[0]["caption"] == "a red box slides right" and found[0]["text"].shape[1] == 384
    # Frames 0, 3, 6, 8, 11 of 12, centre crop 48x48 of 48x64, scaled to 16x16: the box moves 3 px a frame.
    expect = moving_box(12, 30)[[0, 3, 6, 8, 11], :, 8:56][:, 1::3, 1::3]
    rgb = found[0][schema.RGB].astype(int)
    assert np.abs(rgb - expect).mean() < 12  # lossy mp4 and area scaling
    assert np.abs(rgb - moving_box(12, 30)[[0, 1, 2, 3, 4], :, 8:56][:, 1::3, 1::3]).mean() > 15


def test_pipeline_trains_on_preprocessed_shards(folder, tmp_path):
    from unityvideo_jax.data.input.iterator import make_iterator

    output = tmp_path / "out"
    preprocess_lib.preprocess(tiny_config(), folder / "meta.csv", folder, output, source="two_person")
    config = tiny_config()
    config.data.path, config.data.sources, config.data.global_batch = str(output), ("objects", "two_person"), 4
    batch = next(make_iterator(config, process_index=0, process_count=1))
    np.testing.assert_array_equal(batch["source"], [0, 1, 0, 1])
    assert batch["rgb"].shape == (4, FRAMES, SIZE // 2, SIZE // 2, 12)
    assert set(batch["modality"][batch["source"] == 0]) <= {0, 1}  # objects rows have depth and flow only


def test_cli_preprocess_runs_and_reports_user_errors(folder, tmp_path, capsys):
    args = ["preprocess", "--metadata", str(folder / "meta.csv"), "--root", str(folder), "--config", "tiny_paper",
            "--output", str(tmp_path / "out")]  # fmt: skip
    assert cli.main(args) == 2  # rows without a source and no --source
    assert "pass --source NAME" in capsys.readouterr().err
    bad = tmp_path / "bad.csv"
    bad.write_text("video,caption\nclip0.mp4,x\n")
    assert cli.main(["preprocess", "--metadata", str(bad), "--root", str(folder), "--config", "tiny_paper",
                     "--output", str(tmp_path / "o2"), "--source", "objects"]) == 2  # fmt: skip
    assert "has no column prompt" in capsys.readouterr().err


def test_preprocess_encodes_with_the_wan_vae_the_config_names(folder, tmp_path):
    """latent=wan21 stores the VAE's normalised latents (4x8x8 smaller, z channels), not pixels."""
    torch = pytest.importorskip("torch")
    diffusers = pytest.importorskip("diffusers")
    from unityvideo_jax.model.vae.weights import load_diffusers_vae

    torch.manual_seed(0)
    diffusers.AutoencoderKLWan(base_dim=8, z_dim=4, num_res_blocks=1, latents_mean=[0.0] * 4,
                               latents_std=[1.0] * 4).eval().save_pretrained(tmp_path / "vae")
    config = tiny_config()
    config.data.latent, config.data.vae_weights = "wan21", str(tmp_path / "vae")
    output = tmp_path / "out"
    preprocess_lib.preprocess(config, folder / "meta.csv", folder, output, source="two_person", shard_size=8)
    m = manifest_lib.load(output)
    assert m.latent == "wan21" and m.video_shape == [(FRAMES - 1) // 4 + 1, SIZE // 8, SIZE // 8, 4]
    from grain.sources import ArrayRecordDataSource

    shard = m.shards[0]
    record = schema.from_bytes(ArrayRecordDataSource([str(output / shard.file)])[0])
    latent = np.asarray(record[schema.RGB], np.float32)
    assert latent.shape == tuple(m.video_shape)
    # the same row preprocessed in pixels, encoded by the same VAE, gives the stored latent
    pixel_out = tmp_path / "pixels"
    preprocess_lib.preprocess(tiny_config(), folder / "meta.csv", folder, pixel_out, source="two_person",
                              shard_size=8)
    pm = manifest_lib.load(pixel_out)
    row = shard.rows[0]
    pixel_shard = next(s for s in pm.shards if row in s.rows)
    pixels = schema.from_bytes(ArrayRecordDataSource([str(pixel_out / pixel_shard.file)])[pixel_shard.rows.index(row)])
    vae = load_diffusers_vae(tmp_path / "vae")
    video = np.asarray(pixels[schema.RGB], np.float32)[None] / 127.5 - 1.0
    want = np.asarray(vae.normalize(vae.encode(video).mean))[0]
    np.testing.assert_allclose(latent, want, atol=2e-2 * float(np.abs(want).max()))  # stored as float16


def _preprocess_args(folder, tmp_path, *extra: str) -> list[str]:
    return ["preprocess", "--metadata", str(folder / "meta.csv"), "--root", str(folder), "--config", "tiny_paper",
            "--output", str(tmp_path / "out"), "--source", "two_person", *extra]  # fmt: skip


@pytest.fixture
def seen_configs(monkeypatch):
    """The configs `unityvideo preprocess` hands to the preprocess API (which does nothing here)."""
    seen = []

    def fake(config, *args, **kwargs):
        seen.append(config)
        return preprocess_lib.Summary()

    monkeypatch.setattr(preprocess_lib, "preprocess", fake)
    return seen


def test_cli_weight_flags_set_the_config_keys_of_the_same_name(folder, tmp_path, capsys, seen_configs):
    assert cli.main(_preprocess_args(folder, tmp_path, "--vae-weights", "/w/vae", "--text-encoder-weights",
                                     "/w/wan")) == 0  # fmt: skip
    assert (seen_configs[0].data.vae_weights, seen_configs[0].data.text_encoder_weights) == ("/w/vae", "/w/wan")
    assert "deprecated" not in capsys.readouterr().err
    assert cli.main(_preprocess_args(folder, tmp_path)) == 0  # not given: the config's (empty) folders stay
    assert (seen_configs[1].data.vae_weights, seen_configs[1].data.text_encoder_weights) == ("", "")


@pytest.mark.parametrize("old, new, key", [("--vae", "--vae-weights", "vae_weights"),
                                           ("--text-encoder", "--text-encoder-weights", "text_encoder_weights")])
def test_cli_old_weight_flags_still_work_and_name_the_new_one(folder, tmp_path, capsys, seen_configs, old, new, key):
    assert cli.main(_preprocess_args(folder, tmp_path, old, "/w/old")) == 0
    assert seen_configs[0].data[key] == "/w/old"
    err = capsys.readouterr().err
    assert f"{old} is deprecated" in err and f"use {new}" in err
    with pytest.raises(SystemExit):
        cli.main(["preprocess", "--help"])
    assert f"{old} " not in capsys.readouterr().out  # hidden from --help


def _wan_config_file(tmp_path, **data) -> str:
    path = tmp_path / "wan_tiny.py"
    settings = "".join(f"    config.data.{k} = {v!r}\n" for k, v in data.items())
    path.write_text("from unityvideo_jax.configs import tiny_paper\n\n\ndef get_config():\n"
                    "    config = tiny_paper.get_config()\n" + settings + "    return config\n")
    return str(path)


def test_cli_missing_vae_folder_names_the_flag_and_the_config_key(folder, tmp_path, capsys):
    config = _wan_config_file(tmp_path, latent="wan21", frames=FRAMES, height=SIZE, width=SIZE)
    args = _preprocess_args(folder, tmp_path)
    args[args.index("--config") + 1] = config
    assert cli.main(args) == 2  # no folder at all
    err = capsys.readouterr().err
    assert "--vae-weights" in err and "config.data.vae_weights" in err and "--vae " not in err, err
    assert cli.main(args + ["--vae-weights", str(tmp_path / "no_vae")]) == 2  # a folder that is not there
    err = capsys.readouterr().err
    assert "--vae-weights" in err and "config.data.vae_weights" in err and str(tmp_path / "no_vae") in err, err


def test_cli_missing_text_encoder_folder_names_the_flag_and_the_config_key(folder, tmp_path, capsys):
    config = _wan_config_file(tmp_path, text_encoder="umt5")
    args = _preprocess_args(folder, tmp_path)
    args[args.index("--config") + 1] = config
    for extra in ([], ["--text-encoder-weights", str(tmp_path / "no_wan")]):
        assert cli.main(args + extra) == 2
        err = capsys.readouterr().err
        assert "--text-encoder-weights" in err and "config.data.text_encoder_weights" in err, err


def test_old_api_keywords_warn_and_land_in_a_copy_of_the_config(folder, tmp_path, monkeypatch):
    seen = []
    monkeypatch.setattr(preprocess_lib, "_Encoders", lambda config: seen.append(config) or 1 / 0)
    config = tiny_config()
    with pytest.warns(DeprecationWarning, match="set config.data.vae_weights"), pytest.raises(ZeroDivisionError):
        preprocess_lib.preprocess(config, folder / "meta.csv", folder, tmp_path / "out", source="two_person",
                                  vae="/w/vae", text_weights="/w/wan")
    assert (seen[0].data.vae_weights, seen[0].data.text_encoder_weights) == ("/w/vae", "/w/wan")
    assert config.data.vae_weights == ""  # the caller's config is not changed
