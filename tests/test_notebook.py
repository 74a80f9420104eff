"""The notebooks (tools/notebooks) are the AI Studio path: stored with their outputs, Chinese first
with English beside it, and runnable headless from top to bottom, so they can never rot."""

import json
import re
from pathlib import Path

import pytest
from conftest import run_notebook

NOTEBOOKS = Path(__file__).resolve().parents[1] / "tools" / "notebooks"
ALL = ["optimizer_comparison.ipynb", "tuning.ipynb", "paths.ipynb", "curvature.ipynb"]
CHINESE = re.compile(r"[\u4e00-\u9fff]")


def cells(name):
    return json.loads((NOTEBOOKS / name).read_text(encoding="utf-8"))["cells"]


def source(cell):
    return "".join(cell["source"])


def test_every_notebook_is_listed_here():
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == sorted(ALL)


@pytest.mark.parametrize("name", ALL)
def test_stored_for_ai_studio(name):
    nb = cells(name)
    # title and run time first, then the cell that installs the project in AI Studio (and only there)
    assert re.search(r"^⏱ 运行时间：.* / Run time: about \d+ min on a \d+-core CPU \(measured.*\)\.$", source(nb[0]), re.M)
    install = source(nb[1])
    assert nb[1]["cell_type"] == "code" and 'find_spec("paddle_mnist") is None' in install and "pip" in install
    # every markdown cell: Chinese first, English beside it, in the same cell
    for cell in nb:
        if cell["cell_type"] == "markdown":
            text = source(cell)
            assert CHINESE.search(text) and re.search(r"[A-Za-z]{4,} [a-z]{2,}", text), text[:80]
            assert CHINESE.search(text).start() < re.search(r"\b(The|the|This|Each|Every|A|Pick|One)\b", text).start()
    # stored with its outputs: figures visible before anything runs, and no error
    outputs = [o for c in nb if c["cell_type"] == "code" for o in c["outputs"]]
    assert any("image/png" in o.get("data", {}) for o in outputs)
    assert not [o for o in outputs if o["output_type"] == "error"]
    assert all(c["execution_count"] for c in nb if c["cell_type"] == "code")


@pytest.mark.parametrize("name", ["optimizer_comparison.ipynb", "tuning.ipynb", "curvature.ipynb"])
def test_every_notebook_finds_the_digits_the_same_way(name):
    code = "\n".join(source(c) for c in cells(name) if c["cell_type"] == "code")
    assert "DATA = find_digits()" in code and "mnist-real15k" not in code and '"synthetic"' not in code


@pytest.mark.slow
def test_notebook_runs_and_shows_its_plots(tmp_path, monkeypatch):
    (tmp_path / "work").mkdir()  # the notebook writes into ROOT/work/notebook
    monkeypatch.setenv("PADDLE_MNIST_NOTEBOOK_DATA", "synthetic")
    monkeypatch.setenv("PADDLE_MNIST_NOTEBOOK_EPOCHS", "1")
    outputs = run_notebook(NOTEBOOKS / "optimizer_comparison.ipynb", tmp_path)  # raises on any failing cell
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "data: synthetic" in text and "completed" in text
    assert "predicted" in text
    assert "IProgress" not in text
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    # digits, train's live loss figure, compare's live figure, two comparison figures, the predicted digit
    assert len(images) >= 6
    assert sum("display_id" in o.get("transient", {}) or "(done)" in o["data"].get("text/plain", "")
               for o in images) == 2  # the two live figures, each left as one final figure
    assert (tmp_path / "work" / "notebook" / "compare" / "runs" / "adam-lr0.01" / "record.json").exists()
