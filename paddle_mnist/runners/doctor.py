"""What this installation is, in one dict: for a learner's bug report and for "why is it slow?".

``paddle-mnist doctor`` prints it (``--json`` as it is). Everything here only looks: nothing is
downloaded, no data file is parsed, no optional package is imported (their versions come from
the installed package metadata), and the device Paddle uses is left as it was.
"""

import importlib.metadata
import importlib.util
import os
import platform
import sys

import paddle

from paddle_mnist import __version__
from paddle_mnist.core import runtime
from paddle_mnist.core.data import cache_root, default_source
from paddle_mnist.core.errors import ConfigError
from paddle_mnist.core.optim import list_optimizers
from paddle_mnist.runners.train import choose_device

# (import name, distribution name) of what the package needs besides Paddle
PACKAGES = [("numpy", "numpy"), ("matplotlib", "matplotlib"), ("PIL", "pillow"), ("tqdm", "tqdm"),
            ("scipy", "scipy"), ("safetensors", "safetensors")]
PADDLE_DISTRIBUTIONS = ("paddlepaddle", "paddlepaddle-gpu")

# optional packages and what each one adds
EXTRAS = {
    "visualdl": "train --visualdl DIR (VisualDL logging)",
    "wandb": "train --wandb PROJECT (Weights & Biases logging)",
    "ray": "sweeps on a Ray cluster",
    "nbclient": "running the notebooks in tools/notebooks (tests)",
    "nbformat": "reading the notebooks (tests)",
    "ipykernel": "the notebooks' Python kernel",
    "pytest": "the test suite",
}


def _version(import_name, dists=None):
    """The installed version from package metadata (nothing is imported); None when absent."""
    for dist in dists or (import_name,):
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    # importable without metadata (e.g. on PYTHONPATH): present, version unknown. A bare folder of
    # that name (Ray's /tmp/ray, seen from /tmp) is a namespace package, not the package.
    spec = importlib.util.find_spec(import_name)
    return "unknown version" if spec is not None and spec.origin not in (None, "namespace") else None


def packages():
    """{distribution: version or None} of the package and what it needs."""
    found = {"paddle_mnist": __version__, _paddle_distribution(): paddle.__version__}
    found.update({dist: _version(name, (dist,)) for name, dist in PACKAGES})
    return found


def _paddle_distribution():
    """Which wheel the imported Paddle came from (both install the module ``paddle``)."""
    for dist in PADDLE_DISTRIBUTIONS:
        try:
            importlib.metadata.version(dist)
            return dist
        except importlib.metadata.PackageNotFoundError:
            continue
    return "paddle"


def paddle_build():
    """Paddle's version and build: CPU or CUDA (with the CUDA and cuDNN versions it was built for)."""
    v = paddle.version
    cuda = paddle.device.is_compiled_with_cuda()
    info = {"version": paddle.__version__, "distribution": _paddle_distribution(), "commit": getattr(v, "commit", None),
            "build": "CUDA" if cuda else "CPU", "cuda": None, "cudnn": None, "mkl": getattr(v, "with_mkl", None)}
    if cuda:  # both are the string "False" on a CPU build
        info["cuda"] = str(v.cuda()) if hasattr(v, "cuda") else None
        info["cudnn"] = str(v.cudnn()) if hasattr(v, "cudnn") else None
    for name in ("rocm", "xpu"):
        test = getattr(paddle.device, f"is_compiled_with_{name}", None) or getattr(paddle, f"is_compiled_with_{name}", None)
        if test is not None and test():
            info["build"] += f"+{name.upper()}"
    return info


def devices():
    """The devices Paddle sees, and the one a bare ``train`` would use (training.choose_device)."""
    seen = ["cpu"]
    if paddle.device.is_compiled_with_cuda():
        seen += [f"gpu:{i}" for i in range(paddle.device.cuda.device_count())]
    before = paddle.device.get_device()
    try:
        place = choose_device(None)
        train_uses = "gpu" if "gpu" in str(place).lower() else "cpu"
    except ConfigError as e:  # a GPU that Paddle sees but cannot use
        train_uses = f"none: {e}"
    finally:
        paddle.device.set_device(before)  # only looking
    return {"visible": seen, "train_uses": train_uses}


