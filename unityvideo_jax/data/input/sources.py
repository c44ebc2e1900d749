"""Record sources, one per data source: random access to records, and where a record lives.

`open_sources(config)` picks by `config.data.path`:
  ""                    UniSynth clips generated in memory by (family, index) (pixel space)
  a folder with manifest.json      shards written by `unityvideo preprocess` (writer.py)
  a folder with dataset_info.json  the UniSynth TFDS dataset (unisynth_tfds.py), read by tfds
Either folder may be a gs:// URL: the ArrayRecord reader needs local files, so each host stages the
manifest and the shards of the sources the run reads (every host draws from all of their records)
into its local cache, verified and reused (storage/staging.py; BENCHMARKS.md measures the choice).
Each source is a Sequence of record dicts (schema.py) with `locate(index)` for error messages;
readers open lazily, so sources pickle cheaply into Grain worker processes.
"""

from __future__ import annotations

import bisect
from pathlib import Path

import numpy as np

from unityvideo_jax import modalities
from unityvideo_jax.data.records import manifest as manifest_lib
from unityvideo_jax.data.records import schema
from unityvideo_jax.data.records.clip_records import clip_record
from unityvideo_jax.data.unisynth.clips import FAMILIES, render_clip
from unityvideo_jax.latents.shapes import stored_video_shape
from unityvideo_jax.model.text.encoders import text_encoder
from unityvideo_jax.storage import bucket
from unityvideo_jax.storage.paths import is_url
from unityvideo_jax.storage.staging import listing, stage

SYNTH_CLIPS = 1 << 24  # training seeds of in-memory UniSynth: 0 .. SYNTH_CLIPS - 1 per family


class _Located:
    """Shared by the file sources: a list of (file, count) and the global index -> file position."""

    def __init__(self, files: list[str], counts: list[int]):
        self.files, self.counts = files, counts
        self.starts = np.concatenate([[0], np.cumsum(counts)]).tolist()
        self._reader = None

    def __len__(self) -> int:
        return self.starts[-1]

    def locate(self, index: int) -> str:
        shard = bisect.bisect_right(self.starts, index) - 1
        return f"record {index - self.starts[shard]} of shard {self.files[shard]}"

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_reader": None}


class ShardRecords(_Located):
    """One source's ArrayRecord shards of a preprocess folder."""

    def __init__(self, directory: str | Path, shards: list[manifest_lib.Shard]):
        super().__init__([str(Path(directory) / s.file) for s in shards], [s.records for s in shards])

    def __getitem__(self, index: int) -> dict:
        if self._reader is None:
            from grain.sources import ArrayRecordDataSource

            self._reader = ArrayRecordDataSource(self.files)
        return schema.from_bytes(self._reader[int(index)])


class TfdsRecords(_Located):
    """One split of the UniSynth TFDS dataset."""

    def __init__(self, directory: str | Path, split: str):
        import tensorflow_datasets as tfds

        self.directory, self.split = str(directory), split
        info = tfds.builder_from_directory(self.directory).info.splits[split]
        super().__init__([str(Path(directory) / f) for f in info.filenames], list(info.shard_lengths))

    def __getitem__(self, index: int) -> dict:
        if self._reader is None:
            import tensorflow_datasets as tfds

            self._reader = tfds.builder_from_directory(self.directory).as_data_source(split=self.split)
        from unityvideo_jax.data.records.unisynth_tfds import flatten

        return flatten(self._reader[int(index)])


class SynthRecords:
    """UniSynth clips of one family rendered on demand: record `i` is the clip of seed `i`."""

    def __init__(self, family: str, config):
        d = config.data
        self.family, self.shape = family, (d.frames, d.height, d.width)
        self.modality_names = tuple(modalities.get(m).name for m in d.source_modalities[family])
        self.text_encoder = d.text_encoder

    def __len__(self) -> int:
        return SYNTH_CLIPS

    def __getitem__(self, index: int) -> dict:
        clip = render_clip(self.family, int(index), *self.shape)
        embedding = text_encoder(self.text_encoder).encode_one(clip.caption)
        record_id = f"{self.family}/{index}"
        return clip_record(clip, text=embedding, record_id=record_id, modality_names=self.modality_names, truth=False)

    def locate(self, index: int) -> str:
        return f"UniSynth clip {self.family}/{index}"


