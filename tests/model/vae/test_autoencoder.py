"""Wan VAEs against diffusers' `AutoencoderKLWan` on tiny random weights, imported through the
diffusers name table; chunking, tiling, normalisation, import errors and bad inputs."""

from __future__ import annotations

import dataclasses
import json

import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest
import torch
from diffusers import AutoencoderKLWan
from flax import nnx
from safetensors.numpy import save_file

from unityvideo_jax.model.vae.autoencoder import WanVAE
from unityvideo_jax.model.vae.config import VAE_CONFIGS, WAN21_VAE, WAN22_VAE, config_from_diffusers, get_vae_config
from unityvideo_jax.model.vae.latent_space import SPACES
from unityvideo_jax.model.vae.tiling import VAETiling, tiled_decode
from unityvideo_jax.model.vae.weights import (
    export_diffusers_state,
    import_diffusers_state,
    load_diffusers_vae,
    load_original_vae,
    name_table,
    original_name,
)
from unityvideo_jax.weights.safetensors_file import write_safetensors

TOLERANCE = 1e-4  # max abs difference, relative to the reference output's RMS

# Tiny configs of both published variants (published layouts; small widths and one residual block
# per encoder stage, two per decoder stage, to keep compilation short), built in diffusers.
TINY = {
    "wan21": dict(base_dim=8, z_dim=4, num_res_blocks=1),
    "wan22": dict(
        base_dim=8,
        decoder_base_dim=12,
        z_dim=6,
        num_res_blocks=1,
        is_residual=True,
        in_channels=12,
        out_channels=12,
        patch_size=2,
        scale_factor_spatial=16,
    ),
}
FRAME_SIZE = {"wan21": (16, 16), "wan22": (32, 32)}
# Overlapping tiles along one axis per variant: Wan2.1 across the width, Wan2.2 (whose encoder
# tiles the 2x2-patchified frame) across the height. Full tiles have the shapes of the 9-frame
# whole-video calls of `test_chunked_coding_equals_whole_video`, so only edge tiles compile anew.
# (The 2D stitching order is tested on its own, with a cheap stand-in decoder.)
TILED = {
    "wan21": ((16, 40), VAETiling(tile_height=16, tile_width=16, stride_height=16, stride_width=8)),
    "wan22": ((64, 32), VAETiling(tile_height=32, tile_width=32, stride_height=16, stride_width=32)),
}
VAE22_DIFFUSERS_CONFIG = dict(
    base_dim=160,
    decoder_base_dim=256,
    z_dim=48,
    is_residual=True,
    in_channels=12,
    out_channels=12,
    patch_size=2,
    scale_factor_spatial=16,
    latents_mean=list(WAN22_VAE.latents_mean),
    latents_std=list(WAN22_VAE.latents_std),
)


def _torch_to_ours(x: torch.Tensor) -> jnp.ndarray:
    return jnp.asarray(x.numpy().transpose(0, 2, 3, 4, 1))


def _ours_to_numpy(x) -> np.ndarray:
    return np.asarray(x).transpose(0, 4, 1, 2, 3)


def _rms(x) -> float:
    return float(np.sqrt(np.mean(np.square(np.asarray(x, np.float64)))))


def _scaled_error(ours, ref) -> float:
    """max |ours - ref| in units of the reference's RMS."""
    return float(np.abs(np.asarray(ours, np.float64) - np.asarray(ref, np.float64)).max()) / _rms(ref)


@pytest.fixture(scope="module", params=sorted(TINY))
def pair(request, tmp_path_factory):
    """(variant, diffusers model, our model loaded from its save_pretrained folder)."""
    variant = request.param
    generator = torch.Generator().manual_seed(0)
    z_dim = TINY[variant]["z_dim"]
    stats = dict(
        latents_mean=(torch.rand(z_dim, generator=generator) - 0.5).tolist(),
        latents_std=(torch.rand(z_dim, generator=generator) + 0.5).tolist(),
    )
    torch.manual_seed(0)
    ref = AutoencoderKLWan(**TINY[variant], **stats).eval()
    with torch.no_grad():
        for name, param in ref.named_parameters():  # also perturb the gammas, so a swapped norm shows
            param.add_(0.1 * torch.randn(param.shape, generator=generator))
        ref.decoder.conv_out.weight.mul_(0.3)  # keep decoded pixels mostly inside the [-1, 1] clamp
    folder = tmp_path_factory.mktemp(variant)
    ref.save_pretrained(folder)
    return variant, ref, load_diffusers_vae(folder)


