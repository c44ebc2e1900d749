"""The tiled, threaded copies equal numpy's plain transpose and cast, bit for bit."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

from unityvideo_jax.weights import fast_copy

BF16 = np.dtype(ml_dtypes.bfloat16)


def _random(shape, dtype, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32).astype(dtype)


@pytest.fixture(params=[False, True], ids=["one_thread", "threads"])
def threaded(request, monkeypatch):
    if request.param:  # every copy goes to the pool, in several bands
        monkeypatch.setattr(fast_copy, "_MIN_PARALLEL_BYTES", 0)
        monkeypatch.setattr(fast_copy, "workers", lambda: 3)
    return request.param


@pytest.mark.parametrize("shape", [(1, 1), (7, 300), (513, 257), (256, 512), (1000, 3)])
@pytest.mark.parametrize("src_dtype,dst_dtype", [(BF16, BF16), (BF16, np.float32), (np.float32, BF16),
                                                 (np.float32, np.float32), (np.float16, np.float16)])
def test_transpose_into_equals_numpy(threaded, shape, src_dtype, dst_dtype):
    src = _random(shape, src_dtype)
    dst = np.full(shape[::-1], np.nan, dst_dtype)
    fast_copy.transpose_into(dst, src)
    expected = src.T.astype(dst_dtype)
    assert np.array_equal(dst.view(np.uint8), np.ascontiguousarray(expected).view(np.uint8))


def test_transpose_into_a_strided_view_of_a_stacked_buffer(threaded):
    stacked = np.zeros((3, 300, 40), BF16)
    src = _random((40, 300), BF16)
    fast_copy.transpose_into(stacked[1], src)
    assert np.array_equal(stacked[1], src.T) and not stacked[0].any() and not stacked[2].any()


@pytest.mark.parametrize("shape", [(), (5,), (1000, 7), (3, 4, 5)])
@pytest.mark.parametrize("src_dtype,dst_dtype", [(BF16, BF16), (BF16, np.float32), (np.float32, np.float32)])
def test_copy_into_equals_numpy(threaded, shape, src_dtype, dst_dtype):
    src = _random(shape, src_dtype, seed=1)
    dst = np.zeros(shape, dst_dtype)
    fast_copy.copy_into(dst, src)
    assert np.array_equal(dst.astype(np.float32), src.astype(dst_dtype).astype(np.float32))
    assert dst.dtype == dst_dtype


def test_mismatched_shapes_are_refused():
    with pytest.raises(ValueError, match="cannot transpose"):
        fast_copy.transpose_into(np.zeros((3, 4)), np.zeros((3, 4)))
    with pytest.raises(ValueError, match="cannot copy"):
        fast_copy.copy_into(np.zeros((3, 4)), np.zeros((4, 3)))


def test_a_worker_error_reaches_the_caller(monkeypatch):
    monkeypatch.setattr(fast_copy, "_MIN_PARALLEL_BYTES", 0)
    monkeypatch.setattr(fast_copy, "workers", lambda: 2)
    src = np.ones((600, 8), np.float32)
    readonly = np.zeros((8, 600), np.float32)
    readonly.setflags(write=False)
    with pytest.raises(ValueError, match="read-only"):
        fast_copy.transpose_into(readonly, src)


def test_bands_cover_the_rows_once():
    for rows, step, parts in [(1, 256, 4), (1000, 256, 2), (4096, 256, 16), (10, 1, 3), (7, 1, 16)]:
        bands = fast_copy._bands(rows, step, parts)
        covered = [r for a, b in bands for r in range(a, b)]
        assert covered == list(range(rows)) and len(bands) <= parts
        assert all(a % step == 0 for a, _ in bands)
