"""Weights in and out: a PyTorch checkpoint -> an Orbax checkpoint the trainer starts from, and back.

    convert_checkpoint("unityvideo_5b.safetensors", "release", "wan22_ti2v_5b_release", "ckpt/")
    export_checkpoint("ckpt/", "release", "out.safetensors", dtype="bfloat16", ema=True)
"""

from __future__ import annotations

from unityvideo_jax.config import get_config
from unityvideo_jax.convert.torch_checkpoint import FORMATS, load_torch_checkpoint, save_torch_checkpoint
from unityvideo_jax.storage import bucket
from unityvideo_jax.storage.paths import as_path
from unityvideo_jax.weights import params_io


def convert_checkpoint(input_path, format: str, config, output_dir):
    """Import `input_path` (of `format`) for `config` (a name, file or ConfigDict) into `output_dir`.
    Either may be a gs:// URL (the input is staged to the local cache; the output written in place)."""
    if format not in FORMATS:
        raise ValueError(f"unknown checkpoint format {format!r}: expected one of {', '.join(FORMATS)}")
    config = get_config(config) if isinstance(config, str) else config
    bucket.check(output_dir, write=True, what="--output")  # checked before the (long) import, not only after it
    with bucket.bucket_errors(output_dir, "read"):
        taken = as_path(output_dir, "--output").exists()
    if taken:
        raise ValueError(f"{output_dir} already exists: choose a new output directory or remove it")
    model = load_torch_checkpoint(input_path, config, format=format)
    return params_io.save_params(output_dir, model, config)


def export_checkpoint(checkpoint_dir, format: str, output_file, dtype: str = "bfloat16", ema: bool = True):
    """Write the latest weights at `checkpoint_dir` as a `format` safetensors file.

    ema: the EMA weights when the checkpoint has them (as `Pipeline.from_checkpoint` and
    `unityvideo sample` choose), else the raw ones; False: always the raw ones.
    """
    if format not in FORMATS:
        raise ValueError(f"unknown export format {format!r}: expected one of {', '.join(FORMATS)}")
    bucket.check(str(as_path(output_file, "--output").parent), write=True, what="--output")  # before reading
    config = params_io.load_config(checkpoint_dir)
    item = params_io.EMA_ITEM if ema and params_io.has_item(checkpoint_dir, params_io.EMA_ITEM) else params_io.PARAMS_ITEM
    params = params_io.load_params(checkpoint_dir, item=item)
    return save_torch_checkpoint(params, config, output_file, format=format, dtype=dtype)
