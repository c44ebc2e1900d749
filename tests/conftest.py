"""Shared fixtures: the one tiny model config every test starts from, and seeded inputs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

HOST_DEVICES = 8  # CPU devices the sharding tests' meshes need
DEVICE_COUNT_FLAG = "--xla_force_host_platform_device_count"


def host_device_flags(flags: str, count: int = HOST_DEVICES, force: bool = False) -> str:
    """The XLA_FLAGS value `flags` with `count` CPU devices added: appended when `flags` sets no device
    count; a count already there is kept (someone chose it) unless `force`, which replaces it."""
    words = flags.split()
    if not force and any(w.startswith(DEVICE_COUNT_FLAG + "=") for w in words):
        return flags
    kept = [w for w in words if not w.startswith(DEVICE_COUNT_FLAG + "=")]
    return " ".join(kept + [f"{DEVICE_COUNT_FLAG}={count}"])


# Before jax starts its CPU backend (it reads XLA_FLAGS then): added to flags already set, not only
# when there are none. Tests marked `devices(n)` that still lack devices run in a subprocess (below).
os.environ["XLA_FLAGS"] = host_device_flags(os.environ.get("XLA_FLAGS", ""))

import jax  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

# Tests compare against float32 references: keep XLA's CPU matmuls in full precision.
jax.config.update("jax_default_matmul_precision", "highest")
# Many tests compile the same tiny train step; a persistent cache makes the repeats cheap.
jax.config.update("jax_compilation_cache_dir", os.path.join(tempfile.gettempdir(), "unityvideo_jax_test_cache"))
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


def tiny_model_config(**overrides):
    """`configs/tiny_paper.py`'s model section with `overrides` applied (a fresh ConfigDict each call)."""
    from unityvideo_jax import get_config

    model = get_config("tiny_paper").model
    for key, value in overrides.items():
        setattr(model, key, value)
    return model


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def two_stream_inputs(rng, config, batch=2, frames=3, height=4, width=6, text_len=5):
    """Random (rgb, aux, t_rgb, t_aux, text, aux_text, modality) for `config`."""
    import jax.numpy as jnp

    shape = (batch, frames, height, width, config.in_channels)
    return dict(
        rgb=jnp.asarray(rng.standard_normal(shape), jnp.float32),
        aux=jnp.asarray(rng.standard_normal(shape), jnp.float32),
        t_rgb=jnp.asarray(rng.uniform(0.05, 0.95, batch), jnp.float32),
        t_aux=jnp.asarray(rng.uniform(0.05, 0.95, batch), jnp.float32),
        text=jnp.asarray(rng.standard_normal((batch, text_len, config.text_dim)), jnp.float32),
        aux_text=jnp.asarray(rng.standard_normal((batch, text_len, config.text_dim)), jnp.float32),
        modality=jnp.asarray(rng.integers(0, config.num_modalities, batch), jnp.int32),
    )


def randomize(model, seed=0, scale=0.2):
    """Give every parameter random values, so zero-initialised parts (flow_in, tables) matter."""
    from flax import nnx

    state = nnx.state(model, nnx.Param)
    leaves, treedef = jax.tree.flatten(nnx.to_pure_dict(state))
    keys = jax.random.split(jax.random.key(seed), len(leaves))
    new = [jax.random.normal(k, x.shape, x.dtype) * scale for k, x in zip(keys, leaves)]
    nnx.replace_by_pure_dict(state, jax.tree.unflatten(treedef, new))
    nnx.update(model, state)
    return model


# Tests that need more devices than this process has: `pytestmark = pytest.mark.devices(8)`. Where
# jax here has fewer (a device count set in XLA_FLAGS, a GPU or TPU as the default backend, a backend
# started before this file ran), they all run in one subprocess on CPU devices, each reporting the
# subprocess's outcome as its own (its failure text, or its skip reason); with enough devices here,
# no subprocess. Only a test that cannot get its devices even there is skipped, and says why.
_OUTCOMES_ENV = "UNITYVIDEO_DEVICE_OUTCOMES"  # set in that subprocess: where it writes its outcomes
_elsewhere: dict = {}  # the one subprocess's outcomes {nodeid: (outcome, text)}, once it ran


