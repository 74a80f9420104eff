"""paddle_mnist: the handwritten-digit chapter of PaddlePaddle's course "零基础实践深度学习",
ported to Paddle 2.6 and 3.x, with tools to *see* what an optimizer and a learning rate do to training.

Course names are kept: ``load_data(mode)``, ``MNIST``, ``train``.
"""

import importlib.util
import os
import sys

from paddle_mnist.core.version import __version__  # noqa: F401  (no Paddle in it)

PADDLE_MISSING = (
    "paddle_mnist needs PaddlePaddle, which is not installed: "
    "CPU: pip install 'paddlepaddle>=2.6' (or pip install -e '.[cpu]'); "
    "GPU: pip install paddlepaddle-gpu (2.6 from PyPI; 3.x from Paddle's own index, "
    "see https://www.paddlepaddle.org.cn/install/quick), then pip install -e ."
)

# Checked without importing paddle (importing it takes seconds and hundreds of MB).
if importlib.util.find_spec("paddle") is None:
    # `paddle-mnist ...` and `python -m paddle_mnist ...` import this file first: one line, no traceback
    if os.path.basename(sys.argv[0]) in ("paddle-mnist", "-m", "__main__.py"):
        sys.stderr.write(f"paddle-mnist: error: {PADDLE_MISSING}\n")
        raise SystemExit(1)
    raise ImportError(PADDLE_MISSING)


from paddle_mnist.core import runtime  # noqa: E402  (after the no-Paddle check above)

# All three must happen before Paddle is imported or runs anything (see each one's docstring).
runtime.load_zlib_users_before_paddle()
runtime.let_mkl_use_avx2_on_amd()
runtime.quiet_paddle_import()

# The public names, all from the composing layer (paddle_mnist/api.py), imported on first use.
_PUBLIC = ("load_data", "load_dataset", "MnistDataset", "MNIST", "build_model", "build_optimizer", "TrainConfig",
           "train", "compare", "plot", "predict", "export", "lr_find", "tune", "paths", "hessian",
           "hessian_sweep", "landscape", "trajectory")


def __getattr__(name):
    """Import submodules on first use, so `import paddle_mnist` stays fast."""
    if name in _PUBLIC:
        return getattr(importlib.import_module("paddle_mnist.api"), name)
    raise AttributeError(f"module 'paddle_mnist' has no attribute {name!r}")


__all__ = sorted(_PUBLIC)
