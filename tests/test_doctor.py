"""`paddle-mnist doctor`: the real command in a subprocess, in a made-up home, on whichever Paddle runs the tests."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import paddle
import pytest

from paddle_mnist.core.optim import OPTIMIZERS

ROOT = Path(__file__).resolve().parents[1]


def doctor(tmp_path, *args, **env):
    """Run `paddle-mnist doctor` with cwd and HOME (so Paddle's dataset cache) inside tmp_path."""
    home, cwd = tmp_path / "home", tmp_path / "cwd"
    home.mkdir(exist_ok=True)
    cwd.mkdir(exist_ok=True)
    e = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""), HOME=str(home),
             PADDLE_MNIST_CACHE=str(tmp_path / "cache"), PADDLE_MNIST_OFFLINE="1")
    e.pop("CI", None)
    e.update(env)
    res = subprocess.run([sys.executable, "-m", "paddle_mnist", "doctor", *args], cwd=cwd, env=e,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr
    return res


@pytest.mark.slow
def test_json_reports_this_installation(tmp_path):
    entry = tmp_path / "cache" / ("ab" * 32)  # one parsed-data cache entry of a known size
    entry.mkdir(parents=True)
    (entry / "train-images.npy").write_bytes(b"x" * 1000)
    (entry / "meta.json").write_bytes(b"{}")
    r = json.loads(doctor(tmp_path, "--json", OMP_NUM_THREADS="64", MKL_DEBUG_CPU_TYPE="3").stdout)

    assert r["python"]["version"] == ".".join(map(str, sys.version_info[:3]))
    assert r["packages"]["numpy"] == np.__version__
    assert r["paddle"]["version"] == paddle.__version__
    assert r["paddle"]["build"].startswith("CUDA" if paddle.device.is_compiled_with_cuda() else "CPU")
    if not paddle.device.is_compiled_with_cuda():
        assert r["paddle"]["cuda"] is None and r["devices"] == {"visible": ["cpu"], "train_uses": "cpu"}
    assert r["cpu"]["cpu_count"] == os.cpu_count()
    assert r["cpu"]["omp_num_threads"] == "64" and r["cpu"]["mkl_debug_cpu_type"] == "3"  # the user's choice stands
    assert any("OMP_NUM_THREADS=64 is more than the" in n for n in r["notes"]), r["notes"]
    assert {o["name"]: o["available"] for o in r["optimizers"]} == {n: s.available for n, s in OPTIMIZERS.items()}
    assert set(r["extras"]) >= {"visualdl", "wandb", "ray", "nbclient"}

    # offline, no work/mnist.json.gz, an empty Paddle cache: nothing to train on, and it says so
    assert r["data"]["default"]["source"] == "none" and r["data"]["default"]["path"] is None
    assert "no download (PADDLE_MNIST_OFFLINE is set)" in r["data"]["default"]["tried"]
    assert r["data"]["cache"] == {"path": str(tmp_path / "cache"), "exists": True, "bytes": 1002, "files": 2,
                                  "entries": 1, "problem": None}


@pytest.mark.slow
def test_data_source_is_found_without_reading_or_downloading(tmp_path):
    # online: a bare train would download into Paddle's cache, but doctor does not
    r = json.loads(doctor(tmp_path, "--json", PADDLE_MNIST_OFFLINE="0").stdout)
    paddle_cache = tmp_path / "home" / ".cache" / "paddle" / "dataset" / "mnist"
    assert r["data"]["default"]["source"] == "download"
    assert r["data"]["default"]["path"] == str(paddle_cache) and not paddle_cache.exists()
    assert r["data"]["cache"]["exists"] is False and r["data"]["cache"]["bytes"] == 0

    # work/mnist.json.gz wins, and is not parsed (this one is not even JSON)
    (tmp_path / "cwd" / "work").mkdir()
    (tmp_path / "cwd" / "work" / "mnist.json.gz").write_text("not data")
    r = json.loads(doctor(tmp_path, "--json").stdout)
    assert r["data"]["default"] == {"source": "local file", "path": os.path.join("work", "mnist.json.gz"),
                                    "tried": []}
    assert not (tmp_path / "cache").exists()  # nothing was parsed into the cache


@pytest.mark.slow
def test_text_fits_one_screen(tmp_path):
    out = doctor(tmp_path).stdout
    lines = out.splitlines()
    labels = [line.split()[0] for line in lines if not line.startswith(" ")]
    assert labels[:9] == ["Python", "Packages", "Paddle", "Devices", "CPU", "Optimizers", "Extras", "Data",
                          "Cache"] and labels[9:] in ([], ["Note"]), out
    assert len(lines) <= 30 and max(len(line) for line in lines) <= 100 + 40, out  # long paths may overhang
    joined = " ".join(out.split())  # undo the wrapping
    assert f"Paddle {paddle.__version__} from paddlepaddle" in joined
    assert f"paddlepaddle {paddle.__version__}, numpy {np.__version__}" in joined
    assert "none found and downloading is off" in joined
    missing = [n for n, s in OPTIMIZERS.items() if not s.available]
    if missing:  # Paddle 2.6: amsgrad, radam, nadam
        assert "unavailable here: " + ", ".join(f"{n} (Paddle >= {OPTIMIZERS[n].since})" for n in missing) in joined
    else:
        assert f"Optimizers all {len(OPTIMIZERS)}: " + " ".join(OPTIMIZERS) in joined


@pytest.mark.slow
def test_the_library_only_looks():
    """doctor() leaves Paddle's device as it was and imports none of the optional packages."""
    code = ("import sys, paddle; paddle.set_device('cpu'); from paddle_mnist.runners.doctor import doctor; r = doctor(); "
            "print(paddle.device.get_device(), sorted(m for m in ('wandb', 'visualdl', 'ray', 'nbclient') "
            "if m in sys.modules), r['devices']['train_uses'])")
    e = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    res = subprocess.run([sys.executable, "-c", code], env=e, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    device, imported, uses = res.stdout.split(maxsplit=2)
    assert device == "cpu" and imported == "[]", res.stdout
    assert uses.strip() == ("gpu" if paddle.device.is_compiled_with_cuda() and paddle.device.cuda.device_count()
                            else "cpu")