def pytest_configure(config):
    config.addinivalue_line("markers", "devices(n): needs n jax devices (a CPU subprocess runs it if here has fewer)")
    if os.environ.get(_OUTCOMES_ENV):
        config.pluginmanager.register(_OutcomeRecorder(os.environ[_OUTCOMES_ENV]), "device_outcomes")


def _devices_here() -> str:
    flags, platforms = os.environ.get("XLA_FLAGS", ""), os.environ.get("JAX_PLATFORMS", "")
    return (f"this process has {jax.device_count()} {jax.default_backend()} device(s) "
            f"(XLA_FLAGS={flags!r}, JAX_PLATFORMS={platforms!r})")


def pytest_collection_modifyitems(config, items):
    for item in items:
        marker = item.get_closest_marker("devices")
        if marker is None or jax.device_count() >= marker.args[0]:
            continue
        if os.environ.get(_OUTCOMES_ENV):  # already that subprocess: no other place to run
            item.add_marker(pytest.mark.skip(reason=f"needs {marker.args[0]} devices, but even a CPU-only "
                                                    f"subprocess has too few: {_devices_here()}"))
        else:
            item.needs_devices = marker.args[0]
            item.setup = lambda: None  # its fixtures are made in the subprocess
            item.runtest = lambda item=item: _report_run_elsewhere(item)


def _report_run_elsewhere(item):
    if not _elsewhere:
        _elsewhere.update(_run_in_subprocess([i for i in item.session.items if hasattr(i, "needs_devices")]))
    outcome, text = _elsewhere["results"].get(item.nodeid, ("missing", _elsewhere["output"]))
    where = f"ran in a subprocess set up for {_elsewhere['devices']} CPU devices, as {_elsewhere['why']}"
    if outcome == "skipped":
        pytest.skip(f"{where}, and was skipped there: {text}")
    if outcome != "passed":
        pytest.fail(f"{where}, and {outcome} there:\n{text}", pytrace=False)


def _run_in_subprocess(items) -> dict:
    count = max(item.needs_devices for item in items)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "outcomes.json")
        env = dict(os.environ, JAX_PLATFORMS="cpu", XLA_FLAGS=host_device_flags(os.environ["XLA_FLAGS"], count, True))
        env[_OUTCOMES_ENV] = path
        argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *(i.nodeid for i in items)]
        try:
            proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=3600)
            output = f"no outcome (exit {proc.returncode}):\n{(proc.stdout + proc.stderr)[-6000:]}"
        except subprocess.TimeoutExpired as e:  # once: the other tests then report the same
            output = f"no outcome: the subprocess ran past {e.timeout} s"
        results = {}
        if os.path.exists(path):
            with open(path) as f:
                results = {k: tuple(v) for k, v in json.load(f).items()}
    return dict(results=results, devices=count, why=_devices_here(), output=output)


def pytest_terminal_summary(terminalreporter):
    if _elsewhere:
        counts = {}
        for outcome, _ in _elsewhere["results"].values():
            counts[outcome] = counts.get(outcome, 0) + 1
        said = ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items())) or "no outcome"
        terminalreporter.write_line(f"tests needing more devices ran in a subprocess set up for "
                                    f"{_elsewhere['devices']} CPU devices ({said}), as {_elsewhere['why']}")


class _OutcomeRecorder:
    """In the subprocess: each test's outcome (a failure in any phase wins) to a JSON file at the end."""

    def __init__(self, path):
        self.path, self.outcomes = path, {}

    def pytest_runtest_logreport(self, report):
        if report.failed:
            self.outcomes[report.nodeid] = ("failed", f"({report.when}) {report.longreprtext}")
        elif report.skipped:
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
            self.outcomes.setdefault(report.nodeid, ("skipped", reason.removeprefix("Skipped: ")))
        elif report.when == "call":
            self.outcomes.setdefault(report.nodeid, ("passed", ""))

    def pytest_sessionfinish(self, session):
        with open(self.path, "w") as f:
            json.dump(self.outcomes, f)