def _video(variant: str, frames: int, seed: int = 0) -> torch.Tensor:
    height, width = FRAME_SIZE[variant]
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(1, 3, frames, height, width, generator=generator) * 2 - 1


@pytest.mark.parametrize("frames", [1, 5, 9])
def test_encode_matches_diffusers(pair, frames):
    variant, ref, vae = pair
    video = _video(variant, frames)
    with torch.no_grad():
        expected = ref.encode(video).latent_dist
    dist = vae.encode(_torch_to_ours(video))
    assert dist.mean.shape[1] == (frames - 1) // 4 + 1
    assert _scaled_error(_ours_to_numpy(dist.mean), expected.mean) <= TOLERANCE
    assert _scaled_error(_ours_to_numpy(dist.logvar), expected.logvar) <= TOLERANCE


@pytest.mark.parametrize("frames", [1, 5, 9])
def test_decode_matches_diffusers(pair, frames):
    variant, ref, vae = pair
    latent_frames = (frames - 1) // 4 + 1
    height, width = (s // vae.config.spatial_stride for s in FRAME_SIZE[variant])
    latent = torch.randn(1, vae.config.z_dim, latent_frames, height, width, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = ref.decode(latent).sample.numpy()
    assert np.mean(np.abs(expected) >= 1.0) < 0.05, "the clamp would hide most of the comparison"
    video = _ours_to_numpy(vae.decode(_torch_to_ours(latent)))
    assert video.shape == expected.shape == (1, 3, frames, *FRAME_SIZE[variant])
    assert _scaled_error(video, expected) <= TOLERANCE


def test_chunked_coding_equals_whole_video(pair):
    variant, _, vae = pair
    video = _torch_to_ours(_video(variant, 9, seed=2))
    whole = vae.encode(video, chunk_frames=None).mean
    for chunk_frames in (4, 8):
        assert _scaled_error(vae.encode(video, chunk_frames=chunk_frames).mean, whole) <= TOLERANCE
    latent = whole + 0.5 * jnp.sin(jnp.arange(whole.size).reshape(whole.shape))
    whole_video = vae.decode(latent, chunk_frames=None)
    for chunk_frames in (1, 2):
        assert _scaled_error(vae.decode(latent, chunk_frames=chunk_frames), whole_video) <= TOLERANCE


def test_tiled_matches_diffusers_tiled(pair):
    variant, ref, vae = pair
    (height, width), tiling = TILED[variant]
    ref.enable_tiling(tiling.tile_height, tiling.tile_width, tiling.stride_height, tiling.stride_width)
    try:
        video = torch.rand(1, 3, 9, height, width, generator=torch.Generator().manual_seed(3)) * 2 - 1
        with torch.no_grad():
            expected_mean = ref.encode(video).latent_dist.mean
            latent = torch.randn(expected_mean.shape, generator=torch.Generator().manual_seed(4))
            expected_video = ref.decode(latent).sample.numpy()
    finally:
        ref.use_tiling = False
    # each tile coded in one call (chunked equals whole, tested above): fewer shapes to compile
    mean = vae.encode(_torch_to_ours(video), tiling=tiling, chunk_frames=None).mean
    assert _scaled_error(_ours_to_numpy(mean), expected_mean) <= TOLERANCE
    decoded = _ours_to_numpy(vae.decode(_torch_to_ours(latent), tiling=tiling, chunk_frames=None))
    assert decoded.shape == expected_video.shape
    assert _scaled_error(decoded, expected_video) <= TOLERANCE
    # with random weights, tiles see less context than whole frames: tiling must change the result
    with torch.no_grad():
        untiled_mean = ref.encode(video).latent_dist.mean
    assert _scaled_error(_ours_to_numpy(mean), untiled_mean) > 1e-2


class _StandInDecoder(torch.nn.Module):
    """A cheap decoder whose output depends on the whole tile (x8 nearest upsampling scaled by the
    frame's mean), so overlapping tiles disagree and the blending shows."""

    def forward(self, x, feat_cache=None, feat_idx=None, first_chunk=False):
        y = x[:, :3] * (1 + x.mean(dim=(3, 4), keepdim=True)[:, :3])
        return y.repeat_interleave(8, dim=3).repeat_interleave(8, dim=4)


def _stand_in_decode(z):
    y = (z * (1 + z.mean(axis=(2, 3), keepdims=True)))[..., :3]
    return jnp.repeat(jnp.repeat(y, 8, axis=2), 8, axis=3)


def test_tile_stitching_matches_diffusers_on_a_2d_grid():
    """7 x 6 tiles whose overlap (16 of 24 pixels) exceeds half a tile: every tile is blended with
    upper and left neighbours that were blended before it, in diffusers' order."""
    ref = AutoencoderKLWan(**TINY["wan21"])
    ref.decoder, ref.post_quant_conv = _StandInDecoder(), torch.nn.Identity()
    ref.enable_tiling(24, 24, 8, 8)
    latent = 0.3 * torch.randn(1, 4, 2, 7, 6, generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        expected = ref.decode(latent).sample.numpy()
    tiling = VAETiling(tile_height=24, tile_width=24, stride_height=8, stride_width=8)
    stitched = _ours_to_numpy(tiled_decode(_stand_in_decode, _torch_to_ours(latent), tiling, 8, 1))
    assert stitched.shape == expected.shape == (1, 3, 2, 56, 48)
    assert np.abs(stitched).max() < 1  # nothing hidden by diffusers' clamp
    assert _scaled_error(stitched, expected) <= 1e-6


def test_normalize_matches_wan_pipelines(pair):
    _, ref, vae = pair
    z = torch.randn(1, vae.config.z_dim, 2, 3, 3)
    mean = torch.tensor(ref.config.latents_mean).view(1, -1, 1, 1, 1)
    std = torch.tensor(ref.config.latents_std).view(1, -1, 1, 1, 1)
    expected = ((z - mean) / std).numpy()
    normalized = vae.normalize(_torch_to_ours(z))
    np.testing.assert_allclose(_ours_to_numpy(normalized), expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(vae.denormalize(normalized), _torch_to_ours(z), rtol=1e-5, atol=1e-6)


def test_export_round_trips_into_diffusers(pair):
    variant, ref, vae = pair
    fresh = AutoencoderKLWan(**TINY[variant], latents_mean=ref.config.latents_mean, latents_std=ref.config.latents_std)
    fresh.load_state_dict({k: torch.from_numpy(v) for k, v in export_diffusers_state(vae).items()}, strict=True)
    for name, tensor in ref.state_dict().items():
        np.testing.assert_array_equal(fresh.state_dict()[name].numpy(), tensor.numpy(), err_msg=name)


@pytest.mark.parametrize(
    "config, diffusers_kwargs",
    [(WAN21_VAE, {}), (WAN22_VAE, VAE22_DIFFUSERS_CONFIG)],
    ids=["wan21", "wan22"],
)
def test_published_configs_match_diffusers_architecture(config, diffusers_kwargs):
    with torch.device("meta"):
        ref = AutoencoderKLWan(**diffusers_kwargs)
    assert config_from_diffusers(dict(ref.config)) == config
    expected = {name: tuple(t.shape) for name, t in ref.state_dict().items()}
    ours = {entry.name: entry.torch_shape for entry in name_table(config)}
    assert ours == expected
    assert config.spatial_stride == ref.config.scale_factor_spatial and config.temporal_stride == 4


def test_parameters_carry_logical_axes_and_build_without_mesh():
    vae = nnx.eval_shape(lambda: WanVAE(get_vae_config("wan22_tiny"), rngs=nnx.Rngs(0)))
    kernel = vae.encoder.conv_in.kernel
    assert kernel.get_metadata()["out_sharding"] == (None, None, None, "conv_in", "conv_out")
    assert kernel.dtype == jnp.float32
    assert vae.decoder.up_blocks[0].upsampler.resample_conv.kernel.get_metadata()["out_sharding"] == (
        None,
        None,
        "conv_in",
        "conv_out",
    )


def test_bfloat16_compute_stays_close(pair):
    variant, _, vae = pair
    bf16 = nnx.eval_shape(lambda: WanVAE(dataclasses.replace(vae.config, dtype="bfloat16"), rngs=nnx.Rngs(0)))
    nnx.update(bf16, nnx.state(vae, nnx.Param))
    height, width = (s // vae.config.spatial_stride for s in FRAME_SIZE[variant])
    latent = jnp.cos(jnp.arange(3 * height * width * vae.config.z_dim, dtype=jnp.float32))
    latent = latent.reshape(1, 3, height, width, -1)  # the shape of the whole-video decode above
    full = vae.decode(latent, chunk_frames=None)
    half = bf16.decode(latent, chunk_frames=None)
    assert half.dtype == jnp.float32
    assert 0 < _rms(np.asarray(half) - np.asarray(full)) / _rms(full) < 0.05


@pytest.fixture(scope="module")
def tiny_tensors():
    torch.manual_seed(0)
    ref = AutoencoderKLWan(**TINY["wan21"], latents_mean=[0.0] * 4, latents_std=[1.0] * 4)
    config = config_from_diffusers(dict(ref.config))
    return config, {name: t.numpy() for name, t in ref.state_dict().items()}


def test_import_rejects_missing_extra_and_misshaped_tensors(tiny_tensors):
    config, tensors = tiny_tensors
    name = "decoder.up_blocks.1.resnets.0.conv1.weight"
    missing = {k: v for k, v in tensors.items() if k != name}
    with pytest.raises(ValueError, match=r"missing 1 tensor\(s\): decoder\.up_blocks\.1\.resnets\.0\.conv1\.weight"):
        import_diffusers_state(config, missing)
    with pytest.raises(ValueError, match=r"unexpected 1 tensor\(s\): encoder\.extra\.weight"):
        import_diffusers_state(config, {**tensors, "encoder.extra.weight": np.zeros(3, np.float32)})
    wrong = {**tensors, name: tensors[name][:, :-1]}
    expected = rf"mis-shaped 1 tensor\(s\): {name} is \[32, 15, 3, 3, 3\], expected \[32, 16"
    with pytest.raises(ValueError, match=expected):
        import_diffusers_state(config, wrong)
    with pytest.raises(ValueError, match="missing"):  # the other variant's config does not fit
        import_diffusers_state(get_vae_config("wan22_tiny"), tensors)


def test_loads_a_sharded_index_with_its_config(tiny_tensors, tmp_path):
    config, tensors = tiny_tensors
    names = sorted(tensors)
    halves = {"part-1.safetensors": names[::2], "part-2.safetensors": names[1::2]}
    for file, part in halves.items():
        save_file({name: np.ascontiguousarray(tensors[name]) for name in part}, tmp_path / file)
    weight_map = {name: file for file, part in halves.items() for name in part}
    (tmp_path / "diffusion_pytorch_model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    _diffusers_config_json(tmp_path)
    vae = load_diffusers_vae(tmp_path)
    assert vae.config == config
    exported = export_diffusers_state(vae)
    assert sorted(exported) == names
    for name in names:
        np.testing.assert_array_equal(exported[name], tensors[name], err_msg=name)


def _diffusers_config_json(folder) -> None:
    config = {**TINY["wan21"], "temperal_downsample": [False, True, True], "_class_name": "AutoencoderKLWan"}
    (folder / "config.json").write_text(json.dumps(config | {"latents_mean": [0.0] * 4, "latents_std": [1.0] * 4}))


def test_loads_a_bf16_file_through_the_one_reader(tiny_tensors, tmp_path):
    _, tensors = tiny_tensors
    bf16 = {name: value.astype(ml_dtypes.bfloat16) for name, value in tensors.items()}
    write_safetensors(tmp_path / "diffusion_pytorch_model.safetensors",
                      {n: (v.shape, v.dtype) for n, v in bf16.items()}, bf16.__getitem__)
    _diffusers_config_json(tmp_path)
    exported = export_diffusers_state(load_diffusers_vae(tmp_path))
    assert sorted(exported) == sorted(bf16)
    for name, value in bf16.items():  # fp32 masters holding the bf16 values exactly
        np.testing.assert_array_equal(exported[name], value.astype(np.float32), err_msg=name)
    assert any(not np.array_equal(bf16[n].astype(np.float32), tensors[n]) for n in tensors)  # really rounded


def test_missing_or_absent_weights_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"checkpoint not found: .*no_vae_here"):
        load_diffusers_vae(tmp_path / "no_vae_here")
    _diffusers_config_json(tmp_path)
    with pytest.raises(ValueError, match=r"should hold one \*\.safetensors file .*found 0 and 0"):
        load_diffusers_vae(tmp_path)


def test_vae_config_names_are_the_latent_space_names():
    published = {name for name in VAE_CONFIGS if not name.endswith("_tiny")}
    assert published == set(SPACES) - {"pixel"} == {"wan21", "wan22"}
    assert get_vae_config("wan21") == WAN21_VAE and get_vae_config("wan22") == WAN22_VAE
    assert get_vae_config("wan22_tiny").is_residual and not get_vae_config("wan21_tiny").is_residual
    for old, new in (("wan2.1", "wan21"), ("wan2.2", "wan22"), ("wan2.1-tiny", "wan21_tiny"), ("wan2.2-tiny", "wan22_tiny")):
        with pytest.raises(ValueError, match=rf"VAE config '{old}' is now called '{new}'"):
            get_vae_config(old)


@pytest.fixture(scope="module")
def tiny_vae():
    """Abstract parameters: the checks must fire before any computation."""
    return nnx.eval_shape(lambda: WanVAE(get_vae_config("wan22_tiny"), rngs=nnx.Rngs(0)))


@pytest.mark.parametrize(
    "shape, message",
    [
        ((1, 4, 32, 32, 3), r"has 4 frames; the Wan VAE needs 4k \+ 1 frames .*trim it to 1 frames or pad it to 5"),
        ((1, 7, 32, 32, 3), r"video has 7 frames.*trim it to 5 frames or pad it to 9"),
        ((1, 5, 40, 32, 3), r"frames are 40x32 .*divisible by 16: resize or crop the frames to e\.g\. 32x32"),
        ((1, 5, 32, 24, 3), r"frames are 32x24 .*divisible by 16"),
        ((1, 3, 5, 32, 32), r"channels-last, got shape \(1, 3, 5, 32, 32\)"),
        ((5, 32, 32, 3), r"must be \(B, F, H, W, 3\)"),
    ],
)
def test_encode_rejects_bad_video(tiny_vae, shape, message):
    with pytest.raises(ValueError, match=message):
        tiny_vae.encode(jnp.zeros(shape))


def test_rejects_bad_latent_chunking_and_tiling(tiny_vae):
    with pytest.raises(ValueError, match=r"latent must be \(B, F, h, w, 8\)"):
        tiny_vae.decode(jnp.zeros((1, 2, 2, 2, 4)))
    with pytest.raises(ValueError, match=r"encode\(chunk_frames=3\): must be a positive multiple of 4"):
        tiny_vae.encode(jnp.zeros((1, 5, 32, 32, 3)), chunk_frames=3)
    with pytest.raises(ValueError, match=r"VAETiling.stride_height=24 must be a positive multiple of .* 16"):
        tiny_vae.decode(jnp.zeros((1, 1, 4, 4, 8)), tiling=VAETiling(32, 32, 24, 16))
    with pytest.raises(ValueError, match="unknown VAE config 'wan3'"):
        get_vae_config("wan3")


def test_original_wan21_names_match_diffusers_single_file_conversion():
    from diffusers.loaders.single_file_utils import convert_wan_vae_to_diffusers

    names = [entry.name for entry in name_table(WAN21_VAE)]
    converted = convert_wan_vae_to_diffusers({original_name(name, WAN21_VAE): name for name in names})
    assert converted == {name: name for name in names}


def test_loads_an_original_wan_checkpoint(pair, tmp_path):
    variant, ref, vae = pair
    original = {original_name(name, vae.config): t for name, t in ref.state_dict().items()}
    assert len(original) == len(ref.state_dict())
    torch.save(original, tmp_path / "vae.pth")
    loaded = load_original_vae(tmp_path / "vae.pth", vae.config)
    ours = dict(nnx.to_flat_state(nnx.state(vae, nnx.Param)))
    for path, variable in nnx.to_flat_state(nnx.state(loaded, nnx.Param)):
        np.testing.assert_array_equal(variable[...], ours[path][...], err_msg=str(path))
    first = sorted(original)[0]
    torch.save({**original, "encoder.spare.weight": original[first]}, tmp_path / "extra.pth")
    with pytest.raises(ValueError, match=r"original Wan VAE weights .* unexpected 1 tensor\(s\): encoder\.spare\."):
        load_original_vae(tmp_path / "extra.pth", vae.config)
