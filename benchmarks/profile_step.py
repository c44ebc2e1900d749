"""Where the DiT's forward + backward spends its time on this CPU: a per-op profile, by op class.

    python benchmarks/profile_step.py [--config demo] [--layers 4 --dim 256 --heads 4 --ffn 1024]
                                      [--batch 8] [--streams 2] [--attention xla] [--remat none] [--dump DIR]
                                      [--top N] [--concurrency]

Runs the same jitted gradient step as benchmarks/dit_step.py under `jax.profiler.trace` with XLA:CPU's
per-thunk trace events on, reads the trace back, and charges each op's self time to a class taken
from the optimized HLO (matmul, attention matmul, elementwise fusion, reduction, copy/transpose,
scan bookkeeping, ...), split into forward and backward by the op's JAX name (`transpose(jvp(...))`
is the backward). `--dump DIR` also writes the optimized HLO there (XLA's --xla_dump_to).
"""

from __future__ import annotations

import argparse
import collections
import glob
import os
import re
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_enable_xprof_traceme=true").strip()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from flax import nnx  # noqa: E402
from jaxlib import _profile_data  # noqa: E402

from unityvideo_jax import UnityDiT, get_config  # noqa: E402
from unityvideo_jax.latents.shapes import latent_shape, token_grid  # noqa: E402

SIZE_FLAGS = {"layers": "num_layers", "dim": "dim", "heads": "num_heads", "ffn": "ffn_dim"}

_INSTRUCTION = re.compile(r"^\s*(?:ROOT )?%?([\w.\-]+) = \S+ (\w[\w\-]*)\(")
_CALLS = re.compile(r"calls=%?([\w.\-]+)")
_OP_NAME = re.compile(r'op_name="([^"]*)"')
_COMPUTATION = re.compile(r"^(?:ENTRY )?%?([\w.\-]+) .*\{$")


def parse_hlo(text: str) -> dict[str, tuple[str, str, set[str]]]:
    """instruction name -> (opcode, JAX op name, opcodes inside the fusion it calls)."""
    bodies: dict[str, set[str]] = collections.defaultdict(set)
    rows, current = {}, None
    for line in text.splitlines():
        head = _COMPUTATION.match(line)
        if head and "=" not in line.split("{")[0]:
            current = head.group(1)
            continue
        match = _INSTRUCTION.match(line)
        if not match:
            continue
        name, opcode = match.groups()
        bodies[current].add(opcode)
        called = _CALLS.search(line)
        op_name = _OP_NAME.search(line)
        rows[name] = (opcode, op_name.group(1) if op_name else "", called.group(1) if called else "")
    return {name: (opcode, op, bodies.get(called, set())) for name, (opcode, op, called) in rows.items()}


def op_class(opcode: str, op_name: str, inside: set[str]) -> str:
    """A coarse class a reader can act on."""
    ops = inside | {opcode}
    attention = "bnqd" in op_name or "bnqk" in op_name or "attention" in op_name
    if ops & {"dot", "convolution"}:
        return "attention matmul" if attention else "matmul"
    if opcode in ("copy", "transpose") or (opcode == "fusion" and inside <= {"copy", "transpose", "parameter",
                                                                            "bitcast", "reshape"}):
        return "copy / transpose"
    if ops & {"dynamic-update-slice", "dynamic-slice", "while", "tuple", "get-tuple-element"} and not (
            ops & {"reduce", "exponential", "multiply", "add"}):
        return "scan bookkeeping (slices, loop)"
    if "reduce" in ops:
        return "reduction fusion (norms, softmax sums, bias grads)"
    if ops & {"exponential", "tanh", "rsqrt", "log"}:
        return "transcendental elementwise (exp, tanh, rsqrt)"
    return "other elementwise"


XLA_THREADS = ("tf_XLAEigen", "tf_XLAPjRtCpuClient")  # the threads that run the compiled step's ops
WAITING = "ThunkExecutor::Execute (wait for completion)"  # the caller blocked on the step: not work
EXECUTOR = "ThunkExecutor::Execute"  # its self time: scheduling between ops, not inside any op


