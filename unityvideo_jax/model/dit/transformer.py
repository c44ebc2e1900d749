"""UnityDiT: one Wan DiT over an RGB stream and k auxiliary-modality streams.

    v_rgb, v_aux = model(rgb, aux, t_rgb, t_aux, text, aux_text, modality)               # k = 1
    v_rgb, v_aux = model(rgb, aux, t_rgb, t_aux, text, aux_text, modality, aux_present)  # k streams

The streams are patchified to tokens, joined into one sequence (aux stream s at width positions
sW'..(s+1)W'-1, see rope.py), run through the stacked Wan blocks (joint self-attention, per-stream
cross-attention) and split back to per-stream heads. `aux=None` is the plain single-stream Wan
model, numerically equal to diffusers' `WanTransformer3DModel`.

One auxiliary stream is the release's model: aux (B, F, H, W, C). Several are stacked on axis 1:
aux (B, k, F, H, W, C), each with its own flow time, modality prompt, modality id (switcher row,
token embedding and head of its modality); the parameters are the same for any k (every aux stream
shares the aux patch embedding and the per-modality tables), so weights trained with one stream run
with several. `aux_present` (B, k) marks the streams a sample has: an absent stream is masked out of
attention as keys, so it changes no output of the others (its own output is meaningless).

Flavour choices, one config key each (see configs/base.py):
  switcher        adaln: learned rows {L_rgb, L_1..L_k} added to t_emb before the modulation
                  token: a zero-initialised modality_embeddings[m] added to every aux token
                  none: no modality identity (ablation)
  aux_input       shared: the RGB patch embedding; copy_plus_zero_linear: own patch embedding
                  (a copy of the RGB one) followed by a zero-initialised `flow_in`
  aux_head        shared: one `flow_head` (a copy of the RGB head); per_modality: one per modality
  adaln_timestep  per_stream: each stream is modulated by its own t (a clean stream by t = 0);
                  shared: both by the noisy stream's t = max(t_rgb, t_aux)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from einops import rearrange
from flax import nnx

from unityvideo_jax.model.dit import inputs
from unityvideo_jax.model.dit.block import RESIDUAL_AXES, WanBlock
from unityvideo_jax.model.dit.embed import ConditionEmbedder, PatchEmbedding, unpatchify
from unityvideo_jax.model.dit.head import OutputHead
from unityvideo_jax.model.dit.layers import FP32, dense
from unityvideo_jax.model.dit.remat import get_policy
from unityvideo_jax.model.dit.rope import rope_tables
from unityvideo_jax.model.dit.spec import DiTSpec, from_config
from unityvideo_jax.parallel.logical import constrain


class UnityDiT(nnx.Module):
    def __init__(self, config, *, rngs: nnx.Rngs):
        spec = from_config(config)
        self.spec = spec
        self.patch_embedding = PatchEmbedding(spec, rngs=rngs)
        self.condition_embedder = ConditionEmbedder(spec, rngs=rngs)
        self.blocks = _stacked_blocks(spec, rngs)
        self.head = OutputHead(spec, rngs=rngs)
        if spec.two_stream:
            self._init_aux_stream(spec, rngs)

    def _init_aux_stream(self, spec: DiTSpec, rngs: nnx.Rngs) -> None:
        """The parts only the aux stream has, initialised as the release does (copies and zeros)."""
        k = spec.num_modalities
        if spec.aux_input == "copy_plus_zero_linear":
            self.flow_patch_embedding = _copy_of(self.patch_embedding, PatchEmbedding(spec, rngs=rngs))
            self.flow_in = dense(spec.dim, spec.dim, ("embed", None), spec, rngs=rngs, zero=True)
        zeros = jnp.zeros((k, spec.dim), spec.weight_dtype)
        if spec.switcher == "token":
            self.modality_embeddings = nnx.Param(zeros, out_sharding=("modality", "embed"), eager_sharding=False)
        elif spec.switcher == "adaln":  # row 0 is L_rgb, rows 1..k the modalities
            table = jnp.zeros((k + 1, spec.dim), spec.weight_dtype)
            self.modality_switcher = nnx.Param(table, out_sharding=("modality", "embed"), eager_sharding=False)
        tables = k if spec.aux_head == "per_modality" else 1
        flow_head = OutputHead(spec, rngs=rngs, num_tables=tables)
        self.flow_head = _copy_of(self.head, flow_head)

    def __call__(
        self,
        rgb: jax.Array,
        aux: jax.Array | None,
        t_rgb: jax.Array,
        t_aux: jax.Array | None,
        text: jax.Array,
        aux_text: jax.Array | None = None,
        modality: jax.Array | None = None,
        aux_present: jax.Array | None = None,
    ):
        """Velocities for every stream.

        rgb: (B, F, H, W, C) latents; t_rgb: (B,) flow time in [0, 1] (1 = noise) or (B, F / pt) one
        per latent frame; text: (B, L, text_dim) the caption. One aux stream: aux (B, F, H, W, C),
        t_aux like t_rgb, aux_text (B, L, text_dim) the modality prompt, modality (B,) int32 index
        into `unityvideo_jax.modalities.MODALITIES`. k aux streams: the same with a stream axis after
        the batch (aux (B, k, F, H, W, C), t_aux (B, k[, F / pt]), aux_text (B, k, L, text_dim),
        modality (B, k)) and optionally aux_present (B, k) bool.
        Returns (v_rgb, v_aux), v_aux shaped like aux (None when aux is None).
        """
        spec = self.spec
        grid = inputs.check(spec, rgb, aux, t_rgb, t_aux, text, aux_text, modality, aux_present=aux_present)
        stacked = aux is not None and aux.ndim == 6
        if aux is not None and not stacked:  # one stream: the same arrays with a stream axis of 1
            aux, t_aux, aux_text, modality = aux[:, None], t_aux[:, None], aux_text[:, None], modality[:, None]
        k = 0 if aux is None else aux.shape[1]
        streams = [self.patch_embedding(rgb)]  # each (B, F', H', W', D)
        streams += [self._embed_aux(aux[:, s], modality[:, s]) for s in range(k)]
        # Join the streams into block.py's (B, S, F', M = H'W', D) fp32 residual stream. Stacked on
        # axis 1 directly: rearrange of a list would stack on axis 0 and then transpose (a copy).
        x = rearrange(jnp.stack(streams, axis=1).astype(FP32), "b s f h w d -> b s f (h w) d")
        x = constrain(x, RESIDUAL_AXES)

        present = None if aux_present is None else _stream_presence(aux_present)
        t_emb = self._time_embedding(t_rgb, t_aux, modality, grid[0], present)  # (B, S, Fm, D)
        mod = self.condition_embedder.modulation(t_emb)
        texts = [text] + [aux_text[:, s] for s in range(k)]
        context = jnp.stack([self.condition_embedder.context(c) for c in texts], axis=1)  # (B, S, L, D)
        rope = rope_tables(grid, len(streams), spec.head_dim, spec.rope_theta)

        x = self._run_blocks(x, context, mod, rope, present)

        v_rgb = unpatchify(self.head(x[:, 0], t_emb[:, 0]), grid, spec.patch_size)
        if aux is None:
            return v_rgb, None
        v_aux = [unpatchify(self.flow_head(x[:, 1 + s], t_emb[:, 1 + s], modality[:, s]), grid, spec.patch_size)
                 for s in range(k)]
        return v_rgb, (jnp.stack(v_aux, axis=1) if stacked else v_aux[0])

    def _embed_aux(self, aux: jax.Array, modality: jax.Array) -> jax.Array:
        spec = self.spec
        if spec.aux_input == "copy_plus_zero_linear":
            tokens = self.flow_in(self.flow_patch_embedding(aux))
        else:
            tokens = self.patch_embedding(aux)
        if spec.switcher == "token":
            table = self.modality_embeddings[...].astype(tokens.dtype)
            tokens = tokens + table[modality][:, None, None, None, :]
        return tokens

    def _time_embedding(self, t_rgb, t_aux, modality, frames: int, present=None) -> jax.Array:
        """Per (sample, stream[, frame]) t_emb in fp32, with the AdaLN switcher row if configured.
        t_aux (B, k[, F']) and modality (B, k) carry a stream axis (None: no aux stream); `present`
        (B, S): a shared t is the largest over the streams a sample has."""
        k = 0 if t_aux is None else t_aux.shape[1]
        ts = [_per_frame(t_rgb)] + [_per_frame(t_aux[:, s]) for s in range(k)]
        fm = max(t.shape[1] for t in ts)
        t = jnp.stack([jnp.broadcast_to(t, (t.shape[0], fm)) for t in ts], axis=1)  # (B, S, Fm)
        if self.spec.adaln_timestep == "shared":
            counted = t if present is None else jnp.where(present[:, :, None], t, 0.0)
            t = jnp.broadcast_to(jnp.max(counted, axis=1, keepdims=True), t.shape)
        t_emb = self.condition_embedder.time_embedding(t)
        if k and self.spec.switcher == "adaln":
            rows = jnp.concatenate([jnp.zeros_like(modality[:, :1]), modality + 1], axis=1)  # (B, S)
            t_emb = t_emb + self.modality_switcher[...].astype(FP32)[rows][:, :, None, :]
        return t_emb

    def _run_blocks(self, x, context, mod, rope, present=None):
        policy_name = self.spec.remat_policy

        def body(h, block, context, mod, cos, sin, present):
            return block(h, context, mod, (cos, sin), present)

        if policy_name != "none":
            body = nnx.remat(body, policy=get_policy(policy_name), prevent_cse=False)
        if not self.spec.scan_layers:
            # the parameters stay stacked (one checkpoint layout either way); each layer takes its slice
            graphdef, stacked = nnx.split(self.blocks)
            for i in range(self.spec.num_layers):
                x = body(x, nnx.merge(graphdef, jax.tree.map(lambda a: a[i], stacked)), context, mod, *rope, present)
            return x
        scan = nnx.scan(body, in_axes=(nnx.Carry, 0, None, None, None, None, None), out_axes=nnx.Carry)
        return scan(x, self.blocks, context, mod, *rope, present)


def _stream_presence(aux_present: jax.Array) -> jax.Array:
    """(B, S) bool: RGB (always there) and each aux stream's presence."""
    rgb = jnp.ones((aux_present.shape[0], 1), bool)
    return jnp.concatenate([rgb, aux_present.astype(bool)], axis=1)


def _per_frame(t: jax.Array) -> jax.Array:
    return t[:, None] if t.ndim == 1 else t


def _stacked_blocks(spec: DiTSpec, rngs: nnx.Rngs) -> WanBlock:
    """`num_layers` blocks with their parameters stacked on a leading 'layers' axis."""

    @nnx.split_rngs(splits=spec.num_layers)
    @nnx.vmap(in_axes=(0,), out_axes=0, transform_metadata={nnx.PARTITION_NAME: "layers"})
    def make(rngs: nnx.Rngs) -> WanBlock:
        return WanBlock(spec, rngs=rngs)

    return make(rngs)


def _copy_of(source: nnx.Module, target: nnx.Module) -> nnx.Module:
    """Fill `target` with `source`'s values (broadcast over a stacked leading axis if it has one)."""
    src = nnx.to_pure_dict(nnx.state(source, nnx.Param))
    dst = nnx.state(target, nnx.Param)
    filled = jax.tree.map(
        lambda s, d: jnp.broadcast_to(s, d.shape).astype(d.dtype), src, nnx.to_pure_dict(dst)
    )
    nnx.replace_by_pure_dict(dst, filled)
    nnx.update(target, dst)
    return target



