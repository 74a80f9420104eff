"""paddle_mnist: the handwritten-digit chapter of PaddlePaddle's course "零基础实践深度学习",
ported to Paddle 3, with tools to *see* what an optimizer and a learning rate do to training.

Course names are kept: ``load_data(mode)``, ``MNIST``, ``train``.
"""

import importlib.util
import os
import sys
import warnings

__version__ = "0.1.0"

PADDLE_MISSING = (
    "paddle_mnist needs PaddlePaddle, which is not installed: "
    "CPU: pip install 'paddlepaddle>=3.0' (or pip install -e '.[cpu]'); "
    "GPU: pip install paddlepaddle-gpu from Paddle's own index "
    "(see https://www.paddlepaddle.org.cn/install/quick), then pip install -e ."
)

# Checked without importing paddle (importing it takes seconds and hundreds of MB).
if importlib.util.find_spec("paddle") is None:
    # `paddle-mnist ...` and `python -m paddle_mnist ...` import this file first: one line, no traceback
    if os.path.basename(sys.argv[0]) in ("paddle-mnist", "-m", "__main__.py"):
        sys.stderr.write(f"paddle-mnist: error: {PADDLE_MISSING}\n")
        raise SystemExit(1)
    raise ImportError(PADDLE_MISSING)


def _cpu_is_amd_with_avx2():
    try:
        with open("/proc/cpuinfo") as f:  # Linux; elsewhere MKL is left to choose
            first_cpu = f.read(8192).split("\n\n")[0]
    except OSError:
        return False
    return "AuthenticAMD" in first_cpu and " avx2" in first_cpu and " fma" in first_cpu


def _let_mkl_use_avx2_on_amd():
    """Ask Intel MKL for its AVX2 code on AMD processors (MKL_DEBUG_CPU_TYPE=5).

    Paddle's CPU wheel computes convolutions with an older Intel MKL, which runs slow generic code
    on AMD processors unless this variable asks for its AVX2 code. On the project's 2-core AMD EPYC
    machines that made training 1.26-1.56x faster (tools/bench.py train). Set only on AMD CPUs
    that have AVX2 and only when the user has not set it (set it to "" to keep MKL's own choice);
    MKL reads it at its first call, so it is set here, before this package runs anything in Paddle.
    Every run records it (``environment.mkl_cpu_type``).
    """
    if "MKL_DEBUG_CPU_TYPE" not in os.environ and _cpu_is_amd_with_avx2():
        os.environ["MKL_DEBUG_CPU_TYPE"] = "5"


_let_mkl_use_avx2_on_amd()

# Paddle's import warns about a C++ build cache (ccache) that only matters to people compiling
# custom operators; for learners it is noise on every command.
warnings.filterwarnings("ignore", message="No ccache found")

_LAZY = {
    "load_data": "paddle_mnist.data",
    "load_dataset": "paddle_mnist.data",
    "MnistDataset": "paddle_mnist.data",
    "MNIST": "paddle_mnist.model",
    "build_model": "paddle_mnist.model",
    "build_optimizer": "paddle_mnist.optim",
    "TrainConfig": "paddle_mnist.training",
    "train": "paddle_mnist.training",
    "compare": "paddle_mnist.comparison",
    "plot": "paddle_mnist.plots",
    "predict": "paddle_mnist.inference",
    "export": "paddle_mnist.inference",
    "lr_find": "paddle_mnist.lr_finder",
}


def __getattr__(name):
    """Import submodules on first use, so `import paddle_mnist` stays fast."""
    if name in _LAZY:
        module = importlib.import_module(_LAZY[name])
        return getattr(module, name)
    raise AttributeError(f"module 'paddle_mnist' has no attribute {name!r}")


__all__ = sorted(_LAZY)
