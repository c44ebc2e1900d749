"""TPU slice names, the mesh of a described slice, the data shard of every host, `unityvideo aot`.

The slice names need nothing; the rest compiles or describes TPU topologies through the libtpu
wheel (`pip install -e .[tpu]`) and is skipped without it.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import jax
import pytest

from unityvideo_jax.parallel.topology import parse

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
needs_libtpu = pytest.mark.skipif(importlib.util.find_spec("libtpu") is None,
                                  reason="libtpu is not installed (pip install -e .[tpu])")


@pytest.mark.parametrize("name, chips, topology", [
    ("v5p-8", 4, "v5:2x2x1"), ("v5p-64", 32, "v5:2x4x4"), ("v5p-128", 64, "v5:4x4x4"),
    ("v5e-4", 4, "v5e:2x2"), ("v5e-8", 8, "v5e:2x4"), ("v5litepod-16", 16, "v5e:4x4"), ("v6e-8", 8, "v6e:2x4"),
])
def test_slice_names_give_chips_and_torus(name, chips, topology):
    tpu = parse(name)
    assert (tpu.chips, tpu.topology) == (chips, topology)


@pytest.mark.parametrize("name, problem", [("v5p-6", "only power-of-two"), ("h100-8", "expected <generation>"),
                                           ("v5p-7", "2 cores per chip")])
def test_bad_slice_names_say_what_is_expected(name, problem):
    with pytest.raises(ValueError, match=problem):
        parse(name)


def test_a_step_xla_cannot_fit_is_reported_not_raised():
    from unityvideo_jax.aot.cost import measure

    def out_of_memory(config, mesh):
        raise jax.errors.JaxRuntimeError("RESOURCE_EXHAUSTED: Ran out of memory on HBM, the total memory required "
                                         "for HLO temporaries (127.54G) exceeds available HBM (15.75G).")

    cost = measure(out_of_memory, None, None)
    assert cost.refused.startswith("RESOURCE_EXHAUSTED") and cost.temporaries == int(127.54 * 2**30)

    def broken(config, mesh):
        raise jax.errors.JaxRuntimeError("INTERNAL: something else")

    with pytest.raises(jax.errors.JaxRuntimeError, match="INTERNAL"):
        measure(broken, None, None)


@needs_libtpu
def test_hosts_sharing_batch_rows_load_the_same_rows():
    """v5p-64: 8 hosts of 4 chips. fsdp 4 x context 8: each pair of hosts holds one quarter of the batch."""
    code = (
        "import ml_collections\n"
        "from unityvideo_jax.parallel.batch import batch_shard\n"
        "from unityvideo_jax.parallel.mesh import make_mesh\n"
        "from unityvideo_jax.parallel.rules import get_rules\n"
        "from unityvideo_jax.parallel.topology import parse, topology_devices\n"
        "devices = topology_devices(parse('v5p-64'))\n"
        "for sizes in ((1, 4, 8, 1), (1, 32, 1, 1)):\n"
        "    p = ml_collections.ConfigDict(dict(zip(('data', 'fsdp', 'context', 'tensor'), sizes)))\n"
        "    mesh = make_mesh(p, devices)\n"
        "    print([batch_shard(mesh, get_rules('ring'), h) for h in range(8)])\n"
    )
    out = _run([sys.executable, "-c", code]).stdout.splitlines()
    assert sorted(eval(out[-2])) == [(i // 2, 4) for i in range(8)]  # two hosts per row block
    assert sorted(eval(out[-1])) == [(i, 8) for i in range(8)]  # pure fsdp: a block of its own per host


@needs_libtpu
def test_a_multislice_mesh_keeps_dcn_axes_across_slices():
    code = (
        "import ml_collections\n"
        "from unityvideo_jax.parallel.mesh import make_mesh\n"
        "from unityvideo_jax.parallel.topology import parse, topology_devices\n"
        "p = ml_collections.ConfigDict(dict(data=1, fsdp=-1, context=2, tensor=1, dcn_data=2))\n"
        "mesh = make_mesh(p, topology_devices(parse('v5e-4'), num_slices=2))\n"
        "print(dict(mesh.shape))\n"
        "print([sorted({d.slice_index for d in mesh.devices[i].flat}) for i in range(2)])\n"
    )
    out = _run([sys.executable, "-c", code]).stdout.splitlines()
    assert eval(out[-2]) == {"data": 2, "fsdp": 2, "context": 2, "tensor": 1}
    assert eval(out[-1]) == [[0], [1]]  # each data replica inside one slice; only 'data' crosses DCN


@needs_libtpu
def test_aot_plans_a_small_config_on_v5e_4():
    proc = _run([sys.executable, "-m", "unityvideo_jax.cli", "aot", "--config", "tiny_paper", "--topology", "v5e-4",
                 "--no-sampler"])
    out = proc.stdout
    assert "tiny_paper on v5e-4 (4 chips, 16.00 GB HBM and 197 TFLOP/s" in out, out + proc.stderr
    assert "mesh fsdp 4, preset fsdp" in out and "train step: per chip" in out and "(fits;" in out
    assert "GFLOP per chip" in out and "roofline floor" in out


def _run(argv):
    env = dict(os.environ, PYTHONPATH=ROOT, JAX_PLATFORMS="cpu")
    env.pop("XLA_FLAGS", None)
    return subprocess.run(argv, capture_output=True, text=True, env=env, cwd=ROOT, timeout=600, check=True)
