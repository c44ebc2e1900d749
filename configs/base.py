"""The defaults every config starts from; a config file changes only what differs."""

import ml_collections


def release_flavour(model: ml_collections.ConfigDict) -> None:
    """The published checkpoint's choices (see the facts file): token switcher, one shared t."""
    model.switcher = "token"
    model.aux_input = "copy_plus_zero_linear"
    model.aux_head = "shared"
    model.adaln_timestep = "shared"


def paper_flavour(model: ml_collections.ConfigDict) -> None:
    """The paper's choices: AdaLN switcher table, shared input layer, one head per modality."""
    model.switcher = "adaln"
    model.aux_input = "shared"
    model.aux_head = "per_modality"
    model.adaln_timestep = "per_stream"


def get_base_config() -> ml_collections.ConfigDict:
    config = ml_collections.ConfigDict()
    config.name = "base"

    m = config.model = ml_collections.ConfigDict()
    m.dim = 1536
    m.ffn_dim = 8960
    m.num_heads = 12
    m.num_layers = 30
    m.in_channels = 16
    m.out_channels = 16
    m.text_dim = 4096
    m.freq_dim = 256
    m.patch_size = (1, 2, 2)
    m.eps = 1e-6
    m.rope_theta = 10000.0
    m.num_modalities = 5
    release_flavour(m)
    m.dtype = "float32"  # compute dtype; bfloat16 on TPU
    m.param_dtype = "float32"  # master weights stay fp32
    m.remat_policy = "none"  # see unityvideo_jax/model/remat.py for the names
    m.attention = "xla"  # kernel by name, see unityvideo_jax/model/attention.py
    m.attention_chunk = 0  # >0: queries in chunks of this many tokens (bounds memory)

    p = config.parallel = ml_collections.ConfigDict()
    p.preset = "fsdp"
    p.data = 1
    p.fsdp = -1  # -1: all devices left over
    p.context = 1
    p.tensor = 1
    return config
