"""Data in a bucket: staging to the host's disk against reading records straight from Cloud Storage.

    python benchmarks/bucket_data.py [--per-source 8 --batches 10]

5B-release-shaped records (9 x 16 x 16 x 48 fp16 latents for RGB + 5 modalities, a 512 x 4096 fp16
text embedding: 5.3 MiB a record) are written to a local shard folder and uploaded to a Cloud
Storage emulator on 127.0.0.1 (fake-gcs-server, as the tests use). Then, per host:
  staging, cold      `stage` of the manifest and every shard: MB/s, verified by size and MD5
  staging, warm      the same call again (the stamps match: no download)
  staged reads       `make_iterator` samples/s on the staged copy (what training reads)
  direct reads       one ranged GET per record (the bytes of one record, at a random offset), as a
                     reader without staging would issue them: records/s
The ArrayRecord reader opens local files only, so "direct" is the floor any direct reader would pay
for its requests; the emulator is a local process, so both rates are this machine's, not a real
bucket's (a TPU VM reads GCS at hundreds of MB/s per host). Prints a table and the v5p-8 need.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

import numpy as np  # noqa: E402
from absl import flags  # noqa: E402

from data import V5P_STEP_SECONDS, _write, release_config, samples_per_second  # noqa: E402
from tests.storage.gcs_emulator import gcs_emulator  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-source", type=int, default=8, help="records per source (4 sources)")
    parser.add_argument("--batches", type=int, default=10)
    args = parser.parse_args()
    flags.FLAGS(sys.argv[:1])
    with tempfile.TemporaryDirectory() as tmp, gcs_emulator() as emulator:
        os.environ["UNITYVIDEO_CACHE"] = os.path.join(tmp, "cache")
        from unityvideo_jax.storage.bucket import filesystem
        from unityvideo_jax.storage.staging import stage

        local = os.path.join(tmp, "release")
        record_bytes = _write(local, args.per_source, "wan22", "umt5", (9, 16, 16, 48), np.float16, (512, 4096))
        bucket = emulator.new_bucket()
        fs = filesystem()
        fs.put(local + "/", f"{bucket}/release/", recursive=True)
        names = sorted(os.listdir(local))
        total = sum(os.path.getsize(os.path.join(local, n)) for n in names)
        url = f"gs://{bucket}/release"

        start = time.perf_counter()
        staged = stage(url, names)
        cold = time.perf_counter() - start
        start = time.perf_counter()
        stage(url, names)
        warm = time.perf_counter() - start
        staged_rate = samples_per_second(release_config(str(staged)), 0, args.batches)

        shards = [n for n in names if n.endswith(".array_record")]
        rng = random.Random(0)
        count = 4 * args.per_source
        start = time.perf_counter()
        for _ in range(count):
            shard = f"{bucket}/release/{rng.choice(shards)}"
            size = fs.size(shard)
            offset = rng.randrange(0, max(1, size - record_bytes))
            fs.cat_file(shard, start=offset, end=offset + record_bytes)
        direct_rate = count / (time.perf_counter() - start)

    need = 8 / V5P_STEP_SECONDS
    print(f"records: {4 * args.per_source} of {record_bytes / 2**20:.2f} MiB, {total / 2**20:.0f} MiB in {len(shards)} shards")
    print("| path | time | rate |")
    print("|---|---|---|")
    print(f"| staging, cold (download + MD5) | {cold:.2f} s | {total / cold / 2**20:.0f} MiB/s |")
    print(f"| staging, warm (stamps match) | {warm * 1000:.0f} ms | - |")
    print(f"| staged reads (make_iterator, in process) | - | {staged_rate:.1f} samples/s |")
    print(f"| direct ranged GETs, one per record | - | {direct_rate:.1f} records/s ({direct_rate * record_bytes / 2**20:.0f} MiB/s) |")
    print(f"v5p-8 host need: {need:.0f} samples/s ({need * record_bytes / 2**20:.0f} MiB/s); staged reads give "
          f"{staged_rate / need:.1f}x, direct GETs {direct_rate / need:.1f}x; staging the whole set takes "
          f"{cold:.1f} s here, {total / 2**20 / 200:.1f} s at 200 MiB/s")


if __name__ == "__main__":
    main()