def leaf_times(xspace_path: str) -> dict[str, float]:
    """Self time (s) by event name over all threads: time not covered by a nested event on the same line."""
    data = _profile_data.ProfileData.from_file(xspace_path)
    totals: dict[str, float] = collections.defaultdict(float)
    for plane in data.planes:
        if not plane.name.startswith("/host:CPU"):
            continue
        for line in plane.lines:
            if not line.name.startswith(XLA_THREADS):
                continue  # python, gRPC and mutex lines: not the step's work
            events = sorted(((e.start_ns, e.end_ns, e.name) for e in line.events if e.name != WAITING),
                            key=lambda e: (e[0], -e[1]))
            stack: list[list] = []  # [end, name, child time]
            for start, end, name in events:
                while stack and stack[-1][0] <= start:
                    _close(stack, totals)
                if stack:
                    stack[-1][2] += end - start
                stack.append([end, name, 0.0, start])
            while stack:
                _close(stack, totals)
    return totals


def ops_in_flight(xspace_path: str, names) -> dict[int, float]:
    """Share of the traced span during which 0, 1, 2, ... of the step's ops (HLO names in `names`) run at
    once on XLA's threads: an op is one event on one thread, so this is the concurrency the executor
    found between independent ops (an op's own intra-op threads are not events of their own)."""
    data = _profile_data.ProfileData.from_file(xspace_path)
    edges = []
    for plane in data.planes:
        if not plane.name.startswith("/host:CPU"):
            continue
        for line in plane.lines:
            if line.name.startswith(XLA_THREADS):
                edges += [edge for e in line.events if e.name in names for edge in ((e.start_ns, 1), (e.end_ns, -1))]
    edges.sort()
    shares: dict[int, float] = collections.defaultdict(float)
    running, last = 0, edges[0][0] if edges else 0
    for t, change in edges:
        shares[running] += t - last
        running, last = running + change, t
    total = sum(shares.values()) or 1.0
    return {k: v / total for k, v in sorted(shares.items())}


def _close(stack, totals):
    end, name, child, start = stack.pop()
    totals[name] += max(0.0, (end - start) - child) / 1e9


def model_config(args):
    """`--config`'s model with the size flags that were given applied on top."""
    config = get_config(args.config)
    m = config.model
    for flag, key in SIZE_FLAGS.items():
        if getattr(args, flag) is not None:
            m[key] = getattr(args, flag)
    m.update(attention=args.attention, remat_policy=args.remat)
    if args.streams is not None:
        m.update(two_stream=args.streams == 2)
    return config


