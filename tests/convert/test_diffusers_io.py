"""diffusers `WanTransformer3DModel` in and out: parity, bit-exact round trips, strict loading, new parts."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

torch = pytest.importorskip("torch")
diffusers = pytest.importorskip("diffusers")

from tests.conftest import randomize, tiny_model_config  # noqa: E402
from tests.convert.random_checkpoints import write_random  # noqa: E402
from unityvideo_jax import UnityDiT, get_config  # noqa: E402
from unityvideo_jax.convert.torch_checkpoint import load_torch_checkpoint, save_torch_checkpoint  # noqa: E402
from unityvideo_jax.convert.torch_model import diffusers_kwargs  # noqa: E402
from unityvideo_jax.weights.tree import flatten  # noqa: E402

WEIGHTS = "diffusion_pytorch_model.safetensors"


def _single_stream_config():
    return tiny_model_config(two_stream=False, in_channels=16, out_channels=16, text_dim=32, freq_dim=32)


def _random_wan(model_config, seed=0):
    torch.manual_seed(seed)
    wan = diffusers.WanTransformer3DModel(**diffusers_kwargs(model_config)).eval()
    with torch.no_grad():  # every parameter random, norms included (around 1)
        for p in wan.parameters():
            p.copy_(torch.randn_like(p) * 0.2 + (1.0 if p.ndim == 1 and torch.all(p == 1) else 0.0))
    return wan


def _params(model) -> dict:
    return flatten(nnx.to_pure_dict(nnx.state(model, nnx.Param)))


def test_diffusers_save_pretrained_imports_to_an_equal_single_stream_model(tmp_path):
    config = _single_stream_config()
    wan = _random_wan(config)
    wan.save_pretrained(tmp_path / "single")
    wan.save_pretrained(tmp_path / "sharded", max_shard_size="40KB")
    assert len(list((tmp_path / "sharded").glob("*.safetensors"))) > 2
    model = load_torch_checkpoint(tmp_path / "single", config)

    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 4, 6, 16)).astype(np.float32)
    text = rng.standard_normal((2, 7, 32)).astype(np.float32)
    t = np.array([0.3, 0.875], np.float32)
    with torch.no_grad():
        theirs = wan(torch.from_numpy(x).permute(0, 4, 1, 2, 3), timestep=torch.from_numpy(1000 * t),
                     encoder_hidden_states=torch.from_numpy(text), return_dict=False)[0]
    theirs = theirs.permute(0, 2, 3, 4, 1).numpy()
    ours, _ = model(jnp.asarray(x), None, jnp.asarray(t), None, jnp.asarray(text))
    err, scale = float(np.abs(np.asarray(ours) - theirs).max()), float(np.abs(theirs).max())
    print(f"diffusers parity: max abs diff {err:.3g}, output scale {scale:.3g}")
    assert err <= 1e-5 * scale

    single, sharded = _params(model), _params(load_torch_checkpoint(tmp_path / "sharded", config))
    for path in single:
        np.testing.assert_array_equal(np.asarray(sharded[path]), np.asarray(single[path]), err_msg=path)


def _bytes(t: torch.Tensor) -> bytes:
    return t.contiguous().view(torch.uint8).numpy().tobytes()


@pytest.mark.parametrize("dtype", ["bf16", "fp32"])
def test_diffusers_round_trip_is_bit_exact(tmp_path, dtype):
    config = _single_stream_config()
    wan = _random_wan(config).to({"bf16": torch.bfloat16, "fp32": torch.float32}[dtype])
    wan.save_pretrained(tmp_path)
    model = load_torch_checkpoint(tmp_path, config)
    save_torch_checkpoint(model, config, tmp_path / "out.safetensors", format="diffusers", dtype=dtype)
    from safetensors.torch import load_file

    source, back = load_file(str(tmp_path / WEIGHTS)), load_file(str(tmp_path / "out.safetensors"))
    assert sorted(back) == sorted(source)
    assert [n for n in source if back[n].dtype != source[n].dtype or _bytes(back[n]) != _bytes(source[n])] == []


def test_exported_backbone_loads_strictly_into_wan_transformer(tmp_path):
    config = get_config("tiny_release")
    model = randomize(UnityDiT(config.model, rngs=nnx.Rngs(0)))
    save_torch_checkpoint(model, config, tmp_path / WEIGHTS, format="diffusers", dtype="fp32")
    # from_pretrained's own reader (from_pretrained itself needs `accelerate` for Wan's fp32 modules)
    from diffusers.models.model_loading_utils import load_state_dict

    wan = diffusers.WanTransformer3DModel(**diffusers_kwargs(config.model))
    result = wan.load_state_dict(load_state_dict(str(tmp_path / WEIGHTS)), strict=False)
    assert result.missing_keys == [] and result.unexpected_keys == []
    ours = _params(model)
    np.testing.assert_array_equal(wan.proj_out.weight.detach().numpy(), np.asarray(ours["head.proj_kernel"]).T)
    np.testing.assert_array_equal(
        wan.blocks[1].ffn.net[0].proj.weight.detach().numpy(), np.asarray(ours["blocks.ffn.net_0.kernel"])[1].T
    )


@pytest.mark.parametrize("config_name", ["tiny_release", "tiny_paper"])
def test_wan_base_starts_the_new_parts_as_the_release_does(tmp_path, config_name):
    config = get_config(config_name)
    write_random(tmp_path / "wan.safetensors", config, "diffusers")
    p = {k: np.asarray(v) for k, v in _params(load_torch_checkpoint(tmp_path / "wan.safetensors", config)).items()}
    head = ("proj_kernel", "proj_bias", "scale_shift_table")
    per_modality = config.model.aux_head == "per_modality"
    for leaf in head:  # one copy of the RGB head (per modality when the head is per modality)
        expected = p[f"head.{leaf}"]
        copies = p[f"flow_head.{leaf}"] if per_modality else p[f"flow_head.{leaf}"][None]
        assert np.all(copies == expected.reshape((1,) * (copies.ndim - expected.ndim) + expected.shape)), leaf
    assert np.abs(p["head.proj_kernel"]).max() > 0
    zeros = ["modality_switcher"] if config.model.switcher == "adaln" else ["modality_embeddings", "flow_in.kernel", "flow_in.bias"]
    for name in zeros:
        assert not np.any(p[name]), name
    if config.model.aux_input == "copy_plus_zero_linear":
        np.testing.assert_array_equal(p["flow_patch_embedding.kernel"], p["patch_embedding.kernel"])
        np.testing.assert_array_equal(p["flow_patch_embedding.bias"], p["patch_embedding.bias"])
    else:
        assert "flow_patch_embedding.kernel" not in p
