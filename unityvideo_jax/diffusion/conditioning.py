"""The text a model is conditioned on besides captions: modality prompts and the empty caption.

Both are encoded once (not per sample) with the config's text encoder and looked up by the
train step and the samplers: `prompts[modality]` for the aux stream, `empty_text` for caption
dropout and the unconditional branch of classifier-free guidance.
"""

from __future__ import annotations

import functools

import jax.numpy as jnp

from unityvideo_jax import modalities
from unityvideo_jax.train.step import StepConstants


@functools.lru_cache(maxsize=4)
def _encoder(name: str, max_len: int, weights: str, tokenizer: str):
    from unityvideo_jax.model import text

    if name not in text.ENCODERS:
        raise ValueError(f"config.data.text_encoder={name!r}: expected one of {sorted(text.ENCODERS)}")
    if name == "umt5":
        return text.umt5_encoder(weights, tokenizer, max_len=max_len)
    return text.ENCODERS[name](max_len=max_len)


def text_encoder(config):
    """The config's text encoder, padding to `config.data.text_len` tokens (cached per process)."""
    data = config.data
    return _encoder(
        data.text_encoder, int(data.text_len), data.get("text_encoder_weights", ""), data.get("tokenizer", "")
    )


def step_constants(config) -> StepConstants:
    encoder = text_encoder(config)
    count = config.model.num_modalities
    prompts, _ = encoder.encode([m.prompt for m in modalities.MODALITIES[:count]])
    empty, _ = encoder.encode([""])
    if prompts.shape[-1] != config.model.text_dim:
        raise ValueError(
            f"the {config.data.text_encoder} text encoder gives {prompts.shape[-1]}-wide embeddings but "
            f"config.model.text_dim={config.model.text_dim}: set text_dim to match or change the encoder"
        )
    return StepConstants(prompts=jnp.asarray(prompts, jnp.float32), empty_text=jnp.asarray(empty[0], jnp.float32))
