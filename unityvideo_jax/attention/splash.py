"""The Pallas splash-attention kernel (TPU) behind the common kernel signature.

Splash wants (N, L, D) per example, sequences its blocks divide, and pre-scaled queries. Here
both sequences are padded to a multiple of 128, padded keys get a segment id no query has (so
they get no weight), the kernel is vmapped over the batch and the padding sliced off again. A
per-sample `kv_mask` (B, Lk) rides on the same segment ids: absent keys get segment 1 like the
padding, one set of ids per sample (vmapped with it); without a mask the ids are shared as before.

`splash_attention` is the differentiable kernel. The ring (attention/ring.py) needs the
two halves separately: `splash_forward` also returns the logsumexp, and `splash_grads` gives one
K/V block's gradients against the softmax of the whole sequence (its global out and logsumexp),
through the backward kernels of jax's splash module.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax.experimental.pallas.ops.tpu import splash_attention as splash
from jax.experimental.pallas.ops.tpu.splash_attention import splash_attention_kernel as splash_kernel

from unityvideo_jax.attention.xla import check_kv_mask

ALIGN = 128  # TPU lanes: sequence blocks are multiples of this
BLOCKS = (512, 256, 128)  # the largest that divides the padded sequence is used


def _platform_is_tpu() -> bool:
    mesh = jax.sharding.get_abstract_mesh()
    platform = jax.default_backend() if mesh.empty else mesh.abstract_device.platform
    return platform == "tpu"


def _interpret(interpret: bool | None) -> bool:
    """Compiled on TPU; elsewhere only when asked for (Pallas' interpreter, for tests)."""
    if interpret is not None:
        return interpret
    if not _platform_is_tpu():
        raise ValueError(
            "config.model.attention='splash' is a TPU kernel but this run compiles for "
            f"{jax.default_backend()}: use attention 'xla' or 'chunked' off TPU"
        )
    return False


def _block(length: int) -> int:
    return next(b for b in BLOCKS if length % b == 0)


def _kernel(heads: int, lq: int, lk: int, interpret: bool, residuals: bool):
    """The splash kernel for these sizes: built once with concrete mask-info arrays (cached), or, where
    they cannot be made here (an AOT plan's mesh of compile-only TPU devices, on which nothing runs
    eagerly), built inside the current trace and not cached (its arrays belong to that trace)."""
    try:
        return _concrete_kernel(heads, lq, lk, interpret, residuals)
    except (AttributeError, RuntimeError, ValueError):
        return _build(heads, lq, lk, interpret, residuals)


@functools.lru_cache(maxsize=32)
def _concrete_kernel(heads: int, lq: int, lk: int, interpret: bool, residuals: bool):
    # Concrete mask-info arrays even when first built inside a jit: the cache outlives that trace, and
    # a second trace (another jit, a second kernel call's grad) would otherwise meet its leaked tracers.
    with jax.ensure_compile_time_eval():
        return _build(heads, lq, lk, interpret, residuals)


def _build(heads: int, lq: int, lk: int, interpret: bool, residuals: bool):
    bq, bk = _block(lq), _block(lk)
    sizes = splash.BlockSizes(
        block_q=bq, block_kv=bk, block_kv_compute=bk,
        block_q_dkv=bq, block_kv_dkv=bk, block_kv_dkv_compute=bk,
        block_q_dq=bq, block_kv_dq=bk,
    )
    mask = splash.MultiHeadMask([splash.FullMask((lq, lk))] * heads)
    return splash.make_splash_mha(mask, block_sizes=sizes, head_shards=1, q_seq_shards=1,
                                  save_residuals=residuals, interpret=interpret)


def _pad(x, length):
    return jnp.pad(x, ((0, 0), (0, length - x.shape[1]), (0, 0), (0, 0)))


def _prepare(q, k, v, kv_valid, kv_mask=None):
    """Scaled, padded, heads-first q/k/v (B, N, L, D) and the segment ids that mask padded keys:
    shared (Lq,)/(Lk,) ids, or per sample (B, Lq)/(B, Lk) ones when `kv_mask` masks keys too."""
    check_kv_mask(kv_mask, q, k)
    lq, lk = q.shape[1], k.shape[1]
    lq_pad, lk_pad = -(-lq // ALIGN) * ALIGN, -(-lk // ALIGN) * ALIGN
    valid = lk if kv_valid is None else kv_valid
    q = q * jnp.asarray(q.shape[-1] ** -0.5, q.dtype)
    q, k, v = (_pad(x, n).transpose(0, 2, 1, 3) for x, n in ((q, lq_pad), (k, lk_pad), (v, lk_pad)))
    if kv_mask is not None:
        present = jnp.pad(kv_mask, ((0, 0), (0, lk_pad - lk)), constant_values=False) & (jnp.arange(lk_pad) < valid)
        segments = splash.SegmentIds(q=jnp.zeros((q.shape[0], lq_pad), jnp.int32), kv=(~present).astype(jnp.int32))
        return q, k, v, segments
    segments = splash.SegmentIds(
        q=jnp.zeros((lq_pad,), jnp.int32), kv=(jnp.arange(lk_pad) >= valid).astype(jnp.int32)
    )
    return q, k, v, segments


def _per_sample(fn, segments, *xs):
    """vmap `fn(*x, segments)` over the batch; the segment ids too where they are per sample."""
    if segments.q.ndim == 2:
        return jax.vmap(fn)(*xs, segments)
    return jax.vmap(lambda *x: fn(*x, segments))(*xs)


def _heads_last(x, length):
    return x.transpose(0, 2, 1, 3)[:, :length]


def splash_attention(q, k, v, kv_valid=None, kv_mask=None, *, interpret: bool | None = None):
    """softmax(q k^T / sqrt(d)) v through splash; differentiable (splash's own backward kernels)."""
    interpret = _interpret(interpret)
    qh, kh, vh, segments = _prepare(q, k, v, kv_valid, kv_mask)
    kernel = _kernel(q.shape[2], qh.shape[2], kh.shape[2], interpret, False)
    out = _per_sample(lambda a, b, c, s: kernel(a, b, c, segment_ids=s), segments, qh, kh, vh)
    return _heads_last(out, q.shape[1])


def splash_forward(q, k, v, kv_valid=None, kv_mask=None, *, interpret: bool | None = None):
    """(out (B, Lq, N, D), logsumexp (B, N, Lq) fp32); not differentiable (the ring's forward)."""
    interpret = _interpret(interpret)
    qh, kh, vh, segments = _prepare(q, k, v, kv_valid, kv_mask)
    kernel = _kernel(q.shape[2], qh.shape[2], kh.shape[2], interpret, True)
    out, (lse,) = _per_sample(lambda a, b, c, s: kernel(a, b, c, segment_ids=s), segments, qh, kh, vh)
    return _heads_last(out, q.shape[1]), lse[:, :, : q.shape[1]]


def splash_grads(q, k, v, out, lse, dout, kv_valid=None, kv_mask=None, *, interpret: bool | None = None):
    """(dq, dk, dv) of one K/V block, given the out and logsumexp of the queries' whole softmax."""
    interpret = _interpret(interpret)
    qh, kh, vh, segments = _prepare(q, k, v, kv_valid, kv_mask)
    lq_pad = qh.shape[2]
    kernel = _kernel(q.shape[2], lq_pad, kh.shape[2], interpret, False)
    oh, doh = (_pad(x, lq_pad).transpose(0, 2, 1, 3) for x in (out.astype(q.dtype), dout.astype(q.dtype)))
    lse = jnp.pad(lse, ((0, 0), (0, 0), (0, lq_pad - lse.shape[2])))
    masks = [_collapsed(m) for m in (kernel.dq_mask_info, kernel.dkv_mask_info)]

    def one(a, b, c, o, l, d, s):
        residuals = (a, b, c, s, None, o, l, *masks)
        grads = splash_kernel._splash_attention_bwd(**_bwd_static(kernel), res=residuals, do=d)
        return grads[3:6]

    dq, dk, dv = _per_sample(one, segments, qh, kh, vh, oh, lse, doh)
    scale = q.shape[-1] ** -0.5
    return _heads_last(dq, q.shape[1]) * scale, _heads_last(dk, k.shape[1]), _heads_last(dv, k.shape[1])


def _bwd_static(kernel) -> dict:
    keys = ("save_residuals", "mask_value", "is_mqa", "block_sizes", "residual_checkpoint_name",
            "mask_function", "attn_logits_soft_cap", "interpret")
    return {key: kernel.kwargs[key] for key in keys}


def _collapsed(info):
    """Splash folds the mask blocks' leading axes into one before its kernels; do the same."""
    if info is None or info.partial_mask_blocks is None:
        return info
    blocks = info.partial_mask_blocks
    return info._replace(partial_mask_blocks=blocks.reshape(-1, *blocks.shape[-2:]))
