"""A PyTorch home for exported weights: the two-stream UnityVideo model on diffusers' Wan blocks.

    model = TorchUnityDiT.from_safetensors("exported.safetensors")   # config from the file
    v_rgb, v_aux = model(rgb, aux, t_rgb, t_aux, text, aux_text, modality)

Needs the `torch` extra. The backbone is a diffusers `WanTransformer3DModel` kept as `base`
(its embedders, blocks, head and RoPE tables); only the orchestration is ours: aux tokens sit to
the right of the RGB tokens (RoPE width positions W..2W-1), both streams share one
self-attention, RGB tokens cross-attend to the caption and aux tokens to the modality prompt
through the same block weights, and each stream gets its own modulation. Every flavour switch
of the JAX model is honoured (switcher, aux input, aux head, AdaLN timestep).

Shapes are PyTorch's: rgb, aux (B, C, F, H, W); t_rgb, t_aux (B,) flow time in [0, 1]; text,
aux_text (B, L, text_dim); modality (B,) long ids in `unityvideo_jax.modalities` order.
"""

from __future__ import annotations

import json
from typing import Mapping

import ml_dtypes
import numpy as np
import torch
from diffusers import WanTransformer3DModel
from torch import nn

from unityvideo_jax import modalities
from unityvideo_jax.convert import diffusers as diffusers_table
from unityvideo_jax.convert import release
from unityvideo_jax.convert.table import PLACEHOLDERS
from unityvideo_jax.weights.safetensors_file import SafetensorsReader

TIME_SCALE = 1000.0
_RELEASE_NAMES = tuple(m.release_name for m in modalities.MODALITIES)


def diffusers_kwargs(model_config: Mapping) -> dict:
    """`WanTransformer3DModel` arguments for the RGB backbone of a model config."""
    c = dict(model_config)
    return dict(
        patch_size=tuple(c["patch_size"]),
        num_attention_heads=c["num_heads"],
        attention_head_dim=c["dim"] // c["num_heads"],
        in_channels=c["in_channels"],
        out_channels=c["out_channels"],
        text_dim=c["text_dim"],
        freq_dim=c["freq_dim"],
        ffn_dim=c["ffn_dim"],
        num_layers=c["num_layers"],
        cross_attn_norm=True,
        qk_norm="rms_norm_across_heads",
        eps=c["eps"],
    )


class Head(nn.Module):
    """Final AdaLN and projection, named like the release's head (`head`, `modulation`)."""

    def __init__(self, dim: int, out: int):
        super().__init__()
        self.head = nn.Linear(dim, out)
        self.modulation = nn.Parameter(torch.zeros(1, 2, dim))


