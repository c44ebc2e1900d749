"""`unityvideo <verb>`: the command line. The only module that parses flags and prints for users.

A user's mistake (a ValueError or a missing file) is printed as one line, exit code 2.
"""

from __future__ import annotations

import argparse
import sys


def _info(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="unityvideo info", description="Parameter counts of a config.")
    parser.add_argument("--config", required=True, help="a config name (e.g. tiny) or a file (configs/tiny.py)")
    args = parser.parse_args(argv)
    from unityvideo_jax.config import get_config
    from unityvideo_jax.model.summary import PARTS, parameter_counts

    config = get_config(args.config)
    counts = parameter_counts(config.model)
    m = config.model
    print(f"config {config.name}: dim {m.dim}, {m.num_layers} layers, {m.num_heads} heads, ffn {m.ffn_dim}")
    print(f"flavour: switcher={m.switcher} aux_input={m.aux_input} aux_head={m.aux_head} "
          f"adaln_timestep={m.adaln_timestep}")
    width = max(len(v) for v in PARTS.values())
    for part, count in counts.items():
        print(f"  {PARTS[part]:<{width}}  {count:>15,}")
    print(f"  {'total':<{width}}  {sum(counts.values()):>15,}")
    return 0


def _convert(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="unityvideo convert", description="PyTorch weights -> an Orbax checkpoint.")
    parser.add_argument("--from", dest="format", required=True, choices=("release", "diffusers"))
    parser.add_argument("--input", required=True, help="a .safetensors file, a *.index.json, or a folder of either")
    parser.add_argument("--config", required=True, help="a config name (e.g. wan22_ti2v_5b_release) or a file")
    parser.add_argument("--output", required=True, help="a new directory for the Orbax checkpoint")
    args = parser.parse_args(argv)
    from unityvideo_jax.convert.transfer import convert_checkpoint

    print(f"wrote {convert_checkpoint(args.input, args.format, args.config, args.output)}")
    return 0


def _export(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="unityvideo export", description="An Orbax checkpoint -> PyTorch safetensors.")
    parser.add_argument("--format", required=True, choices=("release", "diffusers"))
    parser.add_argument("--checkpoint", required=True, help="an Orbax checkpoint directory (convert's or a run's)")
    parser.add_argument("--output", required=True, help="the .safetensors file to write")
    parser.add_argument("--dtype", default="bf16", choices=("bf16", "fp32"))
    parser.add_argument("--ema", action="store_true", help="export the EMA weights")
    args = parser.parse_args(argv)
    from unityvideo_jax.convert.transfer import export_checkpoint

    print(f"wrote {export_checkpoint(args.checkpoint, args.format, args.output, args.dtype, args.ema)}")
    return 0


VERBS = {
    "info": (_info, "parameter counts per part of a config, without allocating weights"),
    "convert": (_convert, "PyTorch weights (release or diffusers safetensors) -> an Orbax checkpoint"),
    "export": (_export, "an Orbax checkpoint -> PyTorch weights (release or diffusers safetensors)"),
}


def _usage() -> str:
    lines = ["usage: unityvideo <verb> [options]", "", "verbs:"]
    lines += [f"  {name:<10} {help_}" for name, (_, help_) in VERBS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0
    verb, rest = argv[0], argv[1:]
    if verb not in VERBS:
        print(f"unityvideo: unknown verb {verb!r}\n{_usage()}", file=sys.stderr)
        return 2
    try:
        return VERBS[verb][0](rest)
    except (ValueError, FileNotFoundError) as err:
        print(f"unityvideo {verb}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
