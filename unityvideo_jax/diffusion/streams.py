"""Tasks as masks over 1 + k streams: each stream of a sample is clean (t = 0), noised, or absent.

With one aux stream the three tasks of tasks.py say it all. With k aux streams the task drawn for a
sample applies to every aux stream it has:

| task      | RGB    | each present aux stream                       |
| joint     | noised | noised (at the sample's t, or its own t)      |
| estimate  | clean  | noised (all at the same t: one sampler runs them together) |
| condition | noised | clean                                         |

and a share `mixed_streams` of the samples then leaves each present aux stream clean or noised at
random (half and half), which trains estimation given other modalities (RGB clean, some aux clean)
and generation under some modalities while generating others (RGB noised). Absent streams (a
sample with fewer modalities than k) get t = 0 and no loss; the model masks them out of attention.
Everything is arrays, so one compiled step serves any mix of patterns.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from unityvideo_jax.diffusion.tasks import JOINT_TIMESTEPS, NOISED


def route_streams(task, t, t_other, present, key, mixed_streams: float, joint_timesteps: str):
    """Per-sample (t_rgb (B,), t_aux (B, k), w_rgb (B,), w_aux (B, k)) for k aux streams.

    task (B,) int32 ids of tasks.TASKS; t (B,) the noised streams' time; t_other (B, k) each aux
    stream's own time (joint samples with independent timesteps); present (B, k) bool.
    """
    if joint_timesteps not in JOINT_TIMESTEPS:
        raise ValueError(f"config.diffusion.joint_timesteps={joint_timesteps!r}: expected one of {JOINT_TIMESTEPS}")
    k_mixed, k_flip = jax.random.split(key)
    weights = jnp.asarray(NOISED)[task]  # (B, 2): (rgb, every aux)
    w_rgb = weights[:, 0]
    w_aux = jnp.broadcast_to(weights[:, 1:], present.shape)
    mixed = jax.random.bernoulli(k_mixed, mixed_streams, task.shape)[:, None]
    flip = jax.random.bernoulli(k_flip, 0.5, present.shape).astype(jnp.float32)
    w_aux = jnp.where(mixed, flip, w_aux) * present.astype(jnp.float32)
    joint = (task == 0)[:, None]
    t_aux = t_other if joint_timesteps == "independent" else t[:, None]
    t_aux = jnp.where(joint, t_aux, t[:, None])
    return t * w_rgb, t_aux * w_aux, w_rgb, w_aux
