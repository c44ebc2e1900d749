"""UnityDiT without aux equals diffusers' WanTransformer3DModel on the same random weights."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

torch = pytest.importorskip("torch")
diffusers = pytest.importorskip("diffusers")

from tests.conftest import tiny_model_config  # noqa: E402
from unityvideo_jax import UnityDiT  # noqa: E402
from unityvideo_jax.convert.apply import load_tensors  # noqa: E402
from unityvideo_jax.convert.diffusers import TABLE  # noqa: E402

CASES = {
    # name: (channels, dim, heads, ffn, text_dim, freq_dim, layers, (F, H, W) in latents)
    "c16": (16, 48, 4, 96, 24, 32, 2, (3, 6, 10)),
    "c48": (48, 72, 6, 128, 32, 64, 3, (2, 8, 4)),
}


def _build_pair(case: str, seed: int = 0):
    channels, dim, heads, ffn, text_dim, freq_dim, layers, _ = CASES[case]
    torch.manual_seed(seed)
    ref = diffusers.WanTransformer3DModel(
        patch_size=(1, 2, 2),
        num_attention_heads=heads,
        attention_head_dim=dim // heads,
        in_channels=channels,
        out_channels=channels,
        text_dim=text_dim,
        freq_dim=freq_dim,
        ffn_dim=ffn,
        num_layers=layers,
        cross_attn_norm=True,
        qk_norm="rms_norm_across_heads",
        eps=1e-6,
        rope_max_seq_len=64,
    ).eval()
    with torch.no_grad():  # every parameter random, norms and biases included
        for p in ref.parameters():
            p.copy_(torch.randn_like(p) * 0.2 + (1.0 if p.ndim == 1 and torch.all(p == 1) else 0.0))
    config = tiny_model_config(
        dim=dim, ffn_dim=ffn, num_heads=heads, num_layers=layers, in_channels=channels,
        out_channels=channels, text_dim=text_dim, freq_dim=freq_dim, two_stream=False,
    )
    model = UnityDiT(config, rngs=nnx.Rngs(1))
    tensors = {k: v.detach().numpy() for k, v in ref.state_dict().items()}
    load_tensors(model, tensors, TABLE)
    return ref, model


def _inputs(case: str, batch=2, text_len=7, seed=3):
    channels, _, _, _, text_dim, _, _, (f, h, w) = CASES[case]
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, f, h, w, channels)).astype(np.float32)
    text = rng.standard_normal((batch, text_len, text_dim)).astype(np.float32)
    return x, text


def _reference(ref, x, timestep, text):
    with torch.no_grad():
        out = ref(
            torch.from_numpy(x).permute(0, 4, 1, 2, 3),
            timestep=torch.from_numpy(timestep),
            encoder_hidden_states=torch.from_numpy(text),
            return_dict=False,
        )[0]
    return out.permute(0, 2, 3, 4, 1).numpy()


def _close(ours, theirs):
    scale = float(np.abs(theirs).max())
    err = float(np.abs(np.asarray(ours) - theirs).max())
    assert err <= 1e-5 * max(scale, 1.0), f"max abs diff {err:.3g} vs output scale {scale:.3g}"


@pytest.mark.parametrize("case", sorted(CASES))
def test_single_stream_equals_diffusers(case):
    ref, model = _build_pair(case)
    x, text = _inputs(case)
    t = np.array([0.3, 0.875], np.float32)
    theirs = _reference(ref, x, (1000 * t).astype(np.float32), text)
    ours, none = model(jnp.asarray(x), None, jnp.asarray(t), None, jnp.asarray(text))
    assert none is None
    _close(ours, theirs)


def test_per_frame_timesteps_equal_diffusers_per_token():
    """Wan2.2 TI2V style: a clean first frame (t = 0) and noisy later frames, one t per token."""
    ref, model = _build_pair("c48")
    x, text = _inputs("c48")
    f, h, w = x.shape[1], x.shape[2] // 2, x.shape[3] // 2
    t_frames = np.array([[0.0, 0.6], [0.0, 0.25]], np.float32)
    per_token = np.repeat(t_frames, h * w, axis=1) * 1000
    theirs = _reference(ref, x, per_token.astype(np.float32), text)
    ours, _ = model(jnp.asarray(x), None, jnp.asarray(t_frames), None, jnp.asarray(text))
    _close(ours, theirs)
    assert f == t_frames.shape[1]


def test_parity_detects_a_wrong_weight():
    """The comparison is sharp: perturbing one block's weight breaks it."""
    ref, model = _build_pair("c16")
    x, text = _inputs("c16")
    t = np.array([0.5, 0.5], np.float32)
    theirs = _reference(ref, x, 1000 * t, text)
    model.blocks.ffn.net_2.bias[...] = model.blocks.ffn.net_2.bias[...] + 1e-2
    ours, _ = model(jnp.asarray(x), None, jnp.asarray(t), None, jnp.asarray(text))
    with pytest.raises(AssertionError):
        _close(ours, theirs)
