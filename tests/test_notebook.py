"""The Colab notebook runs top to bottom on CPU with the tiny config (training a few steps itself)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "colab_tpu_inference.ipynb"


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
