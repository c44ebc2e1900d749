"""Tiny paper-flavour model: CPU tests and the demo (text from MiniLM, 384 wide, pixel latents)."""

from unityvideo_jax.configs import base


def get_config():
    config = base.get_base_config()
    config.name = "tiny_paper"
    m = config.model
    m.dim = 64
    m.ffn_dim = 128
    m.num_heads = 4
    m.num_layers = 2
    m.scan_layers = False  # two small layers on a CPU: the loop is faster (BENCHMARKS.md, "Speed")
    m.in_channels = 12  # pixel latents: RGB with 2x2 space-to-depth
    m.out_channels = 12
    m.text_dim = 384
    m.freq_dim = 64
    base.paper_flavour(m)

    d = config.data
    d.latent = "pixel"
    d.text_encoder = "minilm"
    d.frames, d.height, d.width = 5, 32, 32
    d.text_len = 64  # UniSynth captions run to ~50 MiniLM tokens
    d.global_batch = 8

    f = config.diffusion
    f.shift = 1.0  # the demo config measured 5 better: t near 1 (noise) is where reading the RGB is learned
    # The demo is judged on estimation; it still trains all three tasks, with estimation weighted up.
    f.task_probs.update(joint=0.25, estimate=0.5, condition=0.25)

    t = config.train
    t.steps = 2000
    t.lr = 1e-3  # a 186K-parameter model from scratch wants far more than the release's 1e-5
    t.new_layer_lr_multiplier = 1.0  # nothing is pretrained here
    t.warmup_steps = 50
    t.ema_decay = 0.999
    t.ema_every = 1
    t.checkpoint_every = 500
    t.log_every = 25
    return config
