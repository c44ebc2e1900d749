"""`unityvideo <verb>`: the command line. The only module that parses flags and prints for users.

A user's mistake (a ValueError or a missing file) is printed as one line, exit code 2.

A flag that sets a config key has the key's name (`--vae-weights` sets `config.data.vae_weights`). A
renamed flag keeps working for one release: hidden from --help, it warns and names its new spelling.
"""

from __future__ import annotations

import argparse
import sys

# Weight folders a config names but cannot ship: flag -> config.data key.
WEIGHT_FLAGS = {"--vae-weights": "vae_weights", "--text-encoder-weights": "text_encoder_weights"}
WEIGHT_HELP = {
    "vae_weights": "Wan VAE folder (diffusers format, the vae/ of a Wan checkpoint) for the wan21/wan22 latent "
                   "spaces: config.data.vae_weights",
    "text_encoder_weights": "Wan checkpoint folder holding text_encoder/ and tokenizer/ for the umt5 text "
                            "encoder: config.data.text_encoder_weights",
}


class _Renamed(argparse.Action):
    """An old spelling of a flag, kept for one release: stores into the new flag's setting and warns."""

    def __init__(self, option_strings, dest, *, new: str, **kwargs):
        self.new = new
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"{parser.prog}: warning: {option_string} is deprecated and will be removed in the next release; "
              f"use {self.new}", file=sys.stderr)
        setattr(namespace, self.dest, values)


def _renamed(parser: argparse.ArgumentParser, old: str, new: argparse.Action) -> None:
    """Keep the flag `old` as a hidden, warning alias of `new` (what parser.add_argument returned)."""
    parser.add_argument(old, dest=new.dest, type=new.type, choices=new.choices, default=argparse.SUPPRESS,
                        help=argparse.SUPPRESS, action=_Renamed, new=new.option_strings[0])


