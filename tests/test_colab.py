"""The Colab demo runs top to bottom (a short training run) and fails on any error."""
import os

import nbformat
import pytest
from nbclient import NotebookClient

from conftest import REPO


@pytest.mark.slow(60)
def test_retrieval_demo_notebook_runs(tmp_path, monkeypatch):
    nb = nbformat.read(os.path.join(REPO, "colab/retrieval_demo.ipynb"), as_version=4)
    monkeypatch.setenv("AVJAX_COLAB_STEPS", "20")
    monkeypatch.setenv("AVJAX_COLAB_VARIANT", "tiny")  # the same cells at half the batch
    monkeypatch.setenv("AVJAX_COLAB_WORKDIR", str(tmp_path / "colab"))
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": REPO}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if o.output_type == "display_data" and "image/png" in o.get("data", {})]
    audios = [o for o in outputs if "text/html" in o.get("data", {}) and "<audio" in o["data"]["text/html"]]
    assert len(images) >= 2 and len(audios) >= 5
