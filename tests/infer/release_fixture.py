"""Tiny random weights in exactly the published layouts, so the one-call release path runs offline:

  unityvideo_release.safetensors   the release checkpoint's tensor names (`base.` Wan names plus the
                                   UnityVideo parts), bf16, for release_fixture_config.py's model
  original/                        the Wan folder the authors' scripts read: Wan2.2_VAE.pth (original
                                   VAE names), models_t5_umt5-xxl-enc-bf16.pth (wan/modules/t5.py's names,
                                   bf16), google/umt5-xxl/ (a SentencePiece T5 tokenizer)
  diffusers/                       the Wan-AI/*-Diffusers folder: vae/, text_encoder/ (bf16), tokenizer/
Both base folders hold the same VAE and text encoder, so they must give the same videos.
"""

from __future__ import annotations

import string
from pathlib import Path

import torch
import transformers
from diffusers import AutoencoderKLWan

from tests.conftest import randomize
from tests.infer.release_fixture_config import get_config
from unityvideo_jax.convert.torch_checkpoint import save_torch_checkpoint
from unityvideo_jax.model.text.encoders import WAN_T5_FILE, WAN_T5_TOKENIZER
from unityvideo_jax.model.vae.config import get_vae_config
from unityvideo_jax.model.vae.weights import original_name

CONFIG = str(Path(__file__).with_name("release_fixture_config.py"))
RELEASE = "unityvideo_release.safetensors"


def _wan_t5_name(name: str) -> str | None:
    """transformers' UMT5EncoderModel name -> the original Wan T5 name (None: the tied duplicate)."""
    if name == "encoder.embed_tokens.weight":
        return None
    if name == "shared.weight":
        return "token_embedding.weight"
    if name == "encoder.final_layer_norm.weight":
        return "norm.weight"
    _, _, block, _, layer, *rest = name.split(".")
    tail = ".".join(rest)
    return f"blocks.{block}." + {
        ("0", "layer_norm.weight"): "norm1.weight",
        ("0", "SelfAttention.q.weight"): "attn.q.weight",
        ("0", "SelfAttention.k.weight"): "attn.k.weight",
        ("0", "SelfAttention.v.weight"): "attn.v.weight",
        ("0", "SelfAttention.o.weight"): "attn.o.weight",
        ("0", "SelfAttention.relative_attention_bias.weight"): "pos_embedding.embedding.weight",
        ("1", "layer_norm.weight"): "norm2.weight",
        ("1", "DenseReluDense.wi_0.weight"): "ffn.gate.0.weight",
        ("1", "DenseReluDense.wi_1.weight"): "ffn.fc1.weight",
        ("1", "DenseReluDense.wo.weight"): "ffn.fc2.weight",
    }[(layer, tail)]


def build(root: Path) -> dict[str, Path]:
    """Write the release file and both base folders under `root`; returns their paths."""
    from flax import nnx

    from unityvideo_jax.model.dit.transformer import UnityDiT

    torch.manual_seed(0)
    original, diffusers = root / "original", root / "diffusers"
    original.mkdir(parents=True)
    vae_config = get_vae_config("wan22_tiny")
    vae = AutoencoderKLWan(base_dim=8, decoder_base_dim=12, z_dim=8, num_res_blocks=2, is_residual=True, in_channels=12,
                           out_channels=12, patch_size=2, scale_factor_spatial=16, latents_mean=[0.0] * 8,
                           latents_std=[1.0] * 8).eval()
    vae.save_pretrained(diffusers / "vae")
    torch.save({original_name(n, vae_config): t for n, t in vae.state_dict().items()}, original / "Wan2.2_VAE.pth")

    letters = string.ascii_lowercase
    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)]
    vocab += [(c, -3.0) for c in letters] + [("▁" + c, -2.5) for c in letters] + [("▁the", -1.0), ("▁cat", -1.0)]
    tokenizer = transformers.T5Tokenizer(vocab=vocab, extra_ids=0)
    tokenizer.save_pretrained(diffusers / "tokenizer")
    tokenizer.save_pretrained(original / WAN_T5_TOKENIZER)
    t5 = transformers.UMT5EncoderModel(transformers.UMT5Config(vocab_size=64, d_model=32, d_kv=8, num_heads=4, d_ff=64,
                                                               num_layers=2)).eval().to(torch.bfloat16)
    t5.save_pretrained(diffusers / "text_encoder")
    state = {_wan_t5_name(n): t.clone() for n, t in t5.state_dict().items()}
    torch.save({n: t for n, t in state.items() if n is not None}, original / WAN_T5_FILE)

    config = get_config()
    model = UnityDiT(config.model, rngs=nnx.Rngs(0))
    randomize(model, seed=1, scale=0.2)
    save_torch_checkpoint(model, config, root / RELEASE, format="release", dtype="bfloat16")
    return {"release": root / RELEASE, "original": original, "diffusers": diffusers}
