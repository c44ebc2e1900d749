"""Data pipeline throughput: per-host samples/s of `make_iterator` from ArrayRecord shards, and UniSynth.

    python benchmarks/data.py [--batches 20 --per-source 24 --workers 2]

Cases (global batch 8, one host, four sources):
  tiny pixel   records of 9 x 64 x 64 uint8 RGB + 5 modality videos, a 40 x 384 text embedding
  5B release   records of 9 x 16 x 16 x 48 float16 latents (RGB + 5 modalities), a full 512 x 4096
               float16 text embedding (the worst case: every token valid)
  UniSynth     in-memory clips (render + modality videos + MiniLM caption), as the pipeline makes them
each in-process (Grain threads) and with `--workers` prefetch processes. Shards are written under a
temporary folder (read back from the page cache: a cold disk or a bucket is slower). Rates are
the mean over `--batches` batches after two warm-up batches; the CPU may be shared, so they are a
floor. Prints a table.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
from absl import flags  # noqa: E402

from unityvideo_jax import get_config, modalities  # noqa: E402
from unityvideo_jax.data.records import schema as records  # noqa: E402  (RGB, video_key)
from unityvideo_jax.data.input.iterator import make_iterator  # noqa: E402
from unityvideo_jax.data.records.writer import DatasetWriter  # noqa: E402

SOURCES = ("single_person", "two_person", "objects", "mixed")
V5P_STEP_SECONDS = 1.0  # the 5B release step at global batch 8 on a v5p-8 (one host)


def _record(source: str, index: int, video_shape, video_dtype, text_shape) -> dict:
    rng = np.random.default_rng(index)
    if video_dtype == np.uint8:
        video = lambda: rng.integers(0, 256, video_shape, dtype=np.uint8)  # noqa: E731
    else:
        video = lambda: rng.standard_normal(video_shape).astype(video_dtype)  # noqa: E731
    record = {records.RGB: video(), "text": rng.standard_normal(text_shape).astype(np.float16)}
    record.update({records.video_key(name): video() for name in modalities.NAMES})
    record.update(caption="a benchmark clip", source=source, id=f"{source}/{index}")
    return record


def _write(directory: str, per_source: int, latent: str, text_encoder: str, video_shape, dtype, text_shape) -> int:
    with DatasetWriter(directory, latent=latent, text_encoder=text_encoder, shard_size=16) as writer:
        for source in SOURCES:
            for i in range(per_source):
                writer.add(_record(source, i, video_shape, dtype, text_shape))
    return sum(os.path.getsize(os.path.join(directory, f)) for f in os.listdir(directory)) // (4 * per_source)


def tiny_config(path: str):
    config = get_config("tiny_paper")
    config.data.path, config.data.frames, config.data.height, config.data.width = path, 9, 64, 64
    return config


def release_config(path: str):
    config = get_config("wan22_ti2v_5b_release")
    config.data.path, config.data.latent, config.data.text_encoder = path, "wan22", "umt5"
    config.model.text_dim = 4096
    return config


def samples_per_second(config, workers: int, batches: int) -> float:
    config.data.workers = workers
    iterator = make_iterator(config, process_index=0, process_count=1)
    for _ in range(2):
        next(iterator)  # warm-up: worker start, first reads, text-encoder compilation
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    seconds = time.perf_counter() - start
    iterator.close()
    return batches * config.data.global_batch / seconds


def unisynth_clips_per_second(count: int) -> tuple[float, float]:
    """(render only, render + 5 modality videos + caption embedding) clips/s of 9 x 64 x 64."""
    from unityvideo_jax.data.records.clip_records import clip_record
    from unityvideo_jax.data.unisynth.clips import render_clip
    from unityvideo_jax.model.text.encoders import text_encoder

    text = text_encoder("minilm")
    text.encode_one(render_clip("mixed", 0).caption)  # compile
    start = time.perf_counter()
    clips = [render_clip(SOURCES[i % 4], i) for i in range(count)]
    render = count / (time.perf_counter() - start)
    start = time.perf_counter()
    for i, clip in enumerate(clips):
        clip_record(clip, text=text.encode_one(clip.caption), record_id=str(i), truth=False)
    full = count / (time.perf_counter() - start + count / render)
    return render, full


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--per-source", type=int, default=24, help="records per source in each shard folder")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clips", type=int, default=16, help="UniSynth clips for the clips/s rate")
    args = parser.parse_args()
    flags.FLAGS(sys.argv[:1])
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tiny, release = os.path.join(tmp, "tiny"), os.path.join(tmp, "release")
        tiny_bytes = _write(tiny, args.per_source, "pixel", "minilm", (9, 64, 64, 3), np.uint8, (40, 384))
        release_bytes = _write(release, args.per_source, "wan22", "umt5", (9, 16, 16, 48), np.float16, (512, 4096))
        for name, make, size in (("tiny pixel", tiny_config(tiny), tiny_bytes),
                                 ("5B release", release_config(release), release_bytes)):  # fmt: skip
            for workers in (0, args.workers):
                rows.append((name, f"{size / 2**20:.2f} MiB", workers, samples_per_second(make, workers, args.batches)))
        synth = get_config("tiny_paper")
        synth.data.frames, synth.data.height, synth.data.width = 9, 64, 64
        for workers in (0, args.workers):
            rows.append(("UniSynth in memory", "-", workers, samples_per_second(synth, workers, max(3, args.batches // 4))))
    render, full = unisynth_clips_per_second(args.clips)
    need = 8 / V5P_STEP_SECONDS
    print(f"{'case':<20} {'record':>10} {'workers':>8} {'samples/s':>10}")
    for name, size, workers, rate in rows:
        print(f"{name:<20} {size:>10} {workers:>8} {rate:>10.1f}")
    print(f"UniSynth 9x64x64 clips/s: {render:.1f} rendered, {full:.1f} as records (5 modality videos + MiniLM caption)")
    best = max(rate for name, _, _, rate in rows if name == "5B release")
    print(f"v5p-8 host needs {need:.0f} samples/s for the 5B release step (batch 8 in ~{V5P_STEP_SECONDS:.0f} s): "
          f"{'met' if best >= need else 'NOT met'} ({best / need:.0f}x)")


if __name__ == "__main__":
    main()
