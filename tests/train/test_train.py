"""The unified training step and loop on the tiny model: learning, masks, faults, compiles, resume."""

from __future__ import annotations

import json
import os

import jax
import numpy as np
import pytest
from flax import nnx

from tests.train.fake_data import SyntheticBatches
from unityvideo_jax import UnityDiT, get_config
from unityvideo_jax.train.loop import TrainingStopped, train


def tiny_train_config(**train):
    config = get_config("tiny_paper")
    config.data.text_len = 16
    config.parallel.update(data=1, fsdp=1, context=1, tensor=1, devices=1)
    config.train.update(steps=20, lr=1e-3, warmup_steps=0, log_every=5, checkpoint_every=10, ema_every=2,
                        ema_decay=0.9)
    config.train.update(**train)
    return config


def _leaves(tree):
    return [np.asarray(x) for x in jax.tree.leaves(jax.device_get(tree))]


def _iter(**kw):
    return lambda config, start: SyntheticBatches(config, **kw)


def _metrics(workdir):
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f]


def test_tiny_model_overfits_one_batch(tmp_path):
    config = tiny_train_config(steps=150, lr=3e-3, log_every=10, checkpoint_every=1000)
    config.diffusion.update(fixed_noise=True, caption_dropout=0.0)
    train(config, str(tmp_path), _iter(fixed=True, batch=2), progress=False)
    losses = [m["loss"] for m in _metrics(tmp_path)]
    assert losses[-1] * 10 <= losses[0], f"loss fell only from {losses[0]:.3f} to {losses[-1]:.3f}"


def _init_params(config):
    """The parameters a run starts from (the loop builds the same model from config.train.seed)."""
    model = UnityDiT(config.model, rngs=nnx.Rngs(config.train.seed))
    return nnx.to_pure_dict(nnx.state(model, nnx.Param))


@pytest.mark.parametrize("task, frozen, trained", [("estimate", "head", "flow_head"), ("condition", "flow_head", "head")])
def test_a_clean_stream_gets_no_gradient(tmp_path, task, frozen, trained):
    config = tiny_train_config(steps=1, weight_decay=0.0)
    config.diffusion.task_probs = {task: 1.0}
    config.model.aux_head = "shared"
    before = _init_params(config)
    after = train(config, str(tmp_path), _iter(), progress=False).state.params
    assert all(np.array_equal(a, b) for a, b in zip(_leaves(before[frozen]), _leaves(after[frozen])))
    assert not all(np.array_equal(a, b) for a, b in zip(_leaves(before[trained]), _leaves(after[trained])))
    key = "loss_rgb" if task == "estimate" else "loss_aux"
    assert _metrics(tmp_path)[-1].get(key, 0.0) == 0.0  # the clean stream's loss has zero weight


def test_a_batch_with_nan_is_skipped_and_counted(tmp_path):
    config = tiny_train_config(steps=1)
    skipped = train(config, str(tmp_path), _iter(nan_at=(0,)), progress=False).state
    assert int(skipped.bad_steps) == 1 and int(skipped.step) == 1
    assert all(np.array_equal(a, b) for a, b in zip(_leaves(_init_params(config)), _leaves(skipped.params)))
    # training goes on after the bad step, and the good steps do change the parameters
    config.train.steps = 3
    resumed = train(config, str(tmp_path), _iter(nan_at=(0,)), progress=False).state
    assert int(resumed.step) == 3 and int(resumed.bad_steps) == 1 and int(resumed.bad_streak) == 0
    assert not all(np.array_equal(a, b) for a, b in zip(_leaves(skipped.params), _leaves(resumed.params)))


def test_too_many_bad_steps_in_a_row_stop_the_run(tmp_path):
    config = tiny_train_config(steps=10, max_consecutive_bad_steps=3, log_every=5)
    with pytest.raises(TrainingStopped, match=r"non-finite .*max_consecutive_bad_steps=3"):
        train(config, str(tmp_path), _iter(nan_at=range(10)), progress=False)


def test_mixed_tasks_and_modalities_compile_once(tmp_path):
    config = tiny_train_config(steps=20, checkpoint_every=100)
    summary = train(config, str(tmp_path), _iter(batch=4), progress=False)
    assert summary.compilations == 1
    tasks = [k for k in _metrics(tmp_path)[-1] if k.startswith("loss/task/")]
    assert len(tasks) >= 2  # the window really mixed tasks


def test_resume_is_bit_exact(tmp_path):
    config = tiny_train_config(steps=8, checkpoint_every=4, log_every=2)
    full = train(config, str(tmp_path / "full"), _iter(), progress=False, record_batches=True).state
    config.train.steps = 4
    train(config, str(tmp_path / "split"), _iter(), progress=False, record_batches=True)
    config.train.steps = 8
    resumed = train(config, str(tmp_path / "split"), _iter(), progress=False, record_batches=True).state
    for name in ("params", "opt_state", "ema"):
        a, b = _leaves(getattr(full, name)), _leaves(getattr(resumed, name))
        assert all(np.array_equal(x, y) for x, y in zip(a, b)), name
    trace = lambda d: [json.loads(x)["batch"] for x in open(d / "data_trace.jsonl")]  # noqa: E731
    assert trace(tmp_path / "full") == trace(tmp_path / "split")


def test_a_damaged_latest_checkpoint_falls_back_to_the_one_before(tmp_path, capsys):
    config = tiny_train_config(steps=4, checkpoint_every=2, log_every=2)
    train(config, str(tmp_path), _iter(), progress=False)
    latest = tmp_path / "checkpoints" / "4" / "params"
    for f in latest.rglob("*"):
        if f.is_file():
            f.write_bytes(b"garbage")  # a finalised step whose files were damaged afterwards
    config.train.steps = 6
    state = train(config, str(tmp_path), _iter(), progress=False).state
    assert "checkpoint step 4 is damaged" in capsys.readouterr().out
    assert int(state.step) == 6
    steps_written = sorted(int(p.name) for p in (tmp_path / "checkpoints").iterdir() if p.name.isdigit())
    assert steps_written[-1] == 6
