import os
from pathlib import Path

import pytest

# Before any test module imports Paddle, as the command line and the README's notebooks do: the
# package sets up what must precede Paddle (MKL's AVX2 code on AMD, the zlib users), so that the
# tests compute exactly what worker processes and the command line compute.
import paddle_mnist  # noqa: F401,E402

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "mnist"
REAL15K = SHARED / "mnist-real15k.json.gz"

# Tests never touch the network, and keep their parsed-data cache out of the user's home.
os.environ["PADDLE_MNIST_OFFLINE"] = "1"
os.environ.setdefault("WANDB_MODE", "offline")


@pytest.fixture(autouse=True, scope="session")
def _cache_dir(tmp_path_factory):
    os.environ["PADDLE_MNIST_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    os.environ["WANDB_DIR"] = str(tmp_path_factory.mktemp("wandb"))


@pytest.fixture
def real15k():
    if not REAL15K.exists():
        pytest.skip("real digits not present (../shared/mnist/mnist-real15k.json.gz)")
    return str(REAL15K)


def run_notebook(path, cwd):
    """Execute a notebook headless (nbclient) in folder `cwd`; return its code cells' outputs.
    Raises CellExecutionError if any cell fails; skips when the notebook tools are not installed."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.read(str(path), as_version=4)
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(cwd)}}).execute()
    return [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
