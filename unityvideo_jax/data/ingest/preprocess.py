"""Real videos -> record shards.

    unityvideo preprocess --metadata FILE.csv --root DIR --config NAME --output DIR
        [--vae-weights DIR] [--text-encoder-weights DIR]

Per metadata row: decode the video and each modality video (video_io.py), check they are aligned,
encode them with the config's latent space and the prompt with its text encoder (encoders.py),
and hand the record to the shard writer. A row that cannot become a record goes to rejects.csv
with the reason and the job goes on. Rerunning the same command resumes: rows the manifest lists
as done are skipped and finished shards are left untouched.

The Wan VAE and umT5 folders come from the config: `config.data.vae_weights` and
`config.data.text_encoder_weights` (the flags `--vae-weights` and `--text-encoder-weights` set them).
"""

from __future__ import annotations

import dataclasses
import logging
import warnings
from pathlib import Path

import numpy as np

from unityvideo_jax.data.ingest.metadata import Row, read_metadata
from unityvideo_jax.data.ingest.video_reader import VideoError, read_video, sample_frames
from unityvideo_jax.data.records import encoders, schema
from unityvideo_jax.data.records.writer import DatasetWriter
from unityvideo_jax.model.text.encoders import text_encoder

# Label-like renderings keep hard edges when resized; the rest are resized smoothly.
SCALER = {"segmentation": "nearest", "skeleton": "nearest"}


class Rejected(ValueError):
    """A metadata row that cannot become a record (the reason goes to rejects.csv)."""


@dataclasses.dataclass
class Summary:
    written: int = 0
    rejected: int = 0
    already_done: int = 0


class _Encoders:
    def __init__(self, config):
        d = config.data
        self.video = encoders.video_encoder(d.latent, d.get("vae_weights", "") or None)
        self.text = text_encoder(d.text_encoder, d.get("text_encoder_weights", "") or None)
        if self.text.dim != config.model.text_dim:
            raise ValueError(
                f"text encoder {d.text_encoder} is {self.text.dim} wide but config.model.text_dim is "
                f"{config.model.text_dim}: use a config whose model matches config.data.text_encoder"
            )


def _clip(path: Path, config, scaler: str, column: str) -> tuple[np.ndarray, int]:
    d = config.data
    if not path.is_file():
        raise Rejected(f"missing file {path} (column {column})")
    try:
        video = read_video(path, d.height, d.width, scaler)
        return sample_frames(video, d.frames, path), len(video)
    except VideoError as err:
        raise Rejected(f"{err} (column {column})") from err


def row_record(row: Row, root: Path, source: str, config, coders: _Encoders) -> dict:
    """The record of one metadata row; Rejected with the reason if it cannot be made."""
    if not row.video:
        raise Rejected("empty `video` cell")
    rgb, count = _clip(root / row.video, config, "smooth", "video")
    record = {schema.RGB: coders.video(rgb)}
    for name, relative in row.modalities.items():
        video, other = _clip(root / relative, config, SCALER.get(name, "smooth"), name)
        if other != count:
            raise Rejected(f"{name} video has {other} frames but the video has {count}: they are not aligned")
        record[schema.video_key(name)] = coders.video(video)
    text = coders.text.encode_one(row.prompt).astype(np.float16)
    record.update(text=text, caption=row.prompt, source=source, id=f"row {row.index}: {row.video}")
    return record


def _source_of(row: Row, default: str | None, sources: tuple[str, ...]) -> str:
    source = row.source or default
    if source not in sources:
        raise Rejected(f"source {source!r} is not one of config.data.sources {sources}")
    return source


RENAMED = {"vae": "vae_weights", "text_weights": "text_encoder_weights"}  # old keyword -> config.data key


def _renamed_into_config(config, **old):
    """`config` with the values of deprecated keyword arguments moved to their config.data keys (a copy)."""
    given = {name: value for name, value in old.items() if value is not None}
    if not given:
        return config
    config = config.copy_and_resolve_references()
    with config.unlocked():
        for name, value in given.items():
            key = RENAMED[name]
            warnings.warn(f"preprocess({name}=...) is deprecated and will be removed in the next release: set "
                          f"config.data.{key} instead", DeprecationWarning, stacklevel=3)
            config.data[key] = value
    return config


def preprocess(
    config,
    metadata: str | Path,
    root: str | Path,
    output: str | Path,
    *,
    source: str | None = None,
    shard_size: int = 64,
    vae: str | None = None,
    text_weights: str | None = None,
) -> Summary:
    """Encode every row of `metadata` (paths relative to `root`) into shards under `output`.

    `source` names the data source of rows without a `source` column value (one of
    config.data.sources). The Wan VAE and umT5 folders are `config.data.vae_weights` and
    `config.data.text_encoder_weights`; `vae` and `text_weights` are their deprecated old names
    (kept for one release, with a DeprecationWarning).
    """
    config = _renamed_into_config(config, vae=vae, text_weights=text_weights)
    rows = read_metadata(metadata)
    sources = tuple(config.data.sources)
    if source is None and any(r.source is None for r in rows):
        raise ValueError(
            f"{metadata} has rows without a `source` value: pass --source NAME (one of {', '.join(sources)})"
        )
    if source is not None and source not in sources:
        raise ValueError(f"--source {source!r} is not one of config.data.sources: {', '.join(sources)}")
    root = Path(root)
    summary = Summary()
    with DatasetWriter(output, latent=config.data.latent, text_encoder=config.data.text_encoder,
                       shard_size=shard_size) as writer:  # fmt: skip
        done = writer.manifest.done_rows()
        coders = _Encoders(config)
        for row in rows:
            if row.index in done:
                summary.already_done += 1
                continue
            try:
                record = row_record(row, root, _source_of(row, source, sources), config, coders)
            except Rejected as err:
                logging.warning("row %d rejected: %s", row.index, err)
                writer.reject(row.index, row.video, str(err))
                summary.rejected += 1
                continue
            writer.add(record, row=row.index)
            summary.written += 1
    return summary
