"""Random foreign checkpoints for the converter tests, written by safetensors' own torch writer.

torch is imported only to write tensors, so the torch-free tests can use `foreign_shapes`.
"""

from __future__ import annotations

from flax import nnx

from unityvideo_jax.convert.table import expected_tensors
from unityvideo_jax.convert.torch_checkpoint import abstract_model, model_config_of, table_for
from unityvideo_jax.model.dit.spec import from_config
from unityvideo_jax.weights.tree import flatten


def foreign_shapes(config, format: str) -> dict[str, tuple[int, ...]]:
    """name -> shape of every tensor a `format` checkpoint of `config` holds, from the abstract model."""
    spec = from_config(model_config_of(config))
    params = flatten(nnx.to_pure_dict(nnx.state(abstract_model(config), nnx.Param)))
    shapes = {k: v.shape for k, v in params.items()}
    return expected_tensors(table_for(format, spec), shapes, spec.num_layers)


def random_tensors(shapes, dtype=None, seed=0) -> dict:
    """name -> a random torch tensor of `dtype` (float32 by default)."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    dtype = dtype or torch.float32
    return {name: (torch.randn(shape, generator=generator) * 0.3).to(dtype) for name, shape in shapes.items()}


def write_random(path, config, format: str, dtype=None, seed=0) -> dict:
    from safetensors.torch import save_file

    tensors = random_tensors(foreign_shapes(config, format), dtype, seed)
    save_file(tensors, str(path))
    return tensors
