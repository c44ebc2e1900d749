"""Whole files and folders written so that no reader sees half of one, locally or in a bucket.

Locally a file is written under a temporary name beside its target, given the permissions a plain
write would have (file_modes.py), and renamed into place. A Cloud Storage object appears only when
its upload completes, so a remote file is written to a local temporary and uploaded in one request.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from unityvideo_jax.storage.bucket import object_name, bucket_errors, filesystem
from unityvideo_jax.storage.file_modes import match_umask
from unityvideo_jax.storage.paths import as_path, is_url


@contextlib.contextmanager
def atomic_output(path, *, what: str = "output") -> Iterator[Path]:
    """Yield a local temporary file path; when the block ends without error it becomes `path`.

    The temporary keeps `path`'s suffix (writers that choose a format by it still do). On an error
    nothing is left: no temporary, and `path` as it was.
    """
    target = as_path(path, what)
    remote = is_url(str(target))
    folder = None if remote else Path(str(target.parent))
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=target.suffix or ".tmp", dir=folder)
    os.close(fd)
    try:
        yield Path(tmp)
        if remote:
            with bucket_errors(str(target), "write"):
                filesystem().put_file(tmp, object_name(str(target)))
        else:
            match_umask(tmp)
            os.replace(tmp, str(target))
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_bytes(path, data: bytes) -> None:
    with atomic_output(path) as tmp:
        tmp.write_bytes(data)


def write_text(path, text: str) -> None:
    write_bytes(path, text.encode())


def read_text(path) -> str:
    target = as_path(path)
    with bucket_errors(str(target), "read"):
        return target.read_text()


@contextlib.contextmanager
def output_folder(path, *, what: str = "output folder") -> Iterator[Path]:
    """Yield a local folder whose files end up in `path`: itself when local (made if missing); for a
    URL a temporary folder uploaded file by file when the block ends without error, then removed."""
    target = as_path(path, what)
    if not is_url(str(target)):
        local = Path(str(target))
        local.mkdir(parents=True, exist_ok=True)
        yield local
        return
    local = Path(tempfile.mkdtemp(prefix="unityvideo-upload-"))
    try:
        yield local
        upload_tree(local, str(target))
    finally:
        shutil.rmtree(local, ignore_errors=True)


def upload_tree(local: Path, url: str) -> list[str]:
    """Upload every file under `local` to the same relative names under `url`; the URLs written."""
    fs, written = filesystem(), []
    with bucket_errors(url, "write"):
        for file in sorted(p for p in Path(local).rglob("*") if p.is_file()):
            name = f"{url.rstrip('/')}/{file.relative_to(local).as_posix()}"
            fs.put_file(str(file), object_name(name))
            written.append(name)
    return written
