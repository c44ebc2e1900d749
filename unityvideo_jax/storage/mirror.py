"""A run's growing logs (metrics.jsonl, TensorBoard events, data traces, profiles) when the run folder
is a gs:// URL.

Cloud Storage objects cannot be appended to, so the logs are written in a local temporary folder and
uploaded as whole files: by `sync()` (rate-limited by `maybe_sync`, forced at checkpoints and at the
end). On start the members that already exist in the bucket are downloaded first, so a resumed run
appends to them as it does locally. For a local run folder the mirror is the folder itself.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from unityvideo_jax.storage.bucket import bucket_errors, filesystem, object_name
from unityvideo_jax.storage.paths import as_path, is_url


class MirroredFolder:
    """`local` is where to write the `members` (file or folder names relative to the run folder)."""

    def __init__(self, workdir, members: tuple[str, ...], *, min_interval_s: float = 30.0):
        self.url = str(as_path(workdir, "workdir"))
        self.members, self.min_interval_s = tuple(members), min_interval_s
        self._uploaded: dict[str, tuple[int, int]] = {}
        self._last = time.monotonic()
        if not is_url(self.url):
            self.local = Path(self.url)
            self.local.mkdir(parents=True, exist_ok=True)
            return
        self.local = Path(tempfile.mkdtemp(prefix="unityvideo-run-logs-"))
        fs = filesystem()
        with bucket_errors(self.url, "read the logs in"):
            for member in self.members:
                remote = object_name(f"{self.url}/{member}")
                for name in fs.find(remote) if fs.exists(remote) else []:
                    relative = name[len(object_name(self.url)) + 1:]
                    (self.local / relative).parent.mkdir(parents=True, exist_ok=True)
                    fs.get_file(name, str(self.local / relative))
                    self._uploaded[relative] = self._signature(self.local / relative)

    @property
    def remote(self) -> bool:
        return is_url(self.url)

    @staticmethod
    def _signature(path: Path) -> tuple[int, int]:
        stat = path.stat()
        return stat.st_size, stat.st_mtime_ns

    def sync(self) -> None:
        """Upload every member file that changed since its last upload (nothing to do locally)."""
        self._last = time.monotonic()
        if not self.remote:
            return
        fs = filesystem()
        with bucket_errors(self.url, "write the logs to"):
            for member in self.members:
                root = self.local / member
                files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
                for file in files:
                    relative = file.relative_to(self.local).as_posix()
                    signature = self._signature(file)
                    if self._uploaded.get(relative) != signature:
                        fs.put_file(str(file), object_name(f"{self.url}/{relative}"))
                        self._uploaded[relative] = signature

    def maybe_sync(self) -> None:
        if self.remote and time.monotonic() - self._last >= self.min_interval_s:
            self.sync()

    def close(self) -> None:
        """Upload what changed and drop the local copy (a remote run's only)."""
        self.sync()
        if self.remote:
            shutil.rmtree(self.local, ignore_errors=True)
