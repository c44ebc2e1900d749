"""`unityvideo convert` / `unityvideo export`: Orbax round trips, EMA, trainer checkpoints, atomic outputs."""

from __future__ import annotations

import shutil

import numpy as np
import orbax.checkpoint as ocp
import pytest
from flax import nnx

torch = pytest.importorskip("torch")

from safetensors.torch import load_file  # noqa: E402

from tests.conftest import randomize  # noqa: E402
from tests.convert.random_checkpoints import write_random  # noqa: E402
from unityvideo_jax import UnityDiT, get_config  # noqa: E402
from unityvideo_jax.cli import main  # noqa: E402
from unityvideo_jax.convert import torch_checkpoint  # noqa: E402
from unityvideo_jax.model.dit.spec import from_config  # noqa: E402
from unityvideo_jax.weights import params_io
from unityvideo_jax.weights.tree import flatten  # noqa: E402


def _bytes(t: torch.Tensor) -> bytes:
    return t.contiguous().view(torch.uint8).numpy().tobytes()


def test_convert_then_export_is_bit_exact(tmp_path, capsys):
    source = write_random(tmp_path / "release.safetensors", get_config("tiny_release"), "release", torch.bfloat16)
    ckpt, out = tmp_path / "ckpt", tmp_path / "out.safetensors"
    assert main(["convert", "--format", "release", "--input", str(tmp_path / "release.safetensors"),
                 "--config", "tiny_release", "--output", str(ckpt)]) == 0
    assert from_config(params_io.load_config(ckpt).model) == from_config(get_config("tiny_release").model)
    assert main(["export", "--format", "release", "--checkpoint", str(ckpt), "--output", str(out)]) == 0
    back = load_file(str(out))
    assert sorted(back) == sorted(source)
    assert [n for n in source if _bytes(back[n]) != _bytes(source[n])] == []

    assert main(["export", "--format", "diffusers", "--checkpoint", str(ckpt), "--output", str(tmp_path / "d.st"),
                 "--dtype", "fp32"]) == 0
    wan = load_file(str(tmp_path / "d.st"))
    assert torch.equal(wan["blocks.1.attn1.to_q.weight"], source["base.blocks.1.self_attn.q.weight"].float())
    assert not any(n.startswith(("flow_", "modality_", "base.")) for n in wan)


def test_export_ema_and_a_trainer_style_checkpoint(tmp_path):
    config = get_config("tiny_release")
    params = nnx.to_pure_dict(nnx.state(randomize(UnityDiT(config.model, rngs=nnx.Rngs(0)), seed=1), nnx.Param))
    ema = nnx.to_pure_dict(nnx.state(randomize(UnityDiT(config.model, rngs=nnx.Rngs(0)), seed=2), nnx.Param))
    # what the trainer writes: more items than ours, at a later step
    with ocp.CheckpointManager(tmp_path / "run", options=ocp.CheckpointManagerOptions(enable_async_checkpointing=False)) as m:
        m.save(300, args=ocp.args.Composite(
            params=ocp.args.StandardSave(params), ema=ocp.args.StandardSave(ema),
            opt_state=ocp.args.StandardSave({"mu": np.zeros(3, np.float32)}),
            data=ocp.args.JsonSave({"position": 7}), config=ocp.args.JsonSave(config.to_dict()),
        ))
    # like `unityvideo sample`: the EMA weights when the run has them, the raw ones with --no-ema
    for flag, expected in ((["--no-ema"], params), ([], ema)):
        out = tmp_path / f"out{len(flag)}.safetensors"
        assert main(["export", "--format", "release", "--checkpoint", str(tmp_path / "run"), "--output", str(out),
                     "--dtype", "float32", *flag]) == 0
        np.testing.assert_array_equal(load_file(str(out))["flow_in.weight"].numpy(), np.asarray(expected["flow_in"]["kernel"]).T)
    restored = flatten(params_io.load_params(tmp_path / "run", item=params_io.EMA_ITEM))
    assert all(np.array_equal(restored[k], v) for k, v in flatten(ema).items())


