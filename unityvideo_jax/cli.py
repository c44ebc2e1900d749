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


VERBS = {
    "info": (_info, "parameter counts per part of a config, without allocating weights"),
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
