"""The Colab notebook runs top to bottom on CPU: with the tiny config (training a few steps itself), and
with the released model's code path on tiny random weights in the published layouts (release_fixture.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "colab_tpu_inference.ipynb"


def _execute(tmp_path) -> list:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    return outputs


def test_colab_notebook_runs_the_released_model_from_local_folders(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    pytest.importorskip("diffusers")
    from tests.infer.release_fixture import CONFIG, build

    files = build(tmp_path / "published")
    monkeypatch.setenv("UNITYVIDEO_RELEASE", str(files["release"]))
    monkeypatch.setenv("UNITYVIDEO_BASE", str(files["original"]))
    monkeypatch.setenv("UNITYVIDEO_RELEASE_CONFIG", CONFIG)
    monkeypatch.setenv("UNITYVIDEO_WORKDIR", str(tmp_path))
    monkeypatch.setenv("UNITYVIDEO_NOTEBOOK_SAMPLING_STEPS", "2")
    monkeypatch.setenv("XLA_FLAGS", "")
    outputs = _execute(tmp_path)
    html = [o["data"]["text/html"] for o in outputs if "text/html" in o.get("data", {})]
    assert [h.split("</h3>")[0] for h in html] == ["<h3>text -> video + depth", "<h3>video -> depth", "<h3>depth -> video"]
    text = "".join(o.get("text", "") for o in outputs)
    assert "staged weights: False" in text
    assert not (tmp_path / "run").exists()  # the tiny model was not trained


def test_colab_notebook_executes_on_cpu(tmp_path, monkeypatch):
    monkeypatch.setenv("UNITYVIDEO_WORKDIR", str(tmp_path))
    monkeypatch.setenv("UNITYVIDEO_NOTEBOOK_STEPS", "2")
    monkeypatch.setenv("UNITYVIDEO_NOTEBOOK_SAMPLING_STEPS", "2")
    monkeypatch.setenv("XLA_FLAGS", "")  # one CPU device in the kernel
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    errors = [o for o in outputs if o.get("output_type") == "error"]
    assert not errors
    html = [o for o in outputs if "text/html" in o.get("data", {})]
    assert len(html) == 3 and all("data:image/gif;base64," in o["data"]["text/html"] for o in html)
    assert (tmp_path / "run" / "checkpoints").is_dir()
    assert os.environ["UNITYVIDEO_NOTEBOOK_STEPS"] == "2"
