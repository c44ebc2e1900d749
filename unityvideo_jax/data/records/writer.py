"""Writing records into ArrayRecord shards plus `manifest.json`, atomically and resumably.

Records are buffered per source (a shard holds one source, so the pipeline reads one dataset per
source) and a full buffer becomes a shard: written to a temporary name, renamed, then listed in
the manifest. A finished shard is never rewritten; a shard file the manifest does not list is the
leftover of an interrupted commit and is removed when the folder is opened again.

A gs:// folder is written through a local copy in the cache: each finished shard is uploaded before
the manifest that lists it, so the bucket's manifest, too, names only complete shards, and a rerun
(on any machine) downloads it and goes on from there.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import re
from pathlib import Path

from array_record.python.array_record_module import ArrayRecordWriter

from unityvideo_jax.data.records import manifest as manifest_lib
from unityvideo_jax.data.records import schema
from unityvideo_jax.storage import bucket
from unityvideo_jax.storage.paths import check as check_path, is_url
from unityvideo_jax.storage.staging import cache_path

# One record per chunk: random access without decompressing neighbours. Pixels compress ~5x with
# zstd; latents and embeddings hardly at all, and reading them uncompressed is ~2x faster.
SHARD_OPTIONS = {"uint8": "group_size:1,zstd:1"}
DEFAULT_SHARD_OPTIONS = "group_size:1,uncompressed"
TEMP_PREFIX = ".tmp-"
SHARD_PATTERN = re.compile(r"^[A-Za-z0-9_]+-\d{5}\.array_record$")
REJECTS = "rejects.csv"


def write_shard(path: Path, payloads: list[bytes], options: str = DEFAULT_SHARD_OPTIONS) -> None:
    """Write one ArrayRecord file under a temporary name and rename it into place."""
    if path.exists():
        raise FileExistsError(f"{path} exists: a finished shard is never rewritten")
    temp = path.with_name(TEMP_PREFIX + path.name)
    writer = ArrayRecordWriter(str(temp), options)
    for payload in payloads:
        writer.write(payload)
    writer.close()
    os.replace(temp, path)


class DatasetWriter:
    """Append records to a shard folder: `add`, `reject`, then `close` (or use it as a context)."""

    def __init__(self, directory: str | Path, *, latent: str, text_encoder: str, shard_size: int = 64):
        if shard_size < 1:
            raise ValueError(f"shard_size={shard_size}: a shard holds at least one record")
        directory = check_path(directory, "--output")
        self.remote = directory if is_url(directory) else None
        self.directory = cache_path(directory, "writing") if self.remote else Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.shard_size = shard_size
        if self.remote:
            self._download_state()
        if manifest_lib.exists(self.directory):
            self.manifest = manifest_lib.load(self.directory)
            if (self.manifest.latent, self.manifest.text_encoder) != (latent, text_encoder):
                raise ValueError(
                    f"{self.directory} holds {self.manifest.latent}/{self.manifest.text_encoder} records, not "
                    f"{latent}/{text_encoder}: use another output folder or the config it was written with"
                )
        else:
            self.manifest = manifest_lib.Manifest(latent=latent, text_encoder=text_encoder)
        self._buffers: dict[str, list[tuple[bytes, int | None]]] = {}
        self._rejects: list[dict] = []
        self._remove_leftovers()

    def _download_state(self) -> None:
        """The bucket's manifest and rejects replace the local copy's (the bucket is the truth)."""
        bucket.check(self.remote, write=True, what="--output")
        fs = bucket.filesystem()
        for name in (manifest_lib.NAME, REJECTS):
            local, remote = self.directory / name, bucket.object_name(f"{self.remote}/{name}")
            local.unlink(missing_ok=True)
            with bucket.bucket_errors(self.remote, "read"):
                if fs.exists(remote):
                    fs.get_file(remote, str(local))

    def _upload(self, names: list[str]) -> None:
        if not self.remote:
            return
        fs = bucket.filesystem()
        with bucket.bucket_errors(self.remote, "write"):
            for name in names:
                fs.put_file(str(self.directory / name), bucket.object_name(f"{self.remote}/{name}"))

    def _remove_leftovers(self) -> None:
        listed = {s.file for s in self.manifest.shards}
        for path in self.directory.iterdir():
            leftover = path.name.startswith(TEMP_PREFIX) or (SHARD_PATTERN.match(path.name) and path.name not in listed)
            if leftover and path.is_file():
                logging.warning("removing %s: an unfinished write the manifest does not list", path)
                path.unlink()

    def add(self, record: dict, row: int | None = None) -> None:
        """Buffer one record (`row`: its metadata row, for resuming); a full buffer becomes a shard."""
        payload = schema.to_bytes(record)
        self._check_shapes(record)
        source = record["source"]
        if not re.fullmatch(r"[A-Za-z0-9_]+", source):
            raise ValueError(f"source name {source!r}: use letters, digits and underscores (it names the shard files)")
        self._buffers.setdefault(source, []).append((payload, row))
        if len(self._buffers[source]) >= self.shard_size:
            self._commit([source])

    def _check_shapes(self, record: dict) -> None:
        m, rgb, text = self.manifest, record[schema.RGB], record["text"]
        if m.video_shape is None:
            m.video_shape, m.video_dtype, m.text_dim = list(rgb.shape), rgb.dtype.name, int(text.shape[1])
        if (list(rgb.shape), rgb.dtype.name, int(text.shape[1])) != (m.video_shape, m.video_dtype, m.text_dim):
            raise ValueError(
                f"record {record['id']!r} has video {rgb.dtype} {rgb.shape} and text width {text.shape[1]}, but "
                f"{self.directory} holds {m.video_dtype} {tuple(m.video_shape)} and {m.text_dim}: one folder per config"
            )

    def reject(self, row: int, video: str, reason: str) -> None:
        """Note a metadata row that cannot become a record; it is saved with the next commit."""
        self._rejects.append({"row": int(row), "video": str(video), "reason": str(reason)})

    def _commit(self, sources: list[str]) -> None:
        for source in sources:
            buffer = self._buffers.pop(source, [])
            if not buffer:
                continue
            index = len(self.manifest.shards_of(source))
            name = f"{source}-{index:05d}.array_record"
            options = SHARD_OPTIONS.get(self.manifest.video_dtype, DEFAULT_SHARD_OPTIONS)
            write_shard(self.directory / name, [payload for payload, _ in buffer], options)
            self._upload([name])  # before the manifest lists it
            rows = [row for _, row in buffer if row is not None]
            self.manifest.shards.append(manifest_lib.Shard(name, source, len(buffer), rows))
        self.manifest.rejects.extend(self._rejects)
        self._rejects = []
        self._save_rejects()
        manifest_lib.save(self.directory, self.manifest)
        self._upload([REJECTS] * bool(self.manifest.rejects) + [manifest_lib.NAME])

    def _save_rejects(self) -> None:
        if not self.manifest.rejects:
            return
        text = io.StringIO()
        table = csv.DictWriter(text, fieldnames=["row", "video", "reason"])
        table.writeheader()
        table.writerows(self.manifest.rejects)
        temp = self.directory / f"{TEMP_PREFIX}{REJECTS}"
        temp.write_text(text.getvalue())
        os.replace(temp, self.directory / REJECTS)

    def close(self) -> None:
        """Write every partly filled buffer as a (short) shard and save the manifest."""
        self._commit(sorted(self._buffers))

    def __enter__(self) -> DatasetWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
