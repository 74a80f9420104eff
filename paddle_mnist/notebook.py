"""What the notebooks in tools/notebooks share: where they write, which digits they read, how big they run.

Every notebook finds its digits the same way (``find_digits``): the environment variable
PADDLE_MNIST_NOTEBOOK_DATA if set, else the course's file ``work/mnist.json.gz``, else the real
digits next to the project (``../shared/mnist/mnist-real15k.json.gz``), else generated digits.
``setting("EPOCHS", 3)`` reads PADDLE_MNIST_NOTEBOOK_EPOCHS, so CI runs the same notebooks small.
"""

import os
from pathlib import Path

ENV = "PADDLE_MNIST_NOTEBOOK_"
REAL_DIGITS = Path("..") / "shared" / "mnist" / "mnist-real15k.json.gz"  # beside the project folder


def workspace():
    """The folder the notebooks write under (its work/): the first of the current folder and its
    parents that has a work/ folder or is this project (setup.py), else the current folder."""
    here = Path.cwd()
    return next((p for p in [here, *here.parents] if (p / "work").is_dir() or (p / "setup.py").is_file()), here)


def find_digits(root=None):
    """The data every notebook trains on (a path, or "synthetic"), found as the module says."""
    root = Path(root or workspace())
    candidates = [root / "work" / "mnist.json.gz", root / REAL_DIGITS]
    return os.environ.get(ENV + "DATA") or next((str(p.resolve()) for p in candidates if p.exists()), "synthetic")


def setting(name, default):
    """PADDLE_MNIST_NOTEBOOK_<NAME> as the type of `default` (a comma list for a list), else `default`."""
    value = os.environ.get(ENV + name)
    if value is None:
        return default
    if isinstance(default, list):
        return value.split(",")
    return type(default)(value)
