"""Weights that ship with the package: small models trained by the project, loaded by name.

    pipe = Pipeline.from_checkpoint("shipped:demo_long")      # or --checkpoint shipped:demo_long
    unityvideo eval --checkpoint shipped:demo_long --output runs/eval_long

Each entry is a parameters-only Orbax checkpoint (params_io.py: the EMA weights as `params`, and the
run's config) under unityvideo_jax/weights/shipped/NAME, with the SHA-256 of its files recorded here,
so a damaged or edited copy fails with one clear message instead of loading silently wrong weights.

Written from a finished run with

    python -m unityvideo_jax.weights.shipped --run runs/demo_long/report/run --name demo_long

which prints the entry to record below (BENCHMARKS.md has the run's command, time and scores).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
from pathlib import Path

PREFIX = "shipped:"
FOLDER = Path(__file__).resolve().parent / "shipped"


@dataclasses.dataclass(frozen=True)
class ShippedWeights:
    name: str
    config: str  # config.name saved in the checkpoint
    steps: int  # training steps of the run the EMA weights come from
    digest: str  # sha256 over the files (digest_of)
    command: str  # the command that trained the run

    @property
    def path(self) -> Path:
        return FOLDER / self.name


SHIPPED: dict[str, ShippedWeights] = {}


def _register(entry: ShippedWeights) -> None:
    SHIPPED[entry.name] = entry


# configs/demo.py's model trained by configs/demo_long.py for 50,000 steps (BENCHMARKS.md "The demo's long budget")
_register(ShippedWeights(
    name="demo_long",
    config="demo_long",
    steps=50_000,
    digest="0daa46fd9db614be95f77b5bf4d8d3dc2c57246f917132d023d27a0a0dedb12a",
    command="unityvideo demo --config demo_long --budget-steps 50000 --clips-per-family 1024",
))


def digest_of(directory: Path) -> str:
    """SHA-256 over every file under `directory`: relative path, size and bytes, in sorted order."""
    directory = Path(directory)
    h = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        rel = path.relative_to(directory).as_posix()
        data = path.read_bytes()
        h.update(f"{rel}\0{len(data)}\0".encode())
        h.update(data)
    return h.hexdigest()


def is_shipped(reference: str) -> bool:
    return isinstance(reference, str) and reference.startswith(PREFIX)


def resolve(reference: str) -> str:
    """`shipped:NAME` -> the checkpoint folder of NAME after checking its digest; other strings unchanged."""
    if not is_shipped(reference):
        return reference
    name = reference[len(PREFIX):]
    if name not in SHIPPED:
        known = ", ".join(f"{PREFIX}{n}" for n in SHIPPED) or "none in this version"
        raise ValueError(f"{reference}: no shipped weights of that name (known: {known})")
    entry = SHIPPED[name]
    if not entry.path.is_dir():
        raise FileNotFoundError(f"{reference}: {entry.path} is missing from this installation: reinstall unityvideo_jax")
    found = digest_of(entry.path)
    if found != entry.digest:
        raise ValueError(f"{reference}: the files under {entry.path} do not match their recorded digest (sha256 "
                         f"{found[:12]}... against {entry.digest[:12]}...): the copy is damaged or was edited; "
                         "reinstall unityvideo_jax")
    return str(entry.path)


def write(run: str, name: str, output: Path | None = None) -> tuple[Path, str]:
    """The EMA weights (else the weights) of `run`'s latest checkpoint as a parameters-only checkpoint
    at `output` (default: the package's shipped/NAME); returns (folder, digest)."""
    from unityvideo_jax.weights import params_io

    checkpoints = Path(run) / "checkpoints" if (Path(run) / "checkpoints").is_dir() else Path(run)
    config = params_io.load_config(str(checkpoints))
    item = params_io.EMA_ITEM if params_io.has_item(str(checkpoints), params_io.EMA_ITEM) else params_io.PARAMS_ITEM
    params = params_io.load_params(str(checkpoints), item=item)
    config.data.path = ""  # the run's record folder is on the trainer's machine: UniSynth in memory instead
    output = Path(output) if output is not None else FOLDER / name
    params_io.save_params(output, params, config)
    return output, digest_of(output)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m unityvideo_jax.weights.shipped",
                                     description="A finished run's EMA weights -> shipped weights of the package.")
    parser.add_argument("--run", required=True, help="the run folder (with checkpoints/) or its checkpoints/ folder")
    parser.add_argument("--name", required=True, help="the name users load it by (shipped:NAME)")
    parser.add_argument("--output", help="default: unityvideo_jax/weights/shipped/NAME")
    args = parser.parse_args(argv)
    folder, digest = write(args.run, args.name, Path(args.output) if args.output else None)
    print(f"wrote {folder}\nrecord in unityvideo_jax/weights/shipped.py: name={args.name!r}, digest={digest!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