def cpu():
    """Cores, the threads Paddle is asked for, and the MKL setting (paddle_mnist.core.runtime)."""
    usable = runtime.usable_cores()
    return {
        "model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "usable": usable,
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "mkl_debug_cpu_type": os.environ.get("MKL_DEBUG_CPU_TYPE"),
        "amd_with_avx2": runtime.cpu_is_amd_with_avx2(),
    }


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:  # Linux; elsewhere platform.processor() says what it can
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def extras():
    """{name: version or None, "for": what it adds} of every optional package."""
    return {name: {"version": _version(name), "for": what} for name, what in EXTRAS.items()}


def folder_size(path):
    """(bytes, files) under `path`; (0, 0) when it does not exist."""
    total = count = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(root, name))
                count += 1
            except OSError:  # removed while we looked
                pass
    return total, count


def data():
    """Where a bare ``train`` would get its digits (data.default_source), and the parsed-data cache."""
    source = default_source()
    root = cache_root()
    size, files = folder_size(root)
    entries = len([e for e in os.listdir(root) if not e.startswith(".")]) if os.path.isdir(root) else 0
    return {"default": source, "cache": {"path": root, "exists": os.path.isdir(root), "bytes": size,
                                         "files": files, "entries": entries, "problem": cache_problem(root)}}


def cache_problem(root):
    """Why nothing can be cached in `root` (cache_write would fail there), or None."""
    if os.path.exists(root) and not os.path.isdir(root):
        return "not a folder: nothing can be cached, every load parses the data file again"
    parent = root
    while not os.path.exists(parent):  # the nearest folder that exists: where it would be made
        parent = os.path.dirname(parent) or "."
    if not os.path.isdir(parent) or not os.access(parent, os.W_OK | os.X_OK):
        return "not writable: nothing can be cached, every load parses the data file again"
    return None


def notes(report):
    """Plain sentences about what stands out: the answers to "why is it slow?"."""
    out = []
    c, d = report["cpu"], report["devices"]
    if d["train_uses"] == "cpu":
        out.append("train runs on the CPU" + (" (this Paddle is a CPU build)" if report["paddle"]["build"] == "CPU"
                                              else " (Paddle has CUDA but sees no GPU)"))
    if c["omp_num_threads"] and c["omp_num_threads"].isdigit() and int(c["omp_num_threads"]) > (c["usable"] or 1):
        out.append(f"OMP_NUM_THREADS={c['omp_num_threads']} is more than the {c['usable']} usable cores: "
                   "threads will fight over them")
    if c["amd_with_avx2"] and c["mkl_debug_cpu_type"] != "5":
        out.append("AMD CPU with AVX2 but MKL_DEBUG_CPU_TYPE is not 5: MKL runs its slow generic code "
                   "(unset it to let paddle_mnist choose)")
    missing = [o["name"] for o in report["optimizers"] if not o["available"]]
    if missing:
        out.append(f"this Paddle lacks {', '.join(missing)} (needs Paddle >= "
                   f"{max(o['since'] for o in report['optimizers'] if not o['available'])})")
    if report["data"]["cache"]["problem"]:
        out.append(f"the parsed-data cache {report['data']['cache']['path']} is {report['data']['cache']['problem']} "
                   "(set PADDLE_MNIST_CACHE to a folder you can write)")
    if report["data"]["default"]["source"] == "none":
        out.append("no MNIST data here: use --data PATH, --data synthetic, or unset PADDLE_MNIST_OFFLINE/CI")
    return out


def doctor():
    """Everything above, as one dict (JSON-ready)."""
    report = {
        "python": {"version": platform.python_version(), "executable": sys.executable,
                   "platform": platform.platform()},
        "packages": packages(),
        "paddle": paddle_build(),
        "devices": devices(),
        "cpu": cpu(),
        "optimizers": [{k: o[k] for k in ("name", "available", "since")} for o in list_optimizers()],
        "extras": extras(),
        "data": data(),
    }
    report["notes"] = notes(report)
    return report
