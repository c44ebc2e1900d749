import numpy as np
import pytest

from unityvideo_jax.latents import pixel


def test_pixel_latents_round_trip_exactly():
    video = np.random.default_rng(0).integers(0, 256, (2, 5, 8, 12, 3), dtype=np.uint8)
    latent = pixel.encode(video)
    assert latent.shape == (2, 5, 4, 6, 12) and latent.min() >= -1 and latent.max() <= 1
    np.testing.assert_array_equal(pixel.decode(latent), video)
    # space-to-depth keeps a 2x2 block in one token: pixel (0, 1) is channel group 1
    np.testing.assert_allclose(latent[0, 0, 0, 0, 3:6], video[0, 0, 0, 1] / 127.5 - 1)


def test_odd_frames_are_refused():
    with pytest.raises(ValueError, match="divisible by 2"):
        pixel.encode(np.zeros((5, 7, 8, 3), np.uint8))
