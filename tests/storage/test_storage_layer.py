"""The path layer by itself, against the emulated bucket: malformed URLs, bucket checks, atomic files
and folders, staging (verified, reused, resumed), and the log mirror a remote run writes through."""

from __future__ import annotations

import json

import pytest

from tests.eval.test_report import runs  # noqa: F401  (evaluation results of stand-in pipelines)
from unityvideo_jax.eval.report import write_report
from unityvideo_jax.storage import bucket
from unityvideo_jax.storage.atomic import atomic_output, output_folder, read_text, write_text
from unityvideo_jax.storage.mirror import MirroredFolder
from unityvideo_jax.storage.paths import BadPath, as_path, check, join
from unityvideo_jax.storage.staging import _verify, cache_path, stage


@pytest.mark.parametrize("path, fix", [
    ("gs:/bucket/run", "write 'gs://bucket/run'"),
    ("gcs://bucket/run", "write 'gs://bucket/run'"),
    ("gs:bucket/run", "write 'gs://bucket/run'"),
    ("s3://bucket/run", "not supported"),
    ("gs://", "names no bucket"),
])
def test_paths_that_only_look_like_urls_are_refused_with_the_fix(path, fix):
    with pytest.raises(BadPath, match="workdir") as err:
        check(path, "workdir")
    assert fix in str(err.value)


def test_local_paths_become_absolute_and_urls_stay_urls(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert str(as_path("runs/a")) == str(tmp_path / "runs" / "a")
    assert join("gs://b/run", "checkpoints") == "gs://b/run/checkpoints"
    assert join("runs", "checkpoints") == str(tmp_path / "runs" / "checkpoints")
    assert check("run:1") == "run:1"  # a legal local name, not a URL


def test_bucket_check_names_a_missing_bucket_and_a_missing_object(gcs):
    name = gcs.new_bucket()
    bucket.check(f"gs://{name}/run", write=True)  # exists and writable; the probe object is gone again
    assert bucket.filesystem().find(name) == []
    with pytest.raises(bucket.StorageAccessError, match=r"gs://no-such-bucket does not exist.*buckets create"):
        bucket.check("gs://no-such-bucket/run", write=True)
    with pytest.raises(bucket.StorageAccessError, match=r"config.data.path gs://.*/nothing does not exist"):
        bucket.check(f"gs://{name}/nothing", write=False, what="config.data.path")


def test_atomic_files_and_folders_appear_whole_in_the_bucket(gcs, tmp_path):
    name = gcs.new_bucket()
    write_text(f"gs://{name}/a/b.json", json.dumps({"x": 1}))
    assert json.loads(read_text(f"gs://{name}/a/b.json")) == {"x": 1}
    with pytest.raises(RuntimeError), atomic_output(f"gs://{name}/a/failed.bin") as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("the writer failed")
    assert not bucket.filesystem().exists(f"{name}/a/failed.bin")  # nothing half-written
    with output_folder(f"gs://{name}/report") as local:
        (local / "results.md").write_text("# r")
        (local / "plots").mkdir()
        (local / "plots" / "p.png").write_bytes(b"png")
    assert sorted(bucket.filesystem().find(f"{name}/report")) == [f"{name}/report/plots/p.png", f"{name}/report/results.md"]
    with output_folder(tmp_path / "local") as local:
        (local / "x").write_text("y")
    assert (tmp_path / "local" / "x").read_text() == "y"


def test_staging_verifies_reuses_and_repairs_local_copies(gcs, tmp_path, monkeypatch):
    monkeypatch.setenv("UNITYVIDEO_CACHE", str(tmp_path / "cache"))
    name = gcs.new_bucket()
    fs = bucket.filesystem()
    fs.pipe({f"{name}/data/a.bin": b"a" * 1000, f"{name}/data/sub/b.bin": b"b" * 10})
    local = stage(f"gs://{name}/data")
    assert (local / "a.bin").read_bytes() == b"a" * 1000 and (local / "sub" / "b.bin").read_bytes() == b"b" * 10
    assert local == cache_path(f"gs://{name}/data")
    before = (local / "a.bin").stat().st_mtime_ns
    assert stage(f"gs://{name}/data", ["a.bin"]) == local and (local / "a.bin").stat().st_mtime_ns == before  # reused
    (local / "a.bin").write_bytes(b"torn")  # a damaged copy (e.g. a disk that filled) is fetched again
    stage(f"gs://{name}/data", ["a.bin"])
    assert (local / "a.bin").read_bytes() == b"a" * 1000
    fs.pipe(f"{name}/data/a.bin", b"new")  # the object changed in the bucket: the stamp no longer matches
    assert stage(f"gs://{name}/data/a.bin").read_bytes() == b"new"
    part = tmp_path / "part"
    part.write_bytes(b"x" * 3)
    with pytest.raises(bucket.StorageAccessError, match="MD5"):
        _verify("gs://b/x", part, {"size": 3, "md5": "AAAAAAAAAAAAAAAAAAAAAA==", "generation": "1"})
    with pytest.raises(bucket.StorageAccessError, match="gave 3 bytes, the bucket says 4"):
        _verify("gs://b/x", part, {"size": 4, "md5": None, "generation": "1"})
    assert stage(str(tmp_path / "part")) == tmp_path / "part"  # a local path is used where it is


def test_the_log_mirror_uploads_whole_files_and_resumes_appending(gcs):
    name = gcs.new_bucket()
    mirror = MirroredFolder(f"gs://{name}/run", ("metrics.jsonl", "tensorboard"), min_interval_s=3600)
    (mirror.local / "metrics.jsonl").write_text("1\n")
    (mirror.local / "tensorboard").mkdir()
    (mirror.local / "tensorboard" / "events").write_bytes(b"e")
    (mirror.local / "other.txt").write_text("not a member")
    mirror.maybe_sync()  # rate-limited: nothing yet
    assert not bucket.filesystem().exists(f"{name}/run/metrics.jsonl")
    mirror.close()
    fs = bucket.filesystem()
    assert sorted(fs.find(f"{name}/run")) == [f"{name}/run/metrics.jsonl", f"{name}/run/tensorboard/events"]
    again = MirroredFolder(f"gs://{name}/run", ("metrics.jsonl", "tensorboard"))
    with open(again.local / "metrics.jsonl", "a") as f:
        f.write("2\n")
    again.close()
    assert fs.cat(f"{name}/run/metrics.jsonl") == b"1\n2\n"


def test_an_evaluation_report_is_written_into_the_bucket(gcs, runs, tmp_path):  # noqa: F811
    name = gcs.new_bucket()
    written = write_report(runs["oracle"], f"gs://{name}/report")
    local = write_report(runs["oracle"], tmp_path / "report")
    assert sorted(str(p) for p in written.values()) == sorted(f"gs://{name}/report/{p.name}" for p in local.values())
    fs = bucket.filesystem()
    assert fs.cat(f"{name}/report/results.json") == (tmp_path / "report" / "results.json").read_bytes()
    assert fs.cat(f"{name}/report/estimate.png")[:8] == b"\x89PNG\r\n\x1a\n"
