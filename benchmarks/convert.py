"""Weights in and out at the released 5B size: import, convert to Orbax, export, against a plain read.

    python benchmarks/convert.py [--layers 30] [--param-dtype bfloat16|float32] [--dir /tmp/...] [--keep]

Writes a random bf16 checkpoint with the release names and shapes of `wan22_ti2v_5b_release`
(30 layers: 837 tensors, 10.0 GB; fewer with --layers), then runs each step in its own process
and reports wall time and that process's peak RSS:
  read     safetensors.safe_open(framework="numpy").get_tensor of every tensor, each dropped at once
  load     safetensors.numpy.load_file: every tensor read and kept (the baseline: a read whose
           result is held, like an import's, pays for the fresh memory it fills)
  import   load_torch_checkpoint -> a UnityDiT with JAX arrays of --param-dtype
  convert  import + save_params (the Orbax checkpoint `unityvideo convert` writes)
  export   Orbax checkpoint -> release safetensors in bf16 (`unityvideo export`)
and checks the exported tensors are byte-identical to the input. The page cache is warm (the file
was just written), for the baseline and for us alike. --repeat N runs read, load and import N times
each, interleaved, and keeps each one's fastest run (first touches of fresh memory in a VM vary a
lot from run to run).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

CONFIG = "wan22_ti2v_5b_release"
STEPS = ("read", "load", "import", "convert", "export")
BASELINE = "load"


def _config(layers: int, param_dtype: str):
    from unityvideo_jax import get_config

    config = get_config(CONFIG)
    config.model.num_layers = layers
    config.model.param_dtype = param_dtype
    return config


def write_random(path: Path, config) -> int:
    """Random finite bf16 tensors (exponents near 1) with the release names; returns the file size."""
    from flax import nnx

    from unityvideo_jax.convert.table import expected_tensors
    from unityvideo_jax.convert.torch_checkpoint import abstract_model, table_for
    from unityvideo_jax.model.dit.spec import from_config
    from unityvideo_jax.weights.safetensors_file import DTYPES, write_safetensors
    from unityvideo_jax.weights.tree import flatten

    spec = from_config(config.model)
    params = flatten(nnx.to_pure_dict(nnx.state(abstract_model(config), nnx.Param)))
    shapes = expected_tensors(table_for("release", spec), {k: v.shape for k, v in params.items()}, spec.num_layers)
    rng = np.random.default_rng(0)
    pool = (rng.integers(0, 1 << 16, 1 << 24, dtype=np.uint16) & 0x807F) | (rng.integers(120, 128, 1 << 24, dtype=np.uint16) << 7)

    def produce(name):
        size = int(np.prod(shapes[name]))
        start = int(rng.integers(0, pool.size))
        bits = np.resize(np.roll(pool, -start)[: min(size, pool.size)], size)
        return bits.view(DTYPES["BF16"]).reshape(shapes[name])

    write_safetensors(path, {n: (s, DTYPES["BF16"]) for n, s in shapes.items()}, produce)
    return path.stat().st_size


def run_step(step: str, work: Path, layers: int, param_dtype: str) -> None:
    """One step in this process (the driver measures its peak RSS)."""
    import jax
    from flax import nnx
    from safetensors import safe_open

    from unityvideo_jax.convert.torch_checkpoint import load_torch_checkpoint
    from unityvideo_jax.convert.transfer import export_checkpoint
    from unityvideo_jax.weights.params_io import save_params

    source, ckpt, out = work / "release.safetensors", work / "ckpt", work / "export.safetensors"
    config = _config(layers, param_dtype)
    sys0 = resource.getrusage(resource.RUSAGE_SELF).ru_stime
    start, cpu = time.perf_counter(), time.process_time()  # after the imports, the same for every step
    if step == "read":
        with safe_open(source, framework="numpy") as handle:
            total = sum(handle.get_tensor(name).nbytes for name in handle.keys())
        assert total > 0
    elif step == "load":
        from safetensors.numpy import load_file

        tensors = load_file(source)
        assert sum(t.nbytes for t in tensors.values()) > 0
    elif step in ("import", "convert"):
        model = load_torch_checkpoint(source, config, format="release")
        jax.block_until_ready(nnx.state(model, nnx.Param))
        if step == "convert":
            shutil.rmtree(ckpt, ignore_errors=True)
            save_params(ckpt, model, config)
    elif step == "export":
        export_checkpoint(ckpt, "release", out, dtype="bf16")
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"seconds": time.perf_counter() - start, "cpu": time.process_time() - cpu,
                      "sys": usage.ru_stime - sys0}))


def _measure(step: str, args) -> tuple[float, float, float, float, int]:
    """(wall s, CPU s, of which kernel s, peak RSS GiB, major page faults) of one step in a child process."""
    cmd = [sys.executable, __file__, "--step", step, "--dir", str(args.dir), "--layers", str(args.layers),
           "--param-dtype", args.param_dtype]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    output = proc.stdout.read()
    if status != 0:
        raise SystemExit(f"step {step} failed (status {status}):\n{output}")
    times = json.loads(output.strip().splitlines()[-1])
    return times["seconds"], times["cpu"], times["sys"], usage.ru_maxrss / 2**20, usage.ru_majflt  # KiB -> GiB


def _identical(a: Path, b: Path) -> bool:
    from unityvideo_jax.weights.safetensors_file import SafetensorsReader

    with SafetensorsReader(a) as ra, SafetensorsReader(b) as rb:
        if sorted(ra.names()) != sorted(rb.names()):
            return False
        return all(np.array_equal(ra.view(n).view(np.uint16), rb.view(n).view(np.uint16)) for n in ra.names())


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--layers", type=int, default=30, help="transformer blocks (30 = the released 5B)")
    p.add_argument("--param-dtype", default="bfloat16", choices=("bfloat16", "float32"),
                   help="our parameters' dtype after import (the trainer's masters are float32)")
    p.add_argument("--dir", type=Path, default=Path("/tmp/unityvideo_convert_bench"))
    p.add_argument("--keep", action="store_true", help="keep the files afterwards")
    p.add_argument("--repeat", type=int, default=1, help="runs of read, load and import; the fastest is kept")
    p.add_argument("--step", choices=STEPS, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.step:
        return run_step(args.step, args.dir, args.layers, args.param_dtype)

    shutil.rmtree(args.dir, ignore_errors=True)
    args.dir.mkdir(parents=True)
    start = time.perf_counter()
    size = write_random(args.dir / "release.safetensors", _config(args.layers, args.param_dtype))
    print(f"wrote {size / 1e9:.2f} GB random release checkpoint ({args.layers} layers) in {time.perf_counter() - start:.0f} s")
    runs: dict[str, list] = {step: [] for step in STEPS}
    for _ in range(max(1, args.repeat)):
        for step in ("read", "load", "import"):
            runs[step].append(_measure(step, args))
    for step in ("convert", "export"):
        runs[step].append(_measure(step, args))
    results = {step: min(r, key=lambda m: m[0]) for step, r in runs.items()}
    same = _identical(args.dir / "release.safetensors", args.dir / "export.safetensors")
    base_time = results[BASELINE][0]
    load = os.getloadavg()[1]
    print(f"\nfile {size / 1e9:.2f} GB, {args.layers} layers, params {args.param_dtype}; export identical: {same}; "
          f"load average (5 min) {load:.1f} on {os.cpu_count()} CPUs")
    print(f"| step | wall s (best of {args.repeat}) | x {BASELINE} | CPU s (all threads) | of which kernel s | "
          "peak RSS GiB | RSS / file | major faults |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for step, (seconds, cpu, kernel, rss, faults) in results.items():
        print(f"| {step} | {seconds:.1f} | {seconds / base_time:.2f} | {cpu:.1f} | {kernel:.1f} | {rss:.2f} | "
              f"{rss * 2**30 / size:.2f} | {faults} |")
    if not args.keep:
        shutil.rmtree(args.dir, ignore_errors=True)


if __name__ == "__main__":
    main()