def _synth(config) -> dict:
    if config.data.latent != "pixel":
        raise ValueError(
            f"config.data.path is empty, so UniSynth is generated in memory, which works in the pixel latent space "
            f"only (config.data.latent={config.data.latent!r}): write records with `unityvideo preprocess` and set "
            "config.data.path"
        )
    unknown = [s for s in config.data.sources if s not in FAMILIES]
    if unknown:
        raise ValueError(
            f"config.data.sources {unknown} are not UniSynth families ({', '.join(FAMILIES)}): set config.data.path "
            "to preprocessed data holding them"
        )
    return {s: SynthRecords(s, config) for s in config.data.sources}


def _expect(config, found: tuple, where: str) -> None:
    d = config.data
    wanted = stored_video_shape(d.latent, d.frames, d.height, d.width)
    if tuple(found) != wanted:
        raise ValueError(
            f"{where} holds videos of shape {tuple(found)} but config.data (latent {d.latent}, {d.frames} frames, "
            f"{d.height}x{d.width}) needs {wanted}: set config.data.frames/height/width to match or preprocess again"
        )


def _missing(config, have: list[str], where: str) -> None:
    missing = [s for s in config.data.sources if s not in have]
    if missing:
        raise ValueError(f"{where} has no records of sources {missing} (it has {have}): fix config.data.sources")


def _shards(config, directory: Path) -> dict:
    m = manifest_lib.load(directory)
    d = config.data
    if (m.latent, m.text_encoder) != (d.latent, d.text_encoder):
        raise ValueError(
            f"{directory} was written with latent {m.latent!r} and text encoder {m.text_encoder!r}, config.data asks "
            f"for {d.latent!r} and {d.text_encoder!r}: use the matching config or preprocess again"
        )
    _missing(config, m.sources(), str(directory))
    _expect(config, m.video_shape, str(directory))
    if m.text_dim != config.model.text_dim:
        raise ValueError(
            f"{directory} holds {m.text_dim}-wide text embeddings but config.model.text_dim is "
            f"{config.model.text_dim}: preprocess with the config's text encoder"
        )
    return {s: ShardRecords(directory, m.shards_of(s)) for s in d.sources}


def _tfds(config, directory: Path) -> dict:
    import tensorflow_datasets as tfds

    if config.data.latent != "pixel":
        raise ValueError(f"{directory} is UniSynth in pixels; config.data.latent={config.data.latent!r} needs latents")
    info = tfds.builder_from_directory(str(directory)).info
    _missing(config, sorted(info.splits.keys()), str(directory))
    _expect(config, info.features["video"]["rgb"].shape, str(directory))
    return {s: TfdsRecords(directory, s) for s in config.data.sources}


def staged_data(config) -> Path:
    """The local copy of a gs:// config.data.path: the files this run reads, staged to the cache."""
    url = config.data.path
    bucket.check(url, write=False, what="config.data.path")
    names = listing(url, what="config.data.path")
    if manifest_lib.NAME in names:
        local = stage(url, [manifest_lib.NAME], what="config.data.path")
        wanted = [s.file for s in manifest_lib.load(local).shards if s.source in config.data.sources]
        return stage(url, [manifest_lib.NAME, *wanted], what="config.data.path")
    if "dataset_info.json" in names:
        return stage(url, names, what="config.data.path")  # a TFDS version folder is flat
    raise FileNotFoundError(
        f"config.data.path={url} holds neither manifest.json (a `unityvideo preprocess` output) nor "
        "dataset_info.json (a UniSynth TFDS version folder): upload the folder there or fix the path"
    )


def open_sources(config) -> dict:
    """{source name: record source} for every name in config.data.sources, in that order."""
    path = config.data.path
    if not path:
        return _synth(config)
    directory = staged_data(config) if is_url(path) else Path(path)
    if manifest_lib.exists(directory):
        return _shards(config, directory)
    if (directory / "dataset_info.json").is_file():
        return _tfds(config, directory)
    raise FileNotFoundError(
        f"config.data.path={path} holds neither manifest.json (a `unityvideo preprocess` output) nor "
        "dataset_info.json (a UniSynth TFDS version folder, e.g. <data_dir>/unisynth/tiny/1.2.0)"
    )
