"""Checks of what a caller hands `UnityDiT`: one clear ValueError per mistake, at trace time."""

from __future__ import annotations

import jax
import numpy as np

from unityvideo_jax import modalities
from unityvideo_jax.model.dit.spec import DiTSpec


def check(spec: DiTSpec, rgb, aux, t_rgb, t_aux, text, aux_text, modality, *, aux_present=None) -> tuple[int, int, int]:
    """Validate the inputs' shapes (and concrete modality ids); return the token grid (F', H', W').
    One aux stream comes as (B, F, H, W, C); k streams stacked on axis 1 (see transformer.py)."""
    if rgb.ndim != 5:
        raise ValueError(f"rgb has shape {rgb.shape}: expected (B, F, H, W, C) channels-last latents")
    b, f, h, w, c = rgb.shape
    if c != spec.in_channels:
        raise ValueError(
            f"rgb has {c} channels: the config expects in_channels={spec.in_channels}; "
            "pass latents of the config's VAE (channels last)"
        )
    for size, patch, axis in zip((f, h, w), spec.patch_size, ("frames F", "height H", "width W")):
        if size % patch:
            raise ValueError(
                f"rgb {axis}={size} is not divisible by the patch size {patch} (patch_size={spec.patch_size}); "
                f"crop or pad the latents to a multiple of {patch}"
            )
    grid = (f // spec.patch_size[0], h // spec.patch_size[1], w // spec.patch_size[2])
    _check_time("t_rgb", t_rgb, b, grid[0])
    _check_text("text", text, b, spec)
    if aux is None:
        given = [name for name, value in (("t_aux", t_aux), ("aux_text", aux_text), ("modality", modality),
                                          ("aux_present", aux_present)) if value is not None]
        if given:
            raise ValueError(
                f"aux is None (the single-stream call) but {', '.join(given)} {'was' if len(given) == 1 else 'were'} "
                f"given for the aux stream: pass aux (B, F, H, W, C) latents too, or leave {', '.join(given)} as None"
            )
        return grid
    if not spec.two_stream:
        raise ValueError("aux was given but config.model.two_stream is False: pass aux=None or use a two-stream config")
    if aux.ndim == 6:
        return _check_streams(spec, grid, rgb, aux, t_aux, text, aux_text, modality=modality, aux_present=aux_present)
    if aux.shape != rgb.shape:
        raise ValueError(
            f"aux has shape {aux.shape} but rgb has {rgb.shape}: both streams must have the same shape "
            f"(several aux streams: stack them as (B, k, {', '.join(map(str, rgb.shape[1:]))}))"
        )
    if aux_present is not None:
        raise ValueError("aux_present is for several aux streams stacked as aux (B, k, F, H, W, C); "
                         "with one aux stream (B, F, H, W, C) leave it None")
    if t_aux is None or aux_text is None or modality is None:
        raise ValueError("with aux given, t_aux, aux_text and modality are required too")
    _check_time("t_aux", t_aux, b, grid[0])
    _check_text("aux_text", aux_text, b, spec)
    if aux_text.shape[1] != text.shape[1]:
        raise ValueError(
            f"aux_text has {aux_text.shape[1]} tokens but text has {text.shape[1]}: pad both to the same length "
            "with zeros (Wan uses 512)"
        )
    if modality.shape != (b,):
        raise ValueError(f"modality has shape {modality.shape}: expected ({b},) int32 ids")
    _check_modality_ids(modality, spec.num_modalities)
    return grid


def _check_streams(spec: DiTSpec, grid, rgb, aux, t_aux, text, aux_text, *, modality, aux_present):
    """k aux streams stacked on axis 1: every per-stream input carries the same (B, k) lead."""
    b = rgb.shape[0]
    k = aux.shape[1]
    if aux.shape[:1] + aux.shape[2:] != rgb.shape:
        raise ValueError(
            f"aux has shape {aux.shape} but rgb has {rgb.shape}: k aux streams are (B, k, F, H, W, C) with "
            "each stream shaped like rgb"
        )
    if k < 1 or k > spec.num_modalities:
        raise ValueError(
            f"aux has {k} streams: expected 1..{spec.num_modalities} (one per modality, each at most once)"
        )
    if t_aux is None or aux_text is None or modality is None:
        raise ValueError("with aux given, t_aux, aux_text and modality are required too")
    if t_aux.shape not in ((b, k), (b, k, grid[0])):
        raise ValueError(
            f"t_aux has shape {t_aux.shape}: expected ({b}, {k}) flow times, one per aux stream, or "
            f"({b}, {k}, {grid[0]}) one per stream and latent frame"
        )
    if aux_text.ndim != 4 or aux_text.shape[:2] != (b, k) or aux_text.shape[3] != spec.text_dim:
        raise ValueError(
            f"aux_text has shape {aux_text.shape}: expected ({b}, {k}, L, {spec.text_dim}), one modality "
            "prompt per aux stream"
        )
    if aux_text.shape[2] != text.shape[1]:
        raise ValueError(
            f"aux_text has {aux_text.shape[2]} tokens but text has {text.shape[1]}: pad both to the same length "
            "with zeros (Wan uses 512)"
        )
    if modality.shape != (b, k):
        raise ValueError(f"modality has shape {modality.shape}: expected ({b}, {k}) int32 ids, one per aux stream")
    if aux_present is not None and aux_present.shape != (b, k):
        raise ValueError(f"aux_present has shape {aux_present.shape}: expected ({b}, {k}) bool, one per aux stream")
    _check_modality_ids(modality, spec.num_modalities)
    _check_distinct(modality, aux_present)
    return grid


def _check_distinct(modality, aux_present) -> None:
    """A modality twice in one sample would be two streams with the same identity: refused."""
    if isinstance(modality, jax.core.Tracer) or isinstance(aux_present, jax.core.Tracer):
        return
    ids = np.asarray(modality)
    present = np.ones(ids.shape, bool) if aux_present is None else np.asarray(aux_present, bool)
    for row, (sample, keep) in enumerate(zip(ids, present)):
        used = sample[keep]
        if len(set(used.tolist())) != len(used):
            twice = [modalities.NAMES[i] for i in set(used.tolist()) if (used == i).sum() > 1]
            raise ValueError(
                f"sample {row} has the modality {', '.join(twice)} in two aux streams: each stream must be a "
                "different modality (mark unused streams absent with aux_present)"
            )


def _check_time(name: str, t, batch: int, frames: int) -> None:
    if t.shape not in ((batch,), (batch, frames)):
        raise ValueError(
            f"{name} has shape {t.shape}: expected ({batch},) flow times in [0, 1] or ({batch}, {frames}) "
            "one per latent frame"
        )


def _check_text(name: str, text, batch: int, spec: DiTSpec) -> None:
    if text.ndim != 3 or text.shape[0] != batch or text.shape[2] != spec.text_dim:
        raise ValueError(
            f"{name} has shape {text.shape}: expected ({batch}, L, {spec.text_dim}) embeddings of the config's "
            f"text encoder (text_dim={spec.text_dim})"
        )


def _check_modality_ids(modality, count: int) -> None:
    if isinstance(modality, jax.core.Tracer):
        return  # only concrete ids can be checked; the data pipeline checks them at the source
    ids = np.asarray(modality)
    bad = ids[(ids < 0) | (ids >= count)]
    if bad.size:
        raise ValueError(
            f"unknown modality id {int(bad[0])}: expected 0..{count - 1} "
            f"({', '.join(modalities.NAMES[:count])}); use unityvideo_jax.modalities.index(name)"
        )
