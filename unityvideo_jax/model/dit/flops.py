"""Analytic FLOPs of UnityDiT, the numerator of every reported TFLOP/s.

Counted: matmuls only, 2 FLOPs per multiply-add. Per sample with N tokens per stream, S streams
(S = 1 + k: RGB and k aux streams, T = S * N tokens in the joint sequence), L text tokens, width D,
FFN width Fd, P = patch volume times channels, and per layer:
  self-attention projections  4 * 2 T D^2
  self-attention scores + mix 2 * 2 T^2 D          (joint over all S streams: grows as S^2)
  cross-attention q, o        2 * 2 T D^2
  cross-attention k, v        2 * 2 S L D^2        (each stream's own context)
  cross-attention scores+mix  2 * 2 T L D
  FFN                         2 * 2 T D Fd
plus the patch embedding and heads (2 * 2 T P D) and the text projection (2 S L (text_dim D + D^2)).
Everything but the self-attention products grows as S; those grow as S^2, so one aux stream more
costs more than the one before it. A training step (forward + backward) is 3x the forward; full
remat adds one more forward (4x).

`streams` None: the config's, `streams_of(spec)` (1 + config.model.aux_streams for the two-stream
model, 1 for plain Wan).
"""

from __future__ import annotations

from unityvideo_jax.model.dit.spec import DiTSpec


def streams_of(spec: DiTSpec) -> int:
    """Streams in the joint sequence of `spec`'s model: RGB plus config.model.aux_streams aux streams."""
    return 1 + int(spec.aux_streams) if spec.two_stream else 1


def forward_flops(spec: DiTSpec, grid: tuple[int, int, int], streams: int | None, text_len: int) -> int:
    """Forward FLOPs for one sample on a (F', H', W') token grid of `streams` streams (None: the spec's)."""
    streams = streams_of(spec) if streams is None else int(streams)
    d, fd = spec.dim, spec.ffn_dim
    n = grid[0] * grid[1] * grid[2]
    t = streams * n
    s_l = streams * text_len
    per_layer = (
        8 * t * d * d
        + 4 * t * t * d
        + 4 * t * d * d
        + 4 * s_l * d * d
        + 4 * t * text_len * d
        + 4 * t * d * fd
    )
    p = spec.patch_volume * spec.in_channels
    edges = 2 * 2 * t * p * d + 2 * s_l * (spec.text_dim * d + d * d)
    return spec.num_layers * per_layer + edges


def self_attention_flops(spec: DiTSpec, grid: tuple[int, int, int], streams: int | None) -> int:
    """The part of `forward_flops` that grows as streams^2: the joint self-attention's scores and mix."""
    streams = streams_of(spec) if streams is None else int(streams)
    t = streams * grid[0] * grid[1] * grid[2]
    return spec.num_layers * 4 * t * t * spec.dim


def train_step_flops(spec: DiTSpec, grid, streams: int | None, text_len: int, batch: int) -> int:
    """Forward + backward (3x forward) for a batch; remat's recomputation is not counted (model FLOPs)."""
    return 3 * batch * forward_flops(spec, grid, streams, text_len)
