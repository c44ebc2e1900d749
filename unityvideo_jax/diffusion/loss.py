"""The masked flow-matching loss and its per-task / per-modality break-down.

Per sample: the MSE of each noised stream (mean over its elements), summed over the noised
streams; the batch loss is the mean over samples. For a batch of one task this is the release's
loss (MSE per noised stream, summed); a clean stream contributes exactly nothing.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from unityvideo_jax.diffusion.tasks import TASKS


def per_sample_mse(pred: jax.Array, target: jax.Array) -> jax.Array:
    err = jnp.square(pred.astype(jnp.float32) - target.astype(jnp.float32))
    return jnp.mean(err.reshape(err.shape[0], -1), axis=1)


def flow_loss(v_rgb, v_aux, target_rgb, target_aux, w_rgb, w_aux):
    """(scalar loss, per-sample loss, per-sample rgb mse, per-sample aux mse)."""
    mse_rgb = per_sample_mse(v_rgb, target_rgb)
    mse_aux = per_sample_mse(v_aux, target_aux)
    per_sample = w_rgb * mse_rgb + w_aux * mse_aux
    return jnp.mean(per_sample), per_sample, mse_rgb, mse_aux


def flow_loss_streams(v_rgb, v_aux, target_rgb, target_aux, w_rgb, w_aux):
    """flow_loss for k aux streams (v_aux, target_aux (B, k, ...), w_aux (B, k)): each noised stream's
    MSE, summed per sample. Returns (scalar loss, per-sample loss, rgb mse (B,), aux mse (B, k))."""
    mse_rgb = per_sample_mse(v_rgb, target_rgb)
    err = jnp.square(v_aux.astype(jnp.float32) - target_aux.astype(jnp.float32))
    mse_aux = jnp.mean(err.reshape(err.shape[0], err.shape[1], -1), axis=2)
    per_sample = w_rgb * mse_rgb + jnp.sum(w_aux * mse_aux, axis=1)
    return jnp.mean(per_sample), per_sample, mse_rgb, mse_aux


def breakdown_streams(per_sample, task, modality, aux_loss, aux_weight, num_modalities: int) -> dict[str, jax.Array]:
    """`breakdown` for k aux streams: per task as before; per modality the MSE of the streams of that
    modality that were noised (aux_loss, aux_weight (B, k); the RGB part has no modality here)."""
    task_hot = jax.nn.one_hot(task, len(TASKS), dtype=jnp.float32)
    mod_hot = jax.nn.one_hot(modality, num_modalities, dtype=jnp.float32) * aux_weight[..., None]  # (B, k, K)
    return {
        "task_loss_sum": task_hot.T @ per_sample,
        "task_count": task_hot.sum(0),
        "modality_loss_sum": jnp.einsum("bsk,bs->k", mod_hot, aux_loss),
        "modality_count": mod_hot.sum((0, 1)),
    }


def breakdown(per_sample, task, modality, num_modalities: int) -> dict[str, jax.Array]:
    """Loss sums and counts per task and per modality (the loop divides after aggregating steps)."""
    task_hot = jax.nn.one_hot(task, len(TASKS), dtype=jnp.float32)
    mod_hot = jax.nn.one_hot(modality, num_modalities, dtype=jnp.float32)
    return {
        "task_loss_sum": task_hot.T @ per_sample,
        "task_count": task_hot.sum(0),
        "modality_loss_sum": mod_hot.T @ per_sample,
        "modality_count": mod_hot.sum(0),
    }
