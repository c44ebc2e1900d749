"""A bad bucket path gives one clear message and exit code 2, no traceback: a missing bucket, no
permission (a server that answers 403 to everything), a local path that looks like a URL, missing data."""

from __future__ import annotations

import http.server
import json
import subprocess
import sys
import threading

import pytest

from tests.storage.gcs_emulator import client_env

TRAIN = ["train", "--config", "tiny_paper", "--config.train.steps=1", "--config.parallel.devices=1", "--noprogress"]


def _cli(args: list[str], env: dict, cwd) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "unityvideo_jax.cli", *args], env=dict(env, XLA_FLAGS=""), cwd=cwd,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 2, (done.returncode, done.stderr[-3000:])
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    return done


class Forbidden(http.server.BaseHTTPRequestHandler):
    """Cloud Storage as an account without access sees it: 403 to every request."""

    def _answer(self):
        body = json.dumps({"error": {"code": 403, "message": "caller does not have storage.objects.create access",
                                     "errors": [{"reason": "forbidden"}]}}).encode()
        self.send_response(403)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _answer

    def log_message(self, *args):
        pass


@pytest.fixture
def forbidding_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Forbidden)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_a_missing_bucket_is_named_with_the_command_that_creates_it(gcs, tmp_path):
    err = _cli(TRAIN + ["--workdir", "gs://no-such-bucket/run"], gcs.env, tmp_path).stderr
    assert "unityvideo train: error: cannot use gs://no-such-bucket/run: the bucket gs://no-such-bucket does not exist" in err
    assert "gcloud storage buckets create gs://no-such-bucket" in err
    err = _cli(["sample", "--task", "joint", "--modality", "depth", "--checkpoint", "gs://no-such-bucket/ckpt",
                "--output", str(tmp_path / "x.mp4")], gcs.env, tmp_path).stderr
    assert "gs://no-such-bucket does not exist" in err


def test_no_permission_is_named_with_the_role_to_grant(gcs, tmp_path, forbidding_server):
    err = _cli(TRAIN + ["--workdir", "gs://locked/run"], dict(gcs.env, **client_env(forbidding_server)), tmp_path).stderr
    assert "no permission to write to gs://locked/run" in err and "roles/storage.objectAdmin" in err


def test_a_local_path_that_looks_like_a_url_is_refused_before_anything_is_written(gcs, tmp_path):
    err = _cli(TRAIN + ["--workdir", "gs:/bucket/run"], gcs.env, tmp_path).stderr
    assert "workdir 'gs:/bucket/run' looks like a Cloud Storage URL but is not one" in err
    assert "write 'gs://bucket/run'" in err
    assert list(tmp_path.iterdir()) == []  # no folder named gs: was made


def test_missing_data_in_a_bucket_is_named(gcs, tmp_path):
    bucket = gcs.new_bucket()
    err = _cli(TRAIN + ["--workdir", str(tmp_path / "run"), f"--config.data.path=gs://{bucket}/nothing"],
               dict(gcs.env, UNITYVIDEO_CACHE=str(tmp_path / "cache")), tmp_path).stderr
    assert f"config.data.path gs://{bucket}/nothing does not exist" in err
