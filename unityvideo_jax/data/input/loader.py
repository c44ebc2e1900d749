"""One host's sample `j`: plan it (mixing.py), read it, draw its modality; `collate` makes the batch.

Host h of P takes positions [h b, (h + 1) b) of every global batch (b = B / P), so two hosts read
disjoint samples and together exactly the single-host batch. Each source is one Grain dataset of
record indices, shuffled per epoch by seed and repeated; a record that fails to read is counted
(bad_records.py) and the next one of the same stream takes its place, so batches stay balanced.
"""

from __future__ import annotations

import grain
import numpy as np

from unityvideo_jax import modalities
from unityvideo_jax.data.input.bad_records import BadRecords
from unityvideo_jax.data.input.mixing import Mixer
from unityvideo_jax.data.records import schema
from unityvideo_jax.latents import pixel
from unityvideo_jax.latents.shapes import stored_video_shape

MAX_TRIES = 32  # consecutive bad records in one stream before giving up regardless of the share


def _stream_seed(seed: int, source: str) -> int:
    # Per-source shuffle seeds that do not collide with another source's later epochs.
    entropy = [seed] + [ord(c) for c in source]
    return int(np.random.SeedSequence(entropy).generate_state(1)[0])


class SampleLoader:
    def __init__(self, config, sources: dict, mixer: Mixer, host: int, hosts: int):
        d = config.data
        if not 0 <= host < hosts:
            raise ValueError(f"process_index={host} is outside 0..{hosts - 1}")
        if d.global_batch % hosts:
            from unityvideo_jax.parallel.validate import nearest_multiples  # on error only: it brings flax

            raise ValueError(
                f"config.data.global_batch={d.global_batch} is not divisible by the {hosts} hosts: each host "
                f"takes an equal slice of every batch; a global batch of {nearest_multiples(d.global_batch, hosts)} "
                f"would divide (a resumed run keeps its batch: run it on a host count that divides {d.global_batch})"
            )
        self.batch, self.host, self.mixer = d.global_batch // hosts, host, mixer
        self.sources = [sources[name] for name in mixer.sources]
        self.streams = [
            grain.MapDataset.range(len(src)).shuffle(seed=_stream_seed(d.seed, name)).repeat()
            for name, src in zip(mixer.sources, self.sources)
        ]
        self.guard = BadRecords(d.max_bad_fraction)
        self.pixel = d.latent == "pixel"
        self.video_shape = stored_video_shape(d.latent, d.frames, d.height, d.width)
        self.text_len, self.text_dim = int(d.text_len), int(config.model.text_dim)
        self.aux_streams = int(config.model.get("aux_streams", 1))

    def __call__(self, j: int) -> dict:
        step, offset = divmod(int(j), self.batch)
        position = self.host * self.batch + offset
        source, k = self.mixer.slot(step, position)
        choices = self.mixer.choices(self.mixer.stage_at(step), source)
        record, modality = self._read(source, k, choices, step, position)
        if self.aux_streams > 1:  # up to k different modalities of the record, the rest absent
            allowed = self._allowed(record, choices)
            ids = self.mixer.draw_several(step, position, allowed, self.aux_streams)
            return {
                "rgb": record[schema.RGB],
                "aux": [record[schema.video_key(m)] for m in ids],
                "modality": ids,
                "text": self._text(record),
                "source": source,
            }
        return {
            "rgb": record[schema.RGB],
            "aux": record[schema.video_key(modality)],
            "modality": modality,
            "text": self._text(record),
            "source": source,
        }

    def collate(self, samples: list[dict]) -> dict:
        """Samples as stored -> the float32 batch; each array is written once, straight into place."""
        text = np.zeros((len(samples), self.text_len, self.text_dim), np.float32)
        for row, sample in zip(text, samples):
            row[: len(sample["text"])] = sample["text"]
        if self.aux_streams > 1:
            return {"rgb": self._latents([s["rgb"] for s in samples]), **self._streams(samples), "text": text,
                    "source": np.array([s["source"] for s in samples], np.int32)}
        return {
            "rgb": self._latents([s["rgb"] for s in samples]),
            "aux": self._latents([s["aux"] for s in samples]),
            "modality": np.array([s["modality"] for s in samples], np.int32),
            "text": text,
            "source": np.array([s["source"] for s in samples], np.int32),
        }

    def _streams(self, samples: list[dict]) -> dict:
        """aux (B, k, ...) latents, modality (B, k) ids and present (B, k); absent streams are zeros."""
        k = self.aux_streams
        first = self._latents([samples[0]["aux"][0]])[0]
        aux = np.zeros((len(samples), k) + first.shape, np.float32)
        modality = np.zeros((len(samples), k), np.int32)
        present = np.zeros((len(samples), k), bool)
        for row, sample in enumerate(samples):
            count = len(sample["modality"])
            aux[row, :count] = self._latents(sample["aux"])
            modality[row, :count] = sample["modality"]
            present[row, :count] = True
        return {"aux": aux, "modality": modality, "present": present}

    @staticmethod
    def _allowed(record: dict, choices: tuple) -> list[int]:
        have = {modalities.index(m) for m in schema.available_modalities(record)}
        return [m for m in choices if m in have]

    def _read(self, source: int, k: int, choices: tuple, step: int, position: int) -> tuple[dict, int]:
        records_of = self.sources[source]
        for attempt in range(MAX_TRIES):
            index = int(self.streams[source][k + attempt])
            try:
                record = records_of[index]
                self._check(record)
                allowed = self._allowed(record, choices)
                if not allowed:
                    names = [modalities.get(m).name for m in choices]
                    raise schema.RecordError(f"it has none of the modalities {names} its source should have")
            except Exception as err:  # noqa: BLE001  any read or decode failure is a bad record
                self.guard.failed(records_of.locate(index), err)
                continue
            self.guard.ok()
            return record, self.mixer.draw(step, position, allowed)
        raise schema.RecordError(
            f"{MAX_TRIES} consecutive records of source {self.mixer.sources[source]!r} failed to decode, the last "
            f"{records_of.locate(index)}: check that source's shards"
        )

    def _check(self, record: dict) -> None:
        video = record[schema.RGB]
        if video.shape != self.video_shape or (self.pixel and video.dtype != np.uint8):
            raise schema.RecordError(f"video is {video.dtype} {video.shape}, expected {self.video_shape}")

    def _latents(self, videos: list[np.ndarray]) -> np.ndarray:
        if self.pixel:
            return pixel.encode(np.stack(videos))
        out = np.empty((len(videos),) + self.video_shape, np.float32)
        for row, video in zip(out, videos):
            row[...] = video
        return out

    def _text(self, record: dict) -> np.ndarray:
        """The first text_len token embeddings, as stored (the config may keep fewer than a record has)."""
        tokens = record["text"][: self.text_len]
        if tokens.shape[1] != self.text_dim:
            raise ValueError(
                f"record {record['id']!r} has {tokens.shape[1]}-wide text embeddings but config.model.text_dim is "
                f"{self.text_dim}: preprocess with the config's text encoder (config.data.text_encoder)"
            )
        return tokens