class TorchUnityDiT(nn.Module):
    def __init__(self, model_config: Mapping):
        super().__init__()
        c = dict(model_config)
        self.config = c
        self.base = WanTransformer3DModel(**diffusers_kwargs(c))
        if not c.get("two_stream", True):
            return
        dim, out = c["dim"], c["out_channels"] * _prod(c["patch_size"])
        if c["aux_input"] == "copy_plus_zero_linear":
            self.flow_patch_embedding = nn.Conv3d(c["in_channels"], dim, c["patch_size"], c["patch_size"])
            self.flow_in = nn.Linear(dim, dim)
        if c["switcher"] == "token":
            self.modality_embeddings = nn.ParameterDict({m: nn.Parameter(torch.zeros(dim)) for m in _RELEASE_NAMES})
        else:
            rows = ("rgb",) + _RELEASE_NAMES
            self.modality_switcher = nn.ParameterDict({m: nn.Parameter(torch.zeros(dim)) for m in rows})
        if c["aux_head"] == "shared":
            self.flow_head = Head(dim, out)
        else:
            self.flow_head = nn.ModuleDict({m: Head(dim, out) for m in _RELEASE_NAMES})

    # ---- weights -------------------------------------------------------------------------------
    @classmethod
    def from_safetensors(cls, path, model_config: Mapping | None = None) -> TorchUnityDiT:
        """A model with the weights of an exported release-format (or paper-format) file.

        Without `model_config`, the config the exporter stored in the file's metadata is used.
        """
        with SafetensorsReader(path) as reader:  # a pickle, truncated or corrupt file fails here, unread
            stored = reader.metadata.get("unityvideo_model")
            if model_config is None:
                if stored is None:
                    raise ValueError(
                        f"{path} carries no model config (not written by `unityvideo export`); pass model_config"
                    )
                model_config = json.loads(stored)
            model = cls(model_config)
            tensors = {name: _torch_tensor(reader, name) for name in reader.names()}
        model.load_release_state_dict(tensors, source=str(path))
        return model.eval()

    def load_release_state_dict(self, tensors: Mapping[str, torch.Tensor], source: str = "the weights") -> None:
        """Load release-named tensors; a missing, extra or mis-shaped one is a ValueError naming it."""
        ours = self.state_dict()
        renames = self.release_names()
        theirs_of = {ours_name: name for name, ours_name in renames.items()}
        missing = [f"{theirs_of[k]} {list(v.shape)}" for k, v in ours.items() if theirs_of[k] not in tensors]
        extra = sorted(n for n in tensors if n not in renames)
        wrong = [
            f"{n} is {list(tensors[n].shape)}, expected {list(ours[renames[n]].shape)}"
            for n in tensors
            if n in renames and tensors[n].shape != ours[renames[n]].shape
        ]
        problems = [f"{label}: {', '.join(items[:3])}" for label, items in
                    (("missing", missing), ("unexpected", extra), ("wrong shape", wrong)) if items]
        if problems:
            raise ValueError(f"{source} do not fit this model's release format: {'; '.join(problems)}")
        self.load_state_dict({renames[n]: t for n, t in tensors.items()}, strict=True)

    def release_names(self) -> dict[str, str]:
        """release tensor name -> our state_dict key (the backbone's original Wan names -> diffusers')."""
        keys = set(self.state_dict())
        renames = {k: k for k in keys if not k.startswith("base.")}
        layers = self.config["num_layers"]
        theirs = {r.ours: r.theirs for r in diffusers_table.TABLE.rules}
        for rule in release.BACKBONE:
            for k, name in _expand(rule.theirs, layers).items():
                target = "base." + _expand(theirs[rule.ours], layers)[k]
                renames[name] = target
        unknown = sorted(set(renames.values()) - keys)
        unnamed = sorted(keys - set(renames.values()))
        if unknown or unnamed:  # a diffusers version whose block layout differs from the tables
            raise RuntimeError(f"release names and module keys disagree: {unknown[:3]} / {unnamed[:3]}")
        return renames

    def release_state_dict(self) -> dict[str, torch.Tensor]:
        """This module's weights under release names (what `unityvideo export --format release` writes)."""
        state = self.state_dict()
        return {name: state[key].contiguous() for name, key in self.release_names().items()}

    # ---- forward -------------------------------------------------------------------------------
    def forward(self, rgb, aux, t_rgb, t_aux, text, aux_text=None, modality=None):
        base, c = self.base, self.config
        b, _, f, h, w = rgb.shape
        pt, ph, pw = c["patch_size"]
        grid = (f // pt, h // ph, w // pw)
        tokens = [_tokens(base.patch_embedding, rgb)]
        times = [t_rgb]
        contexts = [base.condition_embedder.text_embedder(text)]
        if aux is not None:
            tokens.append(self._aux_tokens(aux, modality))
            times.append(t_aux)
            contexts.append(base.condition_embedder.text_embedder(aux_text))
            if c["adaln_timestep"] == "shared":
                times = [torch.maximum(t_rgb, t_aux)] * 2
        if any(t.ndim != 1 for t in times):
            raise ValueError("t_rgb and t_aux must have shape (B,): one flow time per sample")
        switch = modality if aux is not None else None  # single-stream mode has no switcher rows
        temb = [self._time_embedding(t, s, switch) for s, t in enumerate(times)]
        mods = [base.condition_embedder.time_proj(base.condition_embedder.act_fn(e)).unflatten(1, (6, -1))
                for e in temb]
        rope = self._rope(grid, len(tokens))
        x = torch.cat(tokens, dim=1)
        for block in base.blocks:
            x = _block(block, x, mods, contexts, rope)
        n = tokens[0].shape[1]
        v_rgb = _head(base, base.proj_out, base.scale_shift_table, x[:, :n], temb[0])
        outs = [_unpatchify(v_rgb, grid, c["patch_size"])]
        if aux is not None:
            outs.append(_unpatchify(self._aux_head(x[:, n:], temb[1], modality), grid, c["patch_size"]))
        return outs[0], (outs[1] if aux is not None else None)

    def _aux_tokens(self, aux, modality):
        if self.config["aux_input"] == "copy_plus_zero_linear":
            x = self.flow_in(_tokens(self.flow_patch_embedding, aux))
        else:
            x = _tokens(self.base.patch_embedding, aux)
        if self.config["switcher"] == "token":
            table = torch.stack([self.modality_embeddings[m] for m in _RELEASE_NAMES])
            x = x + table[modality][:, None, :]
        return x

    def _time_embedding(self, t, stream: int, modality):
        ce = self.base.condition_embedder
        emb = ce.time_embedder(ce.timesteps_proj(TIME_SCALE * t).float())
        if hasattr(self, "modality_switcher") and modality is not None:
            table = torch.stack([self.modality_switcher[m] for m in ("rgb",) + _RELEASE_NAMES])
            emb = emb + table[0 if stream == 0 else modality + 1].reshape(-1, emb.shape[-1])
        return emb

    def _rope(self, grid, streams: int):
        """diffusers' RoPE tables over a grid `streams` times as wide, split back per stream."""
        f, h, w = grid
        pt, ph, pw = self.config["patch_size"]
        wide = torch.empty(1, 0, f * pt, h * ph, streams * w * pw)
        tables = []
        for table in self.base.rope(wide):  # (1, F*H*S*W, 1, head_dim)
            table = table.reshape(f, h, streams, w, -1).permute(2, 0, 1, 3, 4)
            tables.append(table.reshape(1, streams * f * h * w, 1, -1))
        return tuple(tables)

    def _aux_head(self, x, temb, modality):
        base = self.base
        if self.config["aux_head"] == "shared":
            return _head(base, self.flow_head.head, self.flow_head.modulation, x, temb)
        rows = []
        for i in range(x.shape[0]):
            head = self.flow_head[_RELEASE_NAMES[int(modality[i])]]
            rows.append(_head(base, head.head, head.modulation, x[i : i + 1], temb[i : i + 1]))
        return torch.cat(rows)


def _torch_tensor(reader: SafetensorsReader, name: str) -> torch.Tensor:
    """One tensor copied out of the file's mapping; bf16 travels as its raw 16 bits (torch knows no
    ml_dtypes)."""
    array = np.array(reader.view(name))
    reader.release(name)
    if array.dtype == ml_dtypes.bfloat16:
        return torch.from_numpy(array.view(np.int16)).view(torch.bfloat16)
    return torch.from_numpy(array)


def _block(block, x, mods, contexts, rope):
    """One diffusers WanTransformerBlock over both streams with per-stream modulation and context."""
    n = x.shape[1] // len(mods)
    per_token = [
        (block.scale_shift_table + m.float()).unsqueeze(2).expand(-1, -1, n, -1) for m in mods
    ]  # (B, 6, N, D) per stream
    e = torch.cat(per_token, dim=2)
    shift, scale, gate, c_shift, c_scale, c_gate = e.unbind(1)
    h = (block.norm1(x.float()) * (1 + scale) + shift).type_as(x)
    x = (x.float() + block.attn1(h, None, None, rope) * gate).type_as(x)
    h = block.norm2(x.float()).type_as(x)
    cross = [block.attn2(h[:, s * n : (s + 1) * n], ctx, None, None) for s, ctx in enumerate(contexts)]
    x = x + torch.cat(cross, dim=1)
    h = (block.norm3(x.float()) * (1 + c_scale) + c_shift).type_as(x)
    return (x.float() + block.ffn(h).float() * c_gate).type_as(x)


def _head(base, proj, table, x, temb):
    shift, scale = (table + temb.unsqueeze(1)).chunk(2, dim=1)
    return proj((base.norm_out(x.float()) * (1 + scale) + shift).type_as(x))


def _tokens(conv, video):
    return conv(video).flatten(2).transpose(1, 2)


def _unpatchify(x, grid, patch):
    f, h, w = grid
    pt, ph, pw = patch
    x = x.reshape(x.shape[0], f, h, w, pt, ph, pw, -1).permute(0, 7, 1, 4, 2, 5, 3, 6)
    return x.flatten(6, 7).flatten(4, 5).flatten(2, 3)


def _expand(theirs: str, layers: int) -> dict:
    key = next((k for k in PLACEHOLDERS if f"{{{k}}}" in theirs), None)
    if key is None:
        return {0: theirs}
    return {k: theirs.format(**{key: v}) for k, v in enumerate(PLACEHOLDERS[key](layers))}


def _prod(values) -> int:
    out = 1
    for v in values:
        out *= int(v)
    return out
