"""The one compiled training step for every task and modality.

Per sample it draws a task and flow times, noises the streams the task generates (t = 0 leaves a
stream exactly clean), drops the caption with the configured probability, looks up the modality
prompt, runs the model once and weights the loss with the same masks. Nothing branches on the
task in Python, so a batch mixing tasks and modalities compiles once.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from unityvideo_jax.diffusion import flow, loss, streams, tasks, timesteps
from unityvideo_jax.train.optimizer import ema_decay, ema_update
from unityvideo_jax.train.state import TrainState


@dataclasses.dataclass(frozen=True)
class StepConstants:
    """Text the step looks up instead of receiving per sample."""

    prompts: jax.Array  # (K, L, text_dim): the modality prompts' embeddings, by modality id
    empty_text: jax.Array  # (L, text_dim): the empty caption, for caption dropout


jax.tree_util.register_dataclass(StepConstants, data_fields=["prompts", "empty_text"], meta_fields=[])


def make_train_step(graphdef, config, optimizer):
    """`step(state, batch, constants) -> (state, metrics)`, to be jitted with the state donated."""
    diffusion, train = config.diffusion, config.train
    task_probs = tasks.task_probabilities(diffusion.task_probs)
    num_modalities = config.model.num_modalities
    accum = int(train.grad_accum_steps)

    def prepare(batch: dict[str, jax.Array], key, constants: StepConstants) -> dict[str, Any]:
        if batch["aux"].ndim == 6:
            return prepare_streams(batch, key, constants)
        rgb, aux = batch["rgb"], batch["aux"]
        b = rgb.shape[0]
        k_task, k_t, k_t2, k_rgb, k_aux, k_drop = jax.random.split(key, 6)
        task = tasks.sample_tasks(k_task, b, task_probs)
        t = timesteps.sample_times(k_t, (b,), diffusion)
        t2 = timesteps.sample_times(k_t2, (b,), diffusion)
        t_rgb, t_aux, w_rgb, w_aux = tasks.route(task, t, t2, diffusion.joint_timesteps)
        noise_rgb = jax.random.normal(k_rgb, rgb.shape, rgb.dtype)
        noise_aux = jax.random.normal(k_aux, aux.shape, aux.dtype)
        drop = jax.random.bernoulli(k_drop, diffusion.caption_dropout, (b,))
        text = jnp.where(drop[:, None, None], constants.empty_text[None], batch["text"])
        return dict(
            inputs=dict(
                rgb=flow.interpolate(rgb, noise_rgb, t_rgb),
                aux=flow.interpolate(aux, noise_aux, t_aux),
                t_rgb=t_rgb,
                t_aux=t_aux,
                text=text,
                aux_text=constants.prompts[batch["modality"]] if diffusion.modality_prompts else text,
                modality=batch["modality"],
            ),
            target_rgb=flow.velocity(rgb, noise_rgb),
            target_aux=flow.velocity(aux, noise_aux),
            w_rgb=w_rgb,
            w_aux=w_aux,
            task=task,
        )

    def prepare_streams(batch: dict[str, jax.Array], key, constants: StepConstants) -> dict[str, Any]:
        """`prepare` for k aux streams (batch aux (B, k, ...), modality and present (B, k)): streams.py."""
        rgb, aux, present = batch["rgb"], batch["aux"], batch["present"]
        b, k = aux.shape[:2]
        k_task, k_t, k_t2, k_rgb, k_aux, k_drop, k_mix = jax.random.split(key, 7)
        task = tasks.sample_tasks(k_task, b, task_probs)
        t = timesteps.sample_times(k_t, (b,), diffusion)
        t2 = timesteps.sample_times(k_t2, (b, k), diffusion)
        t_rgb, t_aux, w_rgb, w_aux = streams.route_streams(
            task, t, t2, present, k_mix, float(diffusion.get("mixed_streams", 0.0)), diffusion.joint_timesteps)
        noise_rgb = jax.random.normal(k_rgb, rgb.shape, rgb.dtype)
        noise_aux = jax.random.normal(k_aux, aux.shape, aux.dtype)
        drop = jax.random.bernoulli(k_drop, diffusion.caption_dropout, (b,))
        text = jnp.where(drop[:, None, None], constants.empty_text[None], batch["text"])
        return dict(
            inputs=dict(
                rgb=flow.interpolate(rgb, noise_rgb, t_rgb),
                aux=flow.interpolate(aux, noise_aux, t_aux),
                t_rgb=t_rgb,
                t_aux=t_aux,
                text=text,
                aux_text=(constants.prompts[batch["modality"]] if diffusion.modality_prompts
                          else jnp.broadcast_to(text[:, None], (b, k, *text.shape[1:]))),
                modality=batch["modality"],
                aux_present=present,
            ),
            target_rgb=flow.velocity(rgb, noise_rgb),
            target_aux=flow.velocity(aux, noise_aux),
            w_rgb=w_rgb,
            w_aux=w_aux,
            task=task,
        )

    def loss_fn(params, prep):
        model = nnx.merge(graphdef, params)
        v_rgb, v_aux = model(**prep["inputs"])
        flow_loss = loss.flow_loss_streams if prep["w_aux"].ndim == 2 else loss.flow_loss
        total, per_sample, mse_rgb, mse_aux = flow_loss(
            v_rgb, v_aux, prep["target_rgb"], prep["target_aux"], prep["w_rgb"], prep["w_aux"]
        )
        return total, (per_sample, mse_rgb, mse_aux)

    def gradients(params, prep):
        """Mean loss and gradient over `accum` micro-batches (scanned: one compiled body)."""
        grad_fn = jax.value_and_grad(loss_fn, has_aux=True)
        if accum == 1:
            return grad_fn(params, prep)
        micro = jax.tree.map(lambda x: x.reshape(accum, x.shape[0] // accum, *x.shape[1:]), prep)

        def body(carry, mb):
            (value, aux), grads = grad_fn(params, mb)
            carry = jax.tree.map(jnp.add, carry, grads)
            return carry, (value, aux)

        zeros = jax.tree.map(jnp.zeros_like, params)
        grads, (values, aux) = jax.lax.scan(body, zeros, micro)
        aux = jax.tree.map(lambda x: x.reshape(-1, *x.shape[2:]), aux)
        return (jnp.mean(values), aux), jax.tree.map(lambda g: g / accum, grads)

    def step(state: TrainState, batch: dict[str, jax.Array], constants: StepConstants):
        key = jax.random.wrap_key_data(state.rng)
        if not diffusion.get("fixed_noise", False):
            key = jax.random.fold_in(key, state.step)
        prep = prepare(batch, key, constants)
        (value, (per_sample, mse_rgb, mse_aux)), grads = gradients(state.params, prep)
        grad_norm = optax.global_norm(grads)
        finite = jnp.isfinite(value) & jnp.isfinite(grad_norm)

        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        # A non-finite step changes nothing but the counters (and the step, so the data moves on).
        keep = lambda new, old: jax.tree.map(lambda n, o: jnp.where(finite, n, o), new, old)  # noqa: E731
        params, opt_state = keep(params, state.params), keep(opt_state, state.opt_state)
        step_next = state.step + 1
        do_ema = finite & (step_next % train.ema_every == 0)
        decay = ema_decay(train.ema_decay, step_next // train.ema_every)
        ema = jax.lax.cond(do_ema, lambda: ema_update(state.ema, params, decay), lambda: state.ema)

        bad = (~finite).astype(jnp.int32)
        new_state = state.replace(
            step=step_next,
            params=params,
            opt_state=opt_state,
            ema=ema,
            bad_steps=state.bad_steps + bad,
            bad_streak=(state.bad_streak + bad) * bad,
        )
        w_rgb, w_aux = prep["w_rgb"], prep["w_aux"]
        if w_aux.ndim == 2:
            parts = loss.breakdown_streams(per_sample, prep["task"], batch["modality"], mse_aux, w_aux, num_modalities)
        else:
            parts = loss.breakdown(per_sample, prep["task"], batch["modality"], num_modalities)
        metrics = dict(
            loss=value,
            grad_norm=grad_norm,
            finite=finite,
            # per-stream losses over the samples that train that stream
            loss_rgb=jnp.sum(w_rgb * mse_rgb) / jnp.maximum(jnp.sum(w_rgb), 1.0),
            loss_aux=jnp.sum(w_aux * mse_aux) / jnp.maximum(jnp.sum(w_aux), 1.0),
            **parts,
        )
        return new_state, metrics

    return step
