"""The optimiser: AdamW on fp32 master weights, warm-up then constant or cosine, global-norm clip,
and a learning-rate multiplier for the layers UnityVideo adds to a Wan backbone."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from unityvideo_jax.dtypes import DTYPES

# Top-level parameter groups that are new relative to the Wan base (the release trains them 10x faster).
NEW_LAYERS = ("flow_patch_embedding", "flow_in", "modality_embeddings", "modality_switcher", "flow_head")
SCHEDULES = ("constant", "cosine")


def learning_rate(train, multiplier: float = 1.0) -> optax.Schedule:
    """Linear warm-up from 0 to lr * multiplier, then constant or cosine decay to 0 at train.steps."""
    peak = train.lr * multiplier
    if train.schedule not in SCHEDULES:
        raise ValueError(f"config.train.schedule={train.schedule!r}: expected one of {SCHEDULES}")
    warmup = max(int(train.warmup_steps), 0)
    ramp = optax.linear_schedule(0.0, peak, max(warmup, 1))
    if train.schedule == "constant":
        after = optax.constant_schedule(peak)
    else:
        after = optax.cosine_decay_schedule(peak, max(int(train.steps) - warmup, 1))
    return optax.join_schedules([ramp, after], [warmup]) if warmup else after


def param_groups(params) -> dict:
    """The same tree as `params` with 'new' or 'base' at every leaf."""
    return {k: jax.tree.map(lambda _, k=k: "new" if k in NEW_LAYERS else "base", v) for k, v in params.items()}


def make_optimizer(train) -> optax.GradientTransformation:
    if train.moments_dtype not in DTYPES:
        raise ValueError(f"config.train.moments_dtype={train.moments_dtype!r}: expected one of {tuple(DTYPES)}")

    def adamw(multiplier):
        return optax.adamw(
            learning_rate(train, multiplier),
            b1=train.b1,
            b2=train.b2,
            weight_decay=train.weight_decay,
            mu_dtype=DTYPES[train.moments_dtype],  # the first moment; optax keeps the second in fp32
        )

    groups = {"base": adamw(1.0), "new": adamw(float(train.new_layer_lr_multiplier))}
    return optax.chain(
        optax.clip_by_global_norm(train.grad_clip),
        optax.multi_transform(groups, param_groups),
    )


def ema_decay(decay: float, updates: jax.Array) -> jax.Array:
    """The decay after `updates` EMA updates: min(decay, (1 + n) / (10 + n)), so a short run's EMA is
    not stuck near the random initialisation (0.9999 would need ~10^4 updates to forget it)."""
    n = updates.astype(jnp.float32)
    return jnp.minimum(decay, (1.0 + n) / (10.0 + n))


def ema_update(ema, params, decay):
    """ema <- decay * ema + (1 - decay) * params, in fp32."""
    return jax.tree.map(lambda e, p: (decay * e + (1.0 - decay) * p.astype(jnp.float32)).astype(e.dtype), ema, params)
