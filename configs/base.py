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
    # Auxiliary streams per sample (1 = the paper's and the release's model). The weights are the same
    # for any k; k sets how many modalities the data loader fills per sample and the step trains at once.
    m.aux_streams = 1
    release_flavour(m)
    m.dtype = "float32"  # compute dtype; bfloat16 on TPU
    m.param_dtype = "float32"  # master weights stay fp32
    m.remat_policy = "none"  # see unityvideo_jax/model/dit/remat.py for the names
    # One compiled layer scanned num_layers times (compile time independent of depth), or False: a
    # Python loop, faster for a few small layers on CPU (no stacked residual buffers; BENCHMARKS.md)
    m.scan_layers = True
    m.attention = "xla"  # kernel by name (xla, flash, chunked, splash), see unityvideo_jax/attention/kernels.py
    m.attention_chunk = 0  # >0: queries in chunks of this many tokens (bounds memory)

    d = config.data = ml_collections.ConfigDict()
    d.path = ""  # a folder of ArrayRecord shards + manifest.json; "" = generate UniSynth in memory
    d.latent = "pixel"  # pixel (space-to-depth of RGB, no learned VAE) | wan21 | wan22
    d.text_encoder = "minilm"  # minilm (packaged, 384 wide) | umt5
    # Weight folders, needed only by the Wan latent spaces and umT5 (CLI: --vae-weights, --text-encoder-weights).
    d.vae_weights = ""  # the vae/ folder of a Wan diffusers checkpoint, or the original folder's Wan2.x_VAE.pth
    d.vae_config = ""  # the architecture of a .pth VAE by name (get_vae_config); "": the latent's published one
    d.text_encoder_weights = ""  # a Wan folder: diffusers (text_encoder/, tokenizer/) or original (.pth, google/umt5-xxl/)
    d.text_encoder_param_dtype = ""  # umT5's stored weights: "" fp32; "bfloat16" for inference on one chip
    d.sources = ("single_person", "two_person", "objects", "mixed")  # the paper's four groups
    # Which modalities each source has (segmentation only on multi-instance clips, as in OpenUni).
    d.source_modalities = ml_collections.ConfigDict(
        dict(
            single_person=("depth", "flow", "skeleton", "densepose"),
            two_person=("depth", "flow", "segmentation", "skeleton", "densepose"),
            objects=("depth", "flow", "segmentation"),
            mixed=("depth", "flow", "segmentation", "skeleton", "densepose"),
        )
    )
    # Release sampling weights (unnormalised).
    d.modality_weights = ml_collections.ConfigDict(
        dict(depth=0.2, densepose=0.2, flow=0.2, segmentation=0.4, skeleton=0.4)
    )
    d.frames = 33  # video frames (4k + 1)
    d.height = 256
    d.width = 256
    d.text_len = 512  # caption and prompt embeddings are zero-padded to this many tokens
    d.global_batch = 8  # divisible by the number of sources: each batch has equal source groups
    d.seed = 0
    # With several aux streams (model.aux_streams > 1): the share of samples that fill fewer streams than
    # they could (1..k-1, at random), so the model also learns from samples with absent streams.
    d.fewer_streams = 0.25
    d.workers = 0  # Grain worker processes (0: in-process)
    d.max_bad_fraction = 0.01  # undecodable records above this share stop the run

    f = config.diffusion = ml_collections.ConfigDict()
    f.timestep_sampling = "logit_normal"  # logit_normal | uniform
    f.logit_mean = 0.0
    f.logit_std = 1.0
    f.shift = 5.0  # t' = s t / (1 + (s - 1) t)
    f.task_probs = ml_collections.ConfigDict(dict(joint=0.5, estimate=0.25, condition=0.25))
    f.joint_timesteps = "shared"  # shared (release) | independent (paper)
    # With several aux streams (model.aux_streams > 1): the share of samples whose present aux streams are
    # each left clean or noised at random (e.g. estimate depth given the video and its skeleton, or generate
    # a video and its depth under a skeleton), on top of the task drawn for the sample.
    f.mixed_streams = 0.25
    f.caption_dropout = 0.1
    # The in-context learner: aux tokens attend to the modality prompt (False: to the caption, an ablation).
    f.modality_prompts = True
    f.fixed_noise = False  # debugging: the same tasks, times and noise every step (overfit-one-batch checks)

    t = config.train = ml_collections.ConfigDict()
    t.steps = 15000
    t.lr = 1e-5
    t.new_layer_lr_multiplier = 10.0  # aux patch embedding, flow_in, heads, modality tables
    t.warmup_steps = 200
    t.schedule = "constant"  # constant | cosine (after warm-up)
    t.weight_decay = 0.01
    t.b1 = 0.9
    t.b2 = 0.999
    t.grad_clip = 1.5
    t.ema_decay = 0.9999
    t.ema_every = 8
    t.moments_dtype = "float32"  # bfloat16 halves optimiser memory
    t.grad_accum_steps = 1
    t.max_consecutive_bad_steps = 20
    t.checkpoint_every = 500
    t.keep_checkpoints = 3
    t.log_every = 10
    t.seed = 0
    # From scratch only: two heads per block start out attending across the streams (model/dit/partner.py).
    t.partner_init = False
    # Curriculum: stages switch at step boundaries (no recompilation: only the data changes).
    t.curriculum = ()  # e.g. ((0, ("depth", "flow", "densepose"), ("single_person",)), (16000, (), ()))

    i = config.infer = ml_collections.ConfigDict()
    i.steps = 20  # release: Euler over linspace(1, 0, steps + 1), no guidance
    i.method = "euler"  # euler | heun
    i.guidance = 1.0  # paper: 7.5
    i.shift = 1.0  # timestep shift of the sampling grid

    p = config.parallel = ml_collections.ConfigDict()
    p.preset = "fsdp"  # fsdp | fsdp_tensor | fsdp_context | ulysses | ring (unityvideo_jax/parallel/rules.py)
    p.devices = 0  # how many of the devices to use (0: all of them)
    # Axis sizes inside one slice (ICI); the context presets shard the token sequence over `context`.
    p.data = 1
    p.fsdp = -1  # -1: all devices left over
    p.context = 1
    p.tensor = 1
    # Multislice: each axis is also split this many ways across slices (DCN); product = slices.
    p.dcn_data = 1
    p.dcn_fsdp = 1
    p.dcn_context = 1
    p.dcn_tensor = 1
    return config
