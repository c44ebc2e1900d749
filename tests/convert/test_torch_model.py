"""The PyTorch two-stream module equals our JAX model on the same release-format file (both flavours)."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from safetensors.torch import save_file  # noqa: E402

from tests.conftest import two_stream_inputs  # noqa: E402
from unityvideo_jax import get_config  # noqa: E402
from unityvideo_jax.convert.torch_checkpoint import load_torch_checkpoint  # noqa: E402
from unityvideo_jax.convert.torch_model import TorchUnityDiT  # noqa: E402

TASKS = ("joint", "estimate", "condition")  # one sample each, in this order


def _random_torch_model(model_config, seed=0) -> TorchUnityDiT:
    torch.manual_seed(seed)
    model = TorchUnityDiT(model_config).eval()
    with torch.no_grad():  # every parameter random: zero-initialised tables and flow_in must matter
        for p in model.parameters():
            p.copy_(torch.randn_like(p) * 0.2 + (1.0 if p.ndim == 1 and torch.all(p == 1) else 0.0))
    return model


def _task_inputs(model_config):
    x = two_stream_inputs(np.random.default_rng(1), model_config, batch=3)
    t = np.asarray(x["t_rgb"])
    x["t_rgb"] = jnp.asarray([t[0], 0.0, t[2]], jnp.float32)  # joint: t_rgb = t_aux = t
    x["t_aux"] = jnp.asarray([t[0], t[1], 0.0], jnp.float32)  # estimate: t_rgb = 0; condition: t_aux = 0
    x["modality"] = jnp.asarray([1, 4, 2], jnp.int32)
    return x


def _torch_call(model, x):
    video = lambda a: torch.from_numpy(np.array(a)).permute(0, 4, 1, 2, 3)  # noqa: E731
    tensor = lambda a: torch.from_numpy(np.array(a))  # noqa: E731
    with torch.no_grad():
        v_rgb, v_aux = model(video(x["rgb"]), video(x["aux"]), tensor(x["t_rgb"]), tensor(x["t_aux"]),
                             tensor(x["text"]), tensor(x["aux_text"]), tensor(x["modality"]).long())
    return [v.permute(0, 2, 3, 4, 1).numpy() for v in (v_rgb, v_aux)]


def _max_rel_error(ours, theirs) -> float:
    return max(float(np.abs(np.asarray(o) - t).max()) / float(np.abs(t).max()) for o, t in zip(ours, theirs))


@pytest.fixture(scope="module", params=["tiny_release", "tiny_paper"])
def pair(request, tmp_path_factory):
    """(config, torch module, JAX model, inputs, JAX outputs) for one flavour, from one file."""
    config = get_config(request.param)
    torch_model = _random_torch_model(config.model)
    path = tmp_path_factory.mktemp(request.param) / "weights.safetensors"
    save_file(torch_model.release_state_dict(), str(path))  # release names, no metadata
    jax_model = load_torch_checkpoint(path, config, format="release")
    reloaded = TorchUnityDiT.from_safetensors(path, config.model)
    x = _task_inputs(config.model)
    return config, reloaded, x, jax_model(**x)


def test_jax_equals_torch_on_all_three_tasks(pair):
    config, torch_model, x, ours = pair
    theirs = _torch_call(torch_model, x)
    for task, i in zip(TASKS, range(3)):
        err = _max_rel_error([o[i] for o in ours], [t[i] for t in theirs])
        print(f"{config.name} {task}: max abs diff / output scale = {err:.3g}")
        assert err <= 1e-5, (config.name, task)


def test_parity_is_sharp(pair):
    """Perturbing the used modality's switch, or swapping the two cross-attention contexts, breaks it."""
    config, torch_model, x, ours = pair
    table = torch_model.modality_embeddings if config.model.switcher == "token" else torch_model.modality_switcher
    # not a constant: every LayerNorm would remove a shift along all channels
    delta = 1e-2 * torch.randn(table["raft"].shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        table["raft"] += delta
    try:
        assert _max_rel_error(ours, _torch_call(torch_model, x)) > 1e-4
    finally:
        with torch.no_grad():
            table["raft"] -= delta
    swapped = dict(x, text=x["aux_text"], aux_text=x["text"])
    assert _max_rel_error(ours, _torch_call(torch_model, swapped)) > 1e-4


def test_loading_names_the_offending_tensors(tmp_path):
    config = get_config("tiny_release")
    tensors = _random_torch_model(config.model).release_state_dict()
    del tensors["flow_in.bias"]
    tensors["flow_in.weight"] = torch.zeros(64, 3)
    tensors["modality_embeddings.thermal"] = torch.zeros(64)
    save_file(tensors, str(tmp_path / "bad.safetensors"))
    with pytest.raises(ValueError) as err:
        TorchUnityDiT.from_safetensors(tmp_path / "bad.safetensors", config.model)
    message = str(err.value)
    for phrase in ("missing: flow_in.bias [64]", "unexpected: modality_embeddings.thermal",
                   "flow_in.weight is [64, 3], expected [64, 64]"):
        assert phrase in message
    with pytest.raises(ValueError, match="carries no model config"):
        TorchUnityDiT.from_safetensors(tmp_path / "bad.safetensors")
