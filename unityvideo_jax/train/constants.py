"""The text a model is conditioned on besides captions: modality prompts and the empty caption.

Both are encoded once (not per sample) with the config's text encoder and looked up by the
train step and the samplers: `prompts[modality]` for the aux stream, `empty_text` for caption
dropout and the unconditional branch of classifier-free guidance.
"""

from __future__ import annotations

import jax.numpy as jnp

from unityvideo_jax import modalities
from unityvideo_jax.train.step import StepConstants


def text_encoder(config):
    """The config's text encoder, padding to `config.data.text_len` tokens (cached per process).
    umT5 reads `config.data.text_encoder_weights` (`--text-encoder-weights`): a Wan folder holding
    text_encoder/ and tokenizer/. A config saved before the key existed reads as unset."""
    from unityvideo_jax.model.text.encoders import text_encoder as by_name

    data = config.data
    return by_name(data.text_encoder, data.get("text_encoder_weights", "") or None, int(data.text_len),
                   data.get("text_encoder_param_dtype", "") or None)


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
