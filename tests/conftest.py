import os
import subprocess
import sys
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


def run_cli(*args, cwd, timeout=600, env=None):
    """The real command line in a new process, as a user runs it: `python -m paddle_mnist ARGS`."""
    return subprocess.run([sys.executable, "-m", "paddle_mnist", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def synthetic_data(n_train, n_valid=100, n_eval=100):
    """Tiny synthetic digits, loaded as every command loads data (n_train / 100 steps at batch 100)."""
    from paddle_mnist.core.data import load_dataset
    return load_dataset("synthetic", synthetic_size=(n_train, n_valid, n_eval))


@pytest.fixture(scope="module")
def small():
    """300 synthetic training digits: 3 steps an epoch at batch 100."""
    return synthetic_data(300)


def children_of(pid):
    """The live processes whose parent is `pid` (read from /proc; Linux)."""
    kids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                kids.append(int(entry.name))
    return kids


def alive(pid):
    """True while `pid` runs (a zombie counts as gone)."""
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