def test_failed_convert_leaves_nothing_and_exits_2(tmp_path, capsys):
    write_random(tmp_path / "wan.safetensors", get_config("tiny_release"), "diffusers")
    code = main(["convert", "--format", "release", "--input", str(tmp_path / "wan.safetensors"),
                 "--config", "tiny_release", "--output", str(tmp_path / "ckpt")])
    err = capsys.readouterr().err
    assert code == 2 and "pass --format diffusers" in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["wan.safetensors"]

    (tmp_path / "taken").mkdir()
    code = main(["convert", "--from", "diffusers", "--input", str(tmp_path / "wan.safetensors"),  # old spelling
                 "--config", "tiny_release", "--output", str(tmp_path / "taken")])
    assert code == 2 and "already exists" in capsys.readouterr().err


def test_failed_export_leaves_no_file(tmp_path, capsys, monkeypatch):
    config = get_config("tiny_release")
    params_io.save_params(tmp_path / "ckpt", randomize(UnityDiT(config.model, rngs=nnx.Rngs(0))), config)
    calls = []

    def failing_copy(*args, **kwargs):
        calls.append(1)
        if len(calls) == 5:
            raise ValueError("disk full (simulated)")
        return real_copy(*args, **kwargs)

    real_copy = torch_checkpoint.copy_into
    monkeypatch.setattr(torch_checkpoint, "copy_into", failing_copy)
    code = main(["export", "--format", "release", "--checkpoint", str(tmp_path / "ckpt"),
                 "--output", str(tmp_path / "out" / "model.safetensors")])
    assert code == 2 and "disk full" in capsys.readouterr().err
    assert list((tmp_path / "out").iterdir()) == []
    # a converted checkpoint has no EMA: the default exports its params, as sample would use them
    assert main(["export", "--format", "release", "--checkpoint", str(tmp_path / "ckpt"),
                 "--output", str(tmp_path / "x.safetensors")]) == 0
    with pytest.raises(ValueError, match="has no 'ema' item"):
        params_io.load_params(tmp_path / "ckpt", item=params_io.EMA_ITEM)
    assert main(["export", "--format", "release", "--checkpoint", str(tmp_path / "nothing"),
                 "--output", str(tmp_path / "x.safetensors")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_help_lists_the_verbs(capsys):
    assert main(["--help"]) == 0
    usage = capsys.readouterr().out
    assert "convert" in usage and "export" in usage


def test_export_falls_back_past_a_damaged_latest_step(tmp_path, capsys):
    config = get_config("tiny_release")
    params = nnx.to_pure_dict(nnx.state(randomize(UnityDiT(config.model, rngs=nnx.Rngs(0)), seed=1), nnx.Param))
    params_io.save_params(tmp_path / "ckpt", params, config)
    (tmp_path / "ckpt" / "500").mkdir()  # a later save cut short: junk where its items should be
    (tmp_path / "ckpt" / "500" / "params").write_text("not an array")
    out = tmp_path / "out.safetensors"
    assert main(["export", "--format", "release", "--checkpoint", str(tmp_path / "ckpt"), "--output", str(out),
                 "--dtype", "float32"]) == 0
    assert "step 500" in capsys.readouterr().out
    np.testing.assert_array_equal(load_file(str(out))["flow_in.weight"].numpy(), np.asarray(params["flow_in"]["kernel"]).T)

    shutil.rmtree(tmp_path / "ckpt" / "0")  # now nothing readable is left
    code = main(["export", "--format", "release", "--checkpoint", str(tmp_path / "ckpt"),
                 "--output", str(tmp_path / "again.safetensors")])
    err = capsys.readouterr().err
    assert code == 2 and "no step of checkpoint" in err and "Traceback" not in err
    assert not (tmp_path / "again.safetensors").exists()