def _weight_flags(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """--vae-weights DIR and --text-encoder-weights DIR; None (not given): keep the config's folders."""
    return {key: parser.add_argument(flag, metavar="DIR", help=WEIGHT_HELP[key]) for flag, key in WEIGHT_FLAGS.items()}


def _weights_into(config, args: argparse.Namespace):
    """`config` with the weight folders given on the command line written into config.data."""
    with config.unlocked():
        for key in WEIGHT_FLAGS.values():
            if getattr(args, key, None) is not None:
                config.data[key] = getattr(args, key)
    return config


def _info(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="unityvideo info", description="Parameter counts of a config.")
    parser.add_argument("--config", required=True, help="a config name (e.g. tiny_paper) or a file (configs/tiny_paper.py)")
    args = parser.parse_args(argv)
    from unityvideo_jax.config import get_config
    from unityvideo_jax.model.dit.summary import PARTS, parameter_counts

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
    # required, checked after parsing: its old spelling --from must count as giving it
    fmt = parser.add_argument("--format", choices=("release", "diffusers"), help="the input's layout (required)")
    _renamed(parser, "--from", fmt)
    parser.add_argument("--input", required=True, help="a .safetensors file, a *.index.json, or a folder of either")
    parser.add_argument("--config", required=True, help="a config name (e.g. wan22_ti2v_5b_release) or a file")
    parser.add_argument("--output", required=True, help="a new directory for the Orbax checkpoint")
    args = parser.parse_args(argv)
    if args.format is None:
        parser.error("the following arguments are required: --format")
    from unityvideo_jax.convert.transfer import convert_checkpoint

    print(f"wrote {convert_checkpoint(args.input, args.format, args.config, args.output)}")
    return 0


def _export(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="unityvideo export", description="An Orbax checkpoint -> PyTorch safetensors.")
    parser.add_argument("--format", required=True, choices=("release", "diffusers"))
    parser.add_argument("--checkpoint", required=True, help="an Orbax checkpoint directory (convert's or a run's)")
    parser.add_argument("--output", required=True, help="the .safetensors file to write")
    parser.add_argument("--dtype", default="bfloat16", choices=("bfloat16", "float32", "bf16", "fp32"),
                        help="tensor dtype of the file (default bfloat16, as the release)")
    parser.add_argument("--no-ema", action="store_true", help="export the raw weights, not the EMA")
    parser.add_argument("--ema", action="store_true", help=argparse.SUPPRESS)  # the default since the EMA rename
    args = parser.parse_args(argv)
    from unityvideo_jax.convert.transfer import export_checkpoint

    if args.ema:
        print("unityvideo export: warning: --ema is the default now and will be removed; --no-ema exports the raw "
              "weights", file=sys.stderr)
    print(f"wrote {export_checkpoint(args.checkpoint, args.format, args.output, args.dtype, not args.no_ema)}")
    return 0


def _preprocess(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="unityvideo preprocess", description="Videos + metadata CSV -> record shards.")
    parser.add_argument("--metadata", required=True, help="CSV with video, prompt and one column per modality")
    parser.add_argument("--root", required=True, help="the folder the CSV's paths are relative to")
    parser.add_argument("--config", required=True, help="a config name (e.g. tiny_paper) or a file: latent space, size")
    parser.add_argument("--output", required=True, help="the shard folder (rerun the same command to resume)")
    parser.add_argument("--source", help="data source of rows without a `source` column (a config.data.sources name)")
    parser.add_argument("--shard-size", type=int, default=64, help="records per shard")
    weights = _weight_flags(parser)
    _renamed(parser, "--vae", weights["vae_weights"])
    _renamed(parser, "--text-encoder", weights["text_encoder_weights"])
    args = parser.parse_args(argv)
    from unityvideo_jax.config import get_config
    from unityvideo_jax.data.ingest.preprocess import preprocess

    config = _weights_into(get_config(args.config), args)
    summary = preprocess(config, args.metadata, args.root, args.output, source=args.source,
                         shard_size=args.shard_size)
    print(f"{summary.written} rows written, {summary.rejected} rejected (see rejects.csv), "
          f"{summary.already_done} done before; shards and manifest.json in {args.output}")
    return 0


def _config_path(name: str) -> str:
    """A config name (tiny_paper) -> its file, so `--config tiny_paper` works like `--config configs/tiny_paper.py`."""
    import importlib.util

    from unityvideo_jax.config import available

    base, _, arg = name.partition(":")
    if base.endswith(".py") or "/" in base:
        return name
    if base not in available():
        raise ValueError(f"unknown config {base!r}: expected one of {', '.join(available())} or a .py file")
    path = importlib.util.find_spec(f"unityvideo_jax.configs.{base}").origin
    return path + (f":{arg}" if arg else "")


def _train(argv: list[str]) -> int:
    from absl import flags
    from ml_collections import config_flags

    from unityvideo_jax.parallel.distributed import initialize

    initialize()  # multi-host runs join here, before anything touches a backend

    argv = [_config_path(a.split("=", 1)[1]) if a.startswith("--config=") else a for a in argv]
    for i, a in enumerate(argv[:-1]):
        if a == "--config":
            argv[i + 1] = _config_path(argv[i + 1])
    argv = ["unityvideo train"] + argv
    fv = flags.FlagValues()
    # sys_argv: the --config.a.b overrides are read from the arguments parsed here, not from sys.argv
    config_flags.DEFINE_config_file("config", None, "config file or name; override with --config.a.b=value",
                                    flag_values=fv, lock_config=True, sys_argv=argv)
    flags.DEFINE_string("workdir", None, "run directory (local path or gs://...)", flag_values=fv)
    flags.DEFINE_boolean("profile", False, "write a JAX profiler trace of a few steps to WORKDIR/profile",
                         flag_values=fv)
    flags.DEFINE_boolean("progress", True, "show a progress bar", flag_values=fv)
    flags.DEFINE_boolean("trace_data", False, "append a fingerprint of every batch to WORKDIR/data_trace.jsonl",
                         flag_values=fv)
    for flag, key in WEIGHT_FLAGS.items():  # kept in the run's config, so sample and eval find them too
        flags.DEFINE_string(flag[2:], None, f"{WEIGHT_HELP[key]} (same as --config.data.{key}=DIR)",
                            flag_values=fv)
    try:
        fv(argv)
    except flags.Error as err:
        raise ValueError(str(err)) from None
    if fv.workdir is None or fv.config is None:
        raise ValueError("--config and --workdir are required (e.g. --config tiny_paper --workdir runs/tiny)")
    flags.FLAGS.mark_as_parsed()  # Grain's worker processes read absl flags
    from unityvideo_jax.data.input.iterator import make_iterator
    from unityvideo_jax.parallel.batch import host_shard
    from unityvideo_jax.train.loop import StorageFull, TrainingStopped, train

    config = _weights_into(fv.config, argparse.Namespace(**{key: fv[flag[2:]].value for flag, key in WEIGHT_FLAGS.items()}))
    shard = host_shard(config)  # the rows of each global batch this host's devices hold
    try:
        summary = train(config, fv.workdir, lambda c, start: make_iterator(c, start_step=start, **shard),
                        progress=fv.progress, profile=fv.profile, record_batches=fv.trace_data)
    except TrainingStopped as err:
        print(f"unityvideo train: stopped: {err}", file=sys.stderr)
        return 1
    except StorageFull as err:
        print(f"unityvideo train: error: {err}", file=sys.stderr)
        return 2
    if summary.preempted:
        from unityvideo_jax.train.preemption import PREEMPTED_EXIT

        print(f"unityvideo train: preempted at step {int(summary.state.step)}; the checkpoint is saved in "
              f"{fv.workdir}: run the same command to resume (exit code {PREEMPTED_EXIT})", file=sys.stderr)
        return PREEMPTED_EXIT
    print(f"done: step {int(summary.state.step)} in {fv.workdir}; {summary.steps_per_second:.2f} steps/s, "
          f"{summary.tokens_per_second:,.0f} tokens/s, {summary.tflops_per_device:.3f} TFLOP/s per device, "
          f"{summary.outside_seconds / max(summary.wall_seconds, 1e-9):.1%} of the time outside the step")
    return 0


def _aot(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="unityvideo aot", description="Compile the train step (and a sampler "
                                     "step) for a TPU slice on this host; print bytes per chip, FLOPs, a floor.")
    parser.add_argument("--config", required=True, help="a config name (e.g. wan22_ti2v_5b_release) or a file")
    parser.add_argument("--topology", required=True, help="a TPU slice: v5p-8, v5p-64, v5e-4, v5e-8, v6e-8, ...")
    parser.add_argument("--slices", type=int, default=1, help="multislice: this many copies of --topology")
    batch = parser.add_argument("--global-batch", dest="batch", type=int, help="config.data.global_batch")
    _renamed(parser, "--batch", batch)
    parser.add_argument("--frames", type=int, help="video frames (4k + 1)")
    parser.add_argument("--height", type=int, help="video height in pixels")
    parser.add_argument("--width", type=int, help="video width in pixels")
    parser.add_argument("--preset", help="fsdp, fsdp_tensor, fsdp_context, ulysses or ring")
    for axis in ("data", "fsdp", "context", "tensor"):
        parser.add_argument(f"--{axis}", type=int, help=f"config.parallel.{axis} (per slice; -1: the rest)")
    remat = parser.add_argument("--remat-policy", dest="remat",
                                help="config.model.remat_policy: none, full, dots, dots_offload")
    _renamed(parser, "--remat", remat)
    parser.add_argument("--attention", help="config.model.attention: xla, chunked, splash")
    parser.add_argument("--aux-streams", dest="aux_streams", type=int,
                        help="config.model.aux_streams: modalities per sample beside RGB (1 + k streams)")
    parser.add_argument("--dtype", default="bfloat16", help="compute dtype (default bfloat16, as on TPU)")
    parser.add_argument("--no-sampler", action="store_true", help="compile only the train step")
    parser.add_argument("--job", choices=("train", "sample"), default="train",
                        help="train: the train step (and a sampler step) on the slice; sample: inference of one video "
                        "on ONE chip of the slice, stage by stage (text encoder, a guided denoise step per task, VAE "
                        "decode), with the floor seconds per video")
    args = parser.parse_args(argv)
    from unityvideo_jax.aot.plan import format_plan, override, plan
    from unityvideo_jax.config import get_config

    config = override(get_config(args.config), vars(args))
    if args.job == "sample":
        from unityvideo_jax.aot.sample_plan import data_parallel, format_sample_plan, plan_sample
        from unityvideo_jax.parallel.topology import parse

        if config.data.text_encoder != "umt5":
            raise ValueError(f"--job sample plans the published pipeline (umT5); config {config.name!r} uses "
                             f"{config.data.text_encoder!r}")
        single = plan_sample(config, args.topology)
        print(format_sample_plan(single))
        chips = parse(args.topology).chips
        if chips > 1:
            print(f"  data parallel on {args.topology}: {data_parallel(single, chips)}")
        return 0
    print(format_plan(plan(config, args.topology, num_slices=args.slices, sampler=not args.no_sampler)))
    return 0


def _sample(argv: list[str]) -> int:
    from unityvideo_jax.diffusion.tasks import TASKS
    from unityvideo_jax.modalities import NAMES

    parser = argparse.ArgumentParser(prog="unityvideo sample", description="Run one of the three tasks.")
    parser.add_argument("--task", required=True, choices=TASKS)
    parser.add_argument("--modality", help=f"one of {', '.join(NAMES)}, or several separated by commas "
                        "(depth,flow,segmentation): all generated in one pass")
    parser.add_argument("--condition", metavar="NAME=VIDEO,...", help="clean modality streams, one video each "
                        "(depth=a.mp4,skeleton=b.mp4): condition generates the RGB under all of them; estimate "
                        "and joint read them as extra streams")
    parser.add_argument("--prompt", default=None, help="the caption (joint, condition; optional for estimate)")
    parser.add_argument("--input", default=None, help="RGB video (estimate) or, with one --modality and no "
                        "--condition, the modality video (condition)")
    parser.add_argument("--checkpoint", help="a training run's checkpoints/, a converted checkpoint, or shipped:NAME "
                        "(weights that ship with the package, e.g. shipped:demo_long)")
    parser.add_argument("--release", help="the published UnityVideo .safetensors (instead of --checkpoint; with --base)")
    parser.add_argument("--base", help="the Wan2.2-TI2V-5B folder for --release: original (Wan2.2_VAE.pth, "
                        "models_t5_umt5-xxl-enc-bf16.pth, google/umt5-xxl/) or diffusers (vae/, text_encoder/, tokenizer/)")
    parser.add_argument("--config", help="with --release: the model config (default wan22_ti2v_5b_release)")
    parser.add_argument("--text-on", choices=("chip", "cpu"), default="chip",
                        help="with --release: run the text encoder on the accelerator (default) or the host CPU")
    parser.add_argument("--output", required=True, help="FILE.mp4 (every stream side by side); FILE.rgb.mp4, "
                        "FILE.<modality>.mp4 per modality, FILE.json too")
    parser.add_argument("--steps", type=int, help="sampling steps (default: the checkpoint's config.infer.steps)")
    guidance = parser.add_argument("--guidance", type=float, help="classifier-free guidance scale (paper: 7.5; "
                                   "default: the checkpoint's config.infer.guidance)")
    _renamed(parser, "--cfg", guidance)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--method", choices=("euler", "heun"), help="default: the checkpoint's config.infer.method")
    parser.add_argument("--no-ema", action="store_true", help="use the raw weights, not the EMA")
    _weight_flags(parser)
    args = parser.parse_args(argv)
    from unityvideo_jax.infer.files import plan_streams, sample_to_files, streams_to_files
    from unityvideo_jax.infer.pipeline import Pipeline

    generate, conditions = plan_streams(args.task, args.modality, args.condition, args.input)  # before loading
    if (args.checkpoint is None) == (args.release is None):
        parser.error("pass one of --checkpoint DIR or --release FILE --base DIR")
    if args.release is not None:
        if args.base is None:
            parser.error("--release needs --base DIR: the Wan2.2-TI2V-5B folder (original or diffusers layout)")
        if args.vae_weights or args.text_encoder_weights:
            parser.error("--release reads the VAE and the text encoder from --base; drop --vae-weights/--text-encoder-weights")
        pipeline = Pipeline.from_release(args.release, args.base, config=args.config, text_on=args.text_on)
    else:
        pipeline = Pipeline.from_checkpoint(args.checkpoint, ema=not args.no_ema, vae_weights=args.vae_weights,
                                            text_encoder_weights=args.text_encoder_weights)
    options = dict(prompt=args.prompt, input_path=args.input, steps=args.steps, guidance=args.guidance,
                   seed=args.seed, method=args.method)
    if len(generate) == 1 and not conditions:
        record = sample_to_files(pipeline, args.task, args.modality, args.output, **options)
    else:
        record = streams_to_files(pipeline, args.task, generate, args.output, conditions=conditions, **options)
    print(f"wrote {', '.join(record['files'].values())} ({record['timings']['total_s']:.1f} s)")
    return 0


def _eval(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="unityvideo eval", description="Score a checkpoint on held-out UniSynth clips.")
    parser.add_argument("--checkpoint", required=True,
                        help="a training run's checkpoints/, a converted checkpoint, or shipped:NAME (weights that "
                        "ship with the package, e.g. shipped:demo_long)")
    parser.add_argument("--families", default="single_person,two_person,objects,mixed",
                        help="comma-separated UniSynth families (zero-shot: three_person,quadruped)")
    parser.add_argument("--count", type=int, default=4, help="held-out clips per family")
    parser.add_argument("--steps", type=int, help="sampling steps (default: the checkpoint's config.infer.steps)")
    parser.add_argument("--estimate-steps", type=int, default=None,
                        help="steps of estimation (default --steps; 1: the model's posterior mean)")
    parser.add_argument("--samples", type=int, default=1, help="draws averaged per prediction")
    guidance = parser.add_argument("--guidance", type=float, help="classifier-free guidance scale (default: the "
                                   "checkpoint's config.infer.guidance)")
    _renamed(parser, "--cfg", guidance)
    parser.add_argument("--seed", type=int, default=0, help="which held-out clips (and sampling noise)")
    parser.add_argument("--split", choices=("test", "validation"), default="test",
                        help="held-out clips: test to report (default), validation to choose settings")
    parser.add_argument("--batch", type=int, default=8, help="(clip, modality) pairs per pipeline call")
    parser.add_argument("--tasks", default="estimate,condition,joint", help="comma-separated subset of the tasks")
    parser.add_argument("--streams", action="store_true", help="add the one-pass rows: estimate_streams (each clip's "
                        "modalities estimated together, beside the single estimate) with estimate, joint_streams (RGB "
                        "generated with two modalities, estimate-back consistency beside k = 1) with joint")
    parser.add_argument("--no-ema", action="store_true", help="use the raw weights, not the EMA")
    parser.add_argument("--output", required=True, help="folder for results.json, results.md and the plots")
    _weight_flags(parser)
    args = parser.parse_args(argv)
    import os

    from unityvideo_jax.eval.evaluate import evaluate, parse_families, parse_tasks

    families, tasks = parse_families(args.families), parse_tasks(args.tasks)  # fail before loading anything
    from unityvideo_jax.weights.shipped import is_shipped

    if "://" not in args.checkpoint and not is_shipped(args.checkpoint) and not os.path.isdir(args.checkpoint):
        raise FileNotFoundError(f"--checkpoint {args.checkpoint} is not a directory: pass a run's checkpoints/ folder")
    from unityvideo_jax.eval.report import write_report
    from unityvideo_jax.infer.pipeline import Pipeline

    pipeline = Pipeline.from_checkpoint(args.checkpoint, ema=not args.no_ema, vae_weights=args.vae_weights,
                                        text_encoder_weights=args.text_encoder_weights)
    infer = pipeline.config.infer
    steps = infer.steps if args.steps is None else args.steps
    guidance = infer.guidance if args.guidance is None else args.guidance
    results = evaluate(pipeline, pipeline.config, families, args.count, args.seed, steps, args.samples,
                       estimate_steps=args.estimate_steps, guidance=guidance, batch=args.batch, tasks=tasks,
                       log=lambda message: print(message, file=sys.stderr), split=args.split, streams=args.streams)
    written = write_report(results, args.output)
    print(f"wrote {', '.join(str(p) for p in written.values())}")
    return 0


def _demo(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="unityvideo demo", description="Data, training, evaluation and a report "
                                     "on the synthetic world, on a CPU.")
    parser.add_argument("--output", default="runs/demo", help="the report folder (default runs/demo)")
    parser.add_argument("--budget-minutes", type=float, default=10.0, help="training wall time (default 10)")
    parser.add_argument("--budget-steps", type=int, default=None, help="train this many steps instead of a time budget")
    parser.add_argument("--clips-per-family", type=int, default=256, help="UniSynth training clips per source")
    parser.add_argument("--config", default="demo",
                        help="the recipe: demo (10 minutes, default) or demo_long (hours; see configs/demo_long.py)")
    parser.add_argument("--eval-count", type=int, default=4, help="held-out clips per family to score")
    parser.add_argument("--steps", type=int, default=10, help="sampling steps of generation")
    parser.add_argument("--estimate-steps", type=int, default=1,
                        help="sampling steps of estimation (default 1: the posterior mean, best for the demo's model)")
    parser.add_argument("--samples", type=int, default=4, help="estimates averaged per input")
    parser.add_argument("--no-eval", action="store_true", help="skip the evaluation (videos and curves only)")
    parser.add_argument("--no-shipped", action="store_true",
                        help="do not also score the shipped long-budget weights (shipped:demo_long) beside this run")
    args = parser.parse_args(argv)
    from unityvideo_jax.demo import run_demo

    index = run_demo(args.output, budget_minutes=args.budget_minutes, budget_steps=args.budget_steps,
                     clips_per_family=args.clips_per_family, eval_count=args.eval_count, steps=args.steps,
                     estimate_steps=args.estimate_steps, samples=args.samples, evaluate_model=not args.no_eval,
                     config_name=args.config, compare_shipped=not args.no_shipped)
    print(f"report: {index}")
    return 0


VERBS = {
    "demo": (_demo, "build data, train, evaluate and report on the synthetic world (CPU, ~10 minutes)"),
    "sample": (_sample, "one task end to end: --task joint|estimate|condition --modality NAME[,NAME...] "
                        "[--condition NAME=VIDEO,...] --checkpoint DIR (or --release FILE --base DIR)"),
    "eval": (_eval, "score a checkpoint on held-out UniSynth clips: --checkpoint DIR --output DIR [--families ...]"),
    "train": (_train, "train or resume: --config NAME|FILE --workdir DIR [--config.train.steps=N ...]"),
    "info": (_info, "parameter counts per part of a config, without allocating weights"),
    "convert": (_convert, "PyTorch weights (release or diffusers safetensors) -> an Orbax checkpoint"),
    "export": (_export, "an Orbax checkpoint -> PyTorch weights (release or diffusers safetensors)"),
    "preprocess": (_preprocess, "videos + a metadata CSV -> ArrayRecord shards of latents and text embeddings"),
    "aot": (_aot, "memory plan for a TPU slice, compiled on this host: --config NAME --topology v5p-8 [--batch ...]"),
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
