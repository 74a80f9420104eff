"""The course notebook runs headless from top to bottom, so it can never rot."""

from pathlib import Path

import pytest
from conftest import run_notebook


NOTEBOOK = Path(__file__).resolve().parents[1] / "tools" / "notebooks" / "optimizer_comparison.ipynb"


def test_notebook_runs_and_shows_its_plots(tmp_path, monkeypatch):
    (tmp_path / "work").mkdir()  # the notebook writes into ROOT/work/notebook
    monkeypatch.setenv("PADDLE_MNIST_NOTEBOOK_DATA", "synthetic")
    monkeypatch.setenv("PADDLE_MNIST_NOTEBOOK_EPOCHS", "1")
    outputs = run_notebook(NOTEBOOK, tmp_path)  # raises CellExecutionError if any cell fails
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "data: synthetic" in text and "completed" in text
    assert "predicted" in text
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 5  # digits, one loss curve, two comparison figures, the predicted digit
    assert (tmp_path / "work" / "notebook" / "compare" / "runs" / "adam-lr0.01" / "record.json").exists()
