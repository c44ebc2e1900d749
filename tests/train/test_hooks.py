"""The step runner and its hooks with a stand-in step (no model): stop decisions, windows, faults,
the profiler and the summary's rates. The trainer tests (test_train.py) run them with the real step."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import pytest

from tests.train.fake_data import SyntheticBatches
from tests.train.test_train import tiny_train_config
from unityvideo_jax.diffusion.tasks import TASKS
from unityvideo_jax.modalities import NAMES
from unityvideo_jax.train.budget import TimeBudgetHook
from unityvideo_jax.train.faults import FaultHook, TrainingStopped, check_faults
from unityvideo_jax.train.hooks import Hook, Run
from unityvideo_jax.train.metrics import MetricsWriter
from unityvideo_jax.train.profiling import ProfileHook
from unityvideo_jax.train.reporting import MetricsHook
from unityvideo_jax.train.runner import StepRunner
from unityvideo_jax.train.state import TrainState


def _state():
    zero = jnp.zeros((), jnp.int32)
    return TrainState(step=zero, params={}, opt_state={}, ema={}, rng=zero, bad_steps=zero, bad_streak=zero)


def _fake_step(bad_steps=()):
    """A jitted step that counts steps and reports the ones in `bad_steps` as non-finite."""
    bad = jnp.zeros(64, bool).at[jnp.asarray(list(bad_steps), jnp.int32)].set(True)

    @jax.jit
    def step(state, batch, constants):
        finite = ~bad[state.step]
        streak = jnp.where(finite, 0, state.bad_streak + 1)
        per_task, per_modality = jnp.ones(len(TASKS)), jnp.ones(len(NAMES))
        metrics = dict(loss=state.step.astype(jnp.float32), loss_rgb=1.0, loss_aux=0.0, grad_norm=1.0, finite=finite,
                       task_loss_sum=per_task, task_count=per_task, modality_loss_sum=per_modality,
                       modality_count=per_modality)
        return state.replace(step=state.step + 1, bad_streak=streak), metrics

    return step


class Recorder(Hook):
    def __init__(self):
        self.calls = []

    def before_step(self, run, step):
        self.calls.append(("before", step))

    def after_step(self, run, done):
        self.calls.append(("after", done, run.at(done, 4)))

    def close(self, run):
        self.calls.append(("close", run.end))


def _run(hooks, *, steps=10, start=0, bad_steps=()):
    config = tiny_train_config(steps=steps)
    run = Run(config, SyntheticBatches(config), start=start, end=steps, state=_state())
    run.state = run.state.replace(step=jnp.int32(start))
    return StepRunner(_fake_step(bad_steps), None, lambda local: local, hooks).run(run)


def test_hooks_see_every_step_and_the_last_one_closes_a_window():
    recorder = Recorder()
    summary = _run([recorder], steps=6, start=1)
    assert summary.steps_run == 5 and int(summary.state.step) == 6 and summary.compilations == 1
    assert recorder.calls[:2] == [("before", 1), ("after", 2, False)]
    assert [c[1] for c in recorder.calls if c[0] == "after" and c[2]] == [4, 6]  # every 4, and the end
    assert recorder.calls[-1] == ("close", 6)
    assert summary.tokens_per_second > 0 and summary.tflops_per_device > 0


def test_a_spent_time_budget_makes_the_current_step_the_last(tmp_path):
    recorder, writer = Recorder(), MetricsWriter(str(tmp_path))
    metrics = MetricsHook(writer, every=100, progress=False, open_ended=True)
    summary = _run([TimeBudgetHook(0.0), metrics, recorder], steps=10)
    writer.close()
    assert summary.steps_run == 1 and recorder.calls[-2:] == [("after", 1, True), ("close", 1)]
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in lines] == [1]  # the window closed at the budget's step, not at every=100


def test_metrics_average_only_the_finite_steps_of_a_window(tmp_path):
    writer = MetricsWriter(str(tmp_path))
    _run([MetricsHook(writer, every=4, progress=False, open_ended=False)], steps=8, bad_steps=(5,))
    writer.close()
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    # the stand-in's loss is the step index: (0+1+2+3)/4, then (4+6+7)/3 without the bad step 5
    expected = [(4, 1.5, 0.0), (8, pytest.approx(17 / 3), 1.0)]
    assert [(m["step"], m["loss"], m["skipped_steps"]) for m in lines] == expected
    assert lines[0]["loss/task/" + TASKS[0]] == 1.0 and lines[0]["steps_per_second"] > 0


def test_the_fault_hook_stops_at_the_limit_of_bad_steps_in_a_row():
    recorder = Recorder()  # after the fault hook, as the checkpoint hook is in a real run
    with pytest.raises(TrainingStopped, match="3 steps in a row"):
        _run([FaultHook(every=4, limit=3), recorder], steps=20, bad_steps=(1, 2, 3))
    afters = [c[1] for c in recorder.calls if c[0] == "after"]
    assert afters == [1, 2, 3]  # stopped at the window's end (step 4), before later hooks saw it
    assert recorder.calls[-1] == ("close", 20)  # the hooks are closed on the way out


def test_check_faults_counts_streaks_inside_and_across_windows(capsys):
    check_faults([True, False, False, True], streak=0, step=4, limit=3)  # two in a row: a warning
    assert "2 step(s) before step 4" in capsys.readouterr().out
    with pytest.raises(TrainingStopped, match="2 steps in a row"):
        check_faults([True, False, False, True], streak=0, step=4, limit=2)
    with pytest.raises(TrainingStopped):
        check_faults([False], streak=3, step=9, limit=3)  # the streak began in windows before


def test_the_profiler_trace_is_stopped_also_when_the_run_is_short(tmp_path):
    for steps in (8, 3):  # past the traced steps; ending inside them
        _run([ProfileHook(str(tmp_path / str(steps)))], steps=steps)
        assert [p for p in (tmp_path / str(steps)).rglob("*") if p.is_file()], steps
    jax.profiler.start_trace(str(tmp_path / "again"))  # raises if a trace were still running
    jax.profiler.stop_trace()
