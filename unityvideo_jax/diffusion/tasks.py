"""Task routing: the task only decides which stream is noised (docs/ARCHITECTURE.md's table).

| task      | t_rgb | t_aux            | loss on |
| joint     | t     | t (or t', config)| both    |
| estimate  | 0     | t                | aux     |
| condition | t     | 0                | RGB     |

Everything is arrays indexed by a per-sample task id, so one compiled step serves any mix.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

TASKS = ("joint", "estimate", "condition")
# Which streams each task noises (and therefore trains): rows follow TASKS, columns (rgb, aux).
NOISED = np.array([[1.0, 1.0], [0.0, 1.0], [1.0, 0.0]], np.float32)
JOINT_TIMESTEPS = ("shared", "independent")


def task_probabilities(task_probs) -> np.ndarray:
    """(3,) probabilities in TASKS order from a {task: weight} mapping (normalised)."""
    unknown = sorted(set(task_probs) - set(TASKS))
    if unknown:
        raise ValueError(f"config.diffusion.task_probs has unknown tasks {unknown}: expected {TASKS}")
    p = np.array([float(task_probs.get(t, 0.0)) for t in TASKS])
    if (p < 0).any() or p.sum() <= 0:
        raise ValueError(f"config.diffusion.task_probs={dict(task_probs)}: weights must be >= 0 with a positive sum")
    return p / p.sum()


def sample_tasks(key, batch: int, probs: np.ndarray) -> jax.Array:
    """(batch,) int32 task ids drawn independently per sample (the paper assigns tasks per sample)."""
    return jax.random.choice(key, len(TASKS), (batch,), p=jnp.asarray(probs)).astype(jnp.int32)


def route(task: jax.Array, t: jax.Array, t_other: jax.Array, joint_timesteps: str):
    """Per-sample (t_rgb, t_aux, w_rgb, w_aux): flow times of each stream and its loss weight.

    `t` is the noised stream's time; joint samples use `t` for both streams, or `t_other` for aux
    with independent timesteps. A clean stream gets t = 0 exactly (x_t = x_0) and weight 0.
    """
    if joint_timesteps not in JOINT_TIMESTEPS:
        raise ValueError(f"config.diffusion.joint_timesteps={joint_timesteps!r}: expected one of {JOINT_TIMESTEPS}")
    weights = jnp.asarray(NOISED)[task]  # (B, 2)
    w_rgb, w_aux = weights[:, 0], weights[:, 1]
    t_aux_joint = t_other if joint_timesteps == "independent" else t
    t_aux = jnp.where(task == 0, t_aux_joint, t)
    return t * w_rgb, t_aux * w_aux, w_rgb, w_aux
