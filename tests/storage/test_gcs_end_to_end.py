"""A pod run's whole life on an emulated bucket (fake-gcs-server on 127.0.0.1): train with the run
folder and the data in gs://, compared with the same run on local folders; SIGKILL and resume from
the bucket; export and convert weights to and from the bucket; sample from a checkpoint in it; and
preprocess straight into it."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

from tests.data.ingest.test_preprocess import folder, tiny_config  # noqa: F401  (the fixture is used below)
from tests.train.test_resume_after_kill import PARK, _dataset
from unityvideo_jax.data.ingest import preprocess as preprocess_lib
from unityvideo_jax.data.records import manifest as manifest_lib
from unityvideo_jax.storage.bucket import filesystem
from unityvideo_jax.weights import params_io

STEPS, EVERY, KILL_AT = 12, 4, 6  # the kill lands past checkpoint 4; steps 4..5 are lost and redone


def _command(workdir: str, data: str, *, park: Path | None = None) -> list[str]:
    program = ["-m", "unityvideo_jax.cli"] if park is None else [str(PARK), str(KILL_AT), str(park)]
    return [sys.executable, *program, "train", "--config", "tiny_paper", "--workdir", workdir,
            f"--config.train.steps={STEPS}", f"--config.train.checkpoint_every={EVERY}", "--config.train.log_every=2",
            "--config.parallel.devices=1", f"--config.data.path={data}", "--config.data.frames=3",
            "--config.data.height=16", "--config.data.width=16", "--config.data.text_len=16", "--trace_data",
            "--noprogress"]


def _env(gcs, cache: Path) -> dict:
    return dict(gcs.env, XLA_FLAGS="", UNITYVIDEO_CACHE=str(cache))


def _run(args: list[str], env: dict) -> subprocess.CompletedProcess:
    done = subprocess.run(args, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.fixture(scope="module")
def runs(gcs, tmp_path_factory):
    """The same 12 steps trained twice: on local folders, and with run folder and data in the bucket."""
    tmp = tmp_path_factory.mktemp("gcs_runs")
    data = _dataset(tmp)
    name = gcs.new_bucket()
    filesystem().put(data + "/", f"{name}/data/", recursive=True)
    env = _env(gcs, tmp / "cache")
    _run(_command(str(tmp / "local"), data), env)
    _run(_command(f"gs://{name}/run", f"gs://{name}/data"), env)
    return dict(tmp=tmp, bucket=name, env=env, local=str(tmp / "local"), remote=f"gs://{name}/run",
                data=f"gs://{name}/data")


def _final(workdir: str) -> dict:
    options = ocp.CheckpointManagerOptions(read_only=True)
    with ocp.CheckpointManager(f"{workdir}/checkpoints", options=options) as manager:
        items = {k: ocp.args.StandardRestore() for k in ("params", "ema", "opt_state", "meta")}
        restored = manager.restore(manager.latest_step(), args=ocp.args.Composite(**items))
    return {k: [np.asarray(x) for x in jax.tree.leaves(v)] for k, v in restored.items()}


def _read(workdir: str, name: str) -> bytes:
    return filesystem().cat(f"{workdir[5:]}/{name}") if workdir.startswith("gs://") else (Path(workdir) / name).read_bytes()


def _files(workdir: str) -> set[str]:
    if workdir.startswith("gs://"):
        return {n[len(workdir) - 4:] for n in filesystem().find(workdir[5:])}
    return {str(p.relative_to(workdir)) for p in Path(workdir).rglob("*") if p.is_file()}


def _trace(workdir: str) -> list[str]:
    by_step = {}
    for line in _read(workdir, "data_trace.jsonl").decode().splitlines():
        record = json.loads(line)
        by_step[record["step"]] = record["batch"]  # a resumed run rewrites the steps after its checkpoint
    return [by_step[s] for s in sorted(by_step)]


def _assert_same_state(a: str, b: str) -> None:
    x, y = _final(a), _final(b)
    for item in ("params", "opt_state", "ema", "meta"):
        assert len(x[item]) == len(y[item]) and all(np.array_equal(u, v) for u, v in zip(x[item], y[item])), item
    assert _trace(a) == _trace(b) and len(_trace(a)) == STEPS


def _normalised(name: str) -> str:
    name = re.sub(r"/d/[0-9a-f]{32}$", "/d/BLOB", name)  # TensorStore's OCDBT blobs get random names
    return re.sub(r"tfevents\..*$", "tfevents.HOST", name)  # time and host name


def test_a_run_in_the_bucket_equals_the_same_run_on_local_folders(runs):
    local, remote = runs["local"], runs["remote"]
    _assert_same_state(local, remote)
    assert {_normalised(n) for n in _files(local)} == {_normalised(n) for n in _files(remote)}
    for name in (f"checkpoints/{STEPS}/data/metadata", "data_trace.jsonl"):  # contents without a clock in them
        assert _read(local, name) == _read(remote, name), name
    config = lambda d: json.loads(_read(d, f"checkpoints/{STEPS}/config/metadata"))  # noqa: E731
    a, b = config(local), config(remote)
    assert (a["data"].pop("path"), b["data"].pop("path")) == (str(runs["tmp"] / "data/unisynth/kill/1.2.0"), runs["data"])
    assert a == b
    losses = lambda d: [(r["step"], r["loss"]) for r in map(json.loads, _read(d, "metrics.jsonl").splitlines())]  # noqa: E731
    assert losses(local) == losses(remote) and len(losses(local)) == STEPS // 2


def test_resume_from_the_bucket_after_sigkill_is_bit_exact(runs, tmp_path):
    split, parked = f"gs://{runs['bucket']}/split", tmp_path / "parked"
    proc = subprocess.Popen(_command(split, runs["data"], park=parked), env=runs["env"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    committed = f"{runs['bucket']}/split/checkpoints/{EVERY}/commit_success.txt"
    deadline = time.time() + 600
    while not (parked.is_file() and filesystem().exists(committed)):
        assert proc.poll() is None and time.time() < deadline, "the run did not park after its first checkpoint"
        time.sleep(0.1)
        filesystem().invalidate_cache()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    steps = sorted(int(n.rsplit("/", 1)[1]) for n in filesystem().ls(f"{runs['bucket']}/split/checkpoints")
                   if n.rsplit("/", 1)[1].isdigit())
    assert steps == [EVERY]
    _run(_command(split, runs["data"]), runs["env"])
    _assert_same_state(runs["remote"], split)


def test_weights_go_to_and_come_from_the_bucket_and_sample_from_it(runs):
    bucket, env = runs["bucket"], runs["env"]
    cli = [sys.executable, "-m", "unityvideo_jax.cli"]
    _run(cli + ["export", "--format", "release", "--checkpoint", f"{runs['remote']}/checkpoints",
                "--output", f"gs://{bucket}/weights/model.safetensors", "--dtype", "float32"], env)
    _run(cli + ["convert", "--format", "release", "--input", f"gs://{bucket}/weights/model.safetensors",
                "--config", "tiny_paper", "--output", f"gs://{bucket}/converted"], env)
    ema = params_io.load_params(f"{runs['remote']}/checkpoints", item=params_io.EMA_ITEM)
    converted = params_io.load_params(f"gs://{bucket}/converted")
    a, b = jax.tree.leaves(ema), jax.tree.leaves(converted)
    assert len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))

    done = _run(cli + ["sample", "--task", "joint", "--modality", "depth", "--prompt", "a box",
                       "--checkpoint", f"gs://{bucket}/converted", "--output", f"gs://{bucket}/samples/joint.mp4",
                       "--steps", "2"], env)
    names = sorted(n.rsplit("/", 1)[1] for n in filesystem().ls(f"{bucket}/samples"))
    assert names == ["joint.depth.mp4", "joint.json", "joint.mp4", "joint.rgb.mp4"], done.stdout
    record = json.loads(filesystem().cat(f"{bucket}/samples/joint.json"))
    assert record["files"]["rgb"] == f"gs://{bucket}/samples/joint.rgb.mp4"
    assert filesystem().cat(f"{bucket}/samples/joint.mp4")[4:8] == b"ftyp"  # an mp4


def test_preprocess_writes_into_the_bucket_and_resumes_there(gcs, folder, tmp_path, monkeypatch):  # noqa: F811
    from unityvideo_jax.data.input.iterator import make_iterator

    monkeypatch.setenv("UNITYVIDEO_CACHE", str(tmp_path / "cache"))
    name = gcs.new_bucket()
    url, local = f"gs://{name}/records", tmp_path / "records"
    remote_summary = preprocess_lib.preprocess(tiny_config(), folder / "meta.csv", folder, url, source="two_person")
    preprocess_lib.preprocess(tiny_config(), folder / "meta.csv", folder, local, source="two_person")
    fs = filesystem()
    written = sorted(n.rsplit("/", 1)[1] for n in fs.ls(f"{name}/records"))
    assert written == sorted(p.name for p in local.iterdir())
    for file in written:
        assert fs.cat(f"{name}/records/{file}") == (local / file).read_bytes(), file
    assert remote_summary.written > 0
    again = preprocess_lib.preprocess(tiny_config(), folder / "meta.csv", folder, url, source="two_person")
    assert (again.written, again.already_done) == (0, remote_summary.written + remote_summary.rejected)
    assert len(manifest_lib.Manifest(**{**json.loads(fs.cat(f"{name}/records/manifest.json")), "shards": []}).rejects) > 0

    def first_batch(path):
        config = tiny_config()
        config.data.path, config.data.sources, config.data.global_batch = path, ("objects", "two_person"), 4
        return next(make_iterator(config, process_index=0, process_count=1))

    a, b = first_batch(str(local)), first_batch(url)
    assert sorted(a) == sorted(b) and all(np.array_equal(a[k], b[k]) for k in a)
