"""Process tweaks, each behind one function that is called explicitly, and Paddle's private calls.

Nothing here changes results; it changes how fast a CPU process runs or how it ends. Where Paddle
has no public API for a thing, the private call is made here, and only here, with a comment.
"""

import ctypes
import os
import platform
import signal
import sys
import warnings

from paddle_mnist.core.version import __version__


def load_zlib_users_before_paddle():
    """Load Python's zlib and Pillow before Paddle. Paddle 2.6's libpaddle carries an old zlib of its
    own; a zlib module or a Pillow loaded after it binds to that copy and crashes (SIGSEGV in
    inflateReset2) on its first gzip read or PNG (measured with 2.6.2; PaddlePaddle/Paddle#70538).
    Loaded first, they keep their own zlib. It only helps when paddle_mnist is imported before paddle."""
    import zlib  # noqa: F401

    import PIL.Image  # noqa: F401


def cpu_is_amd_with_avx2():
    try:
        with open("/proc/cpuinfo") as f:  # Linux; elsewhere MKL is left to choose
            first_cpu = f.read(8192).split("\n\n")[0]
    except OSError:
        return False
    return "AuthenticAMD" in first_cpu and " avx2" in first_cpu and " fma" in first_cpu


def let_mkl_use_avx2_on_amd():
    """Ask Intel MKL for its AVX2 code on AMD processors (MKL_DEBUG_CPU_TYPE=5).

    Paddle's CPU wheel computes convolutions with an older Intel MKL, which runs slow generic code
    on AMD processors unless this variable asks for its AVX2 code: 1.26-1.56x faster training on
    the project's 2-core AMD EPYC machines (tools/bench.py train). Only on AMD CPUs with AVX2 and
    only when the user has not set it ("" keeps MKL's own choice). MKL reads it at its first call,
    so ``import paddle_mnist`` calls this before anything runs in Paddle. Every run records it
    (``environment.mkl_cpu_type``).
    """
    if "MKL_DEBUG_CPU_TYPE" not in os.environ and cpu_is_amd_with_avx2():
        os.environ["MKL_DEBUG_CPU_TYPE"] = "5"


def quiet_paddle_import():
    """Hide the warning Paddle's import gives about a C++ build cache (ccache): it only matters to
    people compiling custom operators; for learners it is noise on every command."""
    warnings.filterwarnings("ignore", message="No ccache found")


def usable_cores():
    """The cores this process may run on (its CPU affinity where the OS has one), at least 1."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def set_threads(n):
    """CPU threads for Paddle's math in this process. Paddle has no public call for it; its
    private ``core.set_num_threads`` is the one the inference API uses (``paddle.base`` in 2.6+)."""
    import paddle

    paddle.base.core.set_num_threads(int(n))


def set_lr_multiplier(param, value):
    """Paddle multiplies the optimizer's lr by each parameter's ``optimize_attr["learning_rate"]`` (what
    ``ParamAttr(learning_rate=...)`` and parameter groups set); setting it on a built parameter has no
    public call."""
    param.optimize_attr["learning_rate"] = value


def keep_freed_memory():
    """Let glibc keep freed memory for the next step instead of returning it to the system.

    Every training step allocates and frees the same few tensors of several MB. By default glibc
    hands that memory back to the system and faults it in again, page by page, at the next step:
    ~5% of a step spent in the kernel (10 s of training: 0.6 s system time, 0.2 s with this).
    Linux with glibc only; elsewhere it does nothing. Called by the processes this package starts
    (the command line, sweep workers), not by ``train`` itself, so a notebook's process is untouched.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc (e.g. musl)
        return
    M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3
    mallopt(M_MMAP_THRESHOLD, 32 << 20)  # blocks up to 32 MB come from the heap (glibc's maximum) ...
    mallopt(M_TRIM_THRESHOLD, 256 << 20)  # ... which keeps up to 256 MB free for reuse
    mallopt(M_TOP_PAD, 64 << 20)


def die_with_parent():
    """Linux: this process gets SIGKILL when its parent dies (even by SIGKILL), so a killed sweep
    leaves no workers training on unseen; rerunning the sweep then resumes their runs."""
    if sys.platform.startswith("linux"):
        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def sweep_worker_start():
    """A sweep worker's start: one Paddle thread (N workers share N cores without fighting), freed
    memory kept, and death with the sweep."""
    set_threads(1)
    keep_freed_memory()
    die_with_parent()


def environment(device, threads):
    """Versions and machine, for a run's record; `threads` is what the run asked Paddle for
    (null: Paddle's default, or OMP_NUM_THREADS when set)."""
    import numpy as np
    import paddle

    return {
        "paddle_mnist": __version__,
        "paddle": paddle.__version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "device": str(device),
        "threads": threads or (int(os.environ["OMP_NUM_THREADS"]) if os.environ.get("OMP_NUM_THREADS") else None),
        "cpus": os.cpu_count(),
        "mkl_cpu_type": os.environ.get("MKL_DEBUG_CPU_TYPE"),  # see let_mkl_use_avx2_on_amd
        "platform": platform.platform(),
    }