def build_step(config, batch: int):
    """The jitted gradient of a mean-square loss of UnityDiT's outputs, and its parameters."""
    m = config.model
    model = UnityDiT(m, rngs=nnx.Rngs(0))
    graphdef, params = nnx.split(model, nnx.Param)
    rng = np.random.default_rng(0)
    frames, height, width, channels = latent_shape(config.data)
    x = jnp.asarray(rng.standard_normal((batch, frames, height, width, m.in_channels)), jnp.float32)
    text = jnp.asarray(rng.standard_normal((batch, int(config.data.text_len), m.text_dim)), jnp.float32)
    t = jnp.full((batch,), 0.5, jnp.float32)
    two = bool(m.get("two_stream", True))
    aux, t_aux = (x, t) if two else (None, None)
    extra = dict(aux_text=text, modality=jnp.zeros((batch,), jnp.int32)) if two else {}

    def loss(params):
        v, w = nnx.merge(graphdef, params)(x, aux, t, t_aux, text, **extra)
        return jnp.mean(v**2) + (0.0 if w is None else jnp.mean(w**2))

    return jax.jit(jax.grad(loss)), params


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--config", default="tiny_paper", help="the model and video size to start from (e.g. demo)")
    for flag in SIZE_FLAGS:
        p.add_argument(f"--{flag}", type=int, default=None, help=f"config.model.{SIZE_FLAGS[flag]}")
    p.add_argument("--streams", type=int, choices=(1, 2), default=None, help="default: the config's")
    p.add_argument("--batch", type=int, default=None, help="default: config.data.global_batch")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--attention", default="xla")
    p.add_argument("--remat", default="none")
    p.add_argument("--dump", default=None, help="also write the optimized HLO to this folder")
    p.add_argument("--concurrency", action="store_true",
                   help="also print the share of the step with 0, 1, 2, ... ops in flight at once")
    p.add_argument("--top", type=int, default=0, help="also list the N ops that take the most time")
    p.add_argument("--top-class", default="", help="only ops whose class contains this text (e.g. elementwise)")
    args = p.parse_args()

    config = model_config(args)
    batch = args.batch or int(config.data.global_batch)
    step, params = build_step(config, batch)
    compiled = step.lower(params).compile()
    if args.dump:
        os.makedirs(args.dump, exist_ok=True)
        with open(os.path.join(args.dump, "step.optimized.hlo"), "w") as f:
            f.write(compiled.as_text())
    hlo = parse_hlo(compiled.as_text())
    jax.block_until_ready(compiled(params))
    with tempfile.TemporaryDirectory() as trace_dir:
        with jax.profiler.trace(trace_dir):
            start = time.perf_counter()
            for _ in range(args.repeats):
                jax.block_until_ready(compiled(params))
            wall = (time.perf_counter() - start) / args.repeats
        (path,) = glob.glob(os.path.join(trace_dir, "**", "*.xplane.pb"), recursive=True)
        times = leaf_times(path)
        concurrency = ops_in_flight(path, hlo) if args.concurrency else None

    table: dict[tuple[str, str], float] = collections.defaultdict(float)
    unknown = 0.0
    for name, sec in times.items():
        if name == EXECUTOR:
            table[("both", "executor between ops")] += sec / args.repeats
            continue
        if name not in hlo:
            unknown += sec
            continue
        opcode, op_name, inside = hlo[name]
        direction = "backward" if "transpose(" in op_name else "forward"
        table[(direction, op_class(opcode, op_name, inside))] += sec / args.repeats
    total = sum(table.values())
    m = config.model
    print(f"config {args.config}: {m.num_layers} layers, dim {m.dim}, ffn {m.ffn_dim}, "
          f"{2 if m.get('two_stream', True) else 1} stream(s) of {np.prod(token_grid(config))} tokens, batch {batch}, "
          f"attention {m.attention}, remat {m.remat_policy}; jax {jax.__version__}")
    print("| pass | op class | ms per step | share |")
    print("|---|---|---|---|")
    for (direction, cls), sec in sorted(table.items(), key=lambda kv: -kv[1]):
        print(f"| {direction} | {cls} | {sec * 1e3:.1f} | {sec / total:.0%} |")
    print(f"| | all (CPU time over {len(XLA_THREADS)} thread kinds; wall {wall * 1e3:.1f} ms a step) | "
          f"{total * 1e3:.1f} | 100% |")
    for direction in ("forward", "backward"):
        part = sum(s for (d, _), s in table.items() if d == direction)
        print(f"| {direction} | all | {part * 1e3:.1f} | {part / total:.0%} |")
    print(f"(other events on the XLA threads: {unknown / args.repeats * 1e3:.1f} ms a step)")
    if concurrency is not None:
        print("ops in flight at once, share of the traced span: "
              + ", ".join(f"{k}: {v:.0%}" for k, v in concurrency.items()))
    if args.top:
        print(f"\n| op | class | JAX name | ms per step |\n|---|---|---|---|")
        known = sorted(((sec, name) for name, sec in times.items() if name in hlo
                        and (not args.top_class or args.top_class in op_class(*hlo[name]))), reverse=True)
        for sec, name in known[:args.top]:
            opcode, op_name, inside = hlo[name]
            short = op_name.replace("jit(loss)/", "")[-90:]
            print(f"| {name} | {op_class(opcode, op_name, inside)} | {short} | {sec / args.repeats * 1e3:.2f} |")


if __name__ == "__main__":
    main()
