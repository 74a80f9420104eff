"""The package as a learner meets it: without Paddle, `--help`, `python -m`."""

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_without_paddle_import_and_cli_say_how_to_install_it():
    # -S: no site-packages, so neither paddle nor anything else installed is importable
    res = subprocess.run([sys.executable, "-S", "-c", "import paddle_mnist"], cwd=ROOT,
                         capture_output=True, text=True)
    assert res.returncode == 1
    assert "ImportError: paddle_mnist needs PaddlePaddle" in res.stderr
    assert "paddlepaddle>=2.6" in res.stderr and "paddlepaddle-gpu" in res.stderr
    res = subprocess.run([sys.executable, "-S", "-m", "paddle_mnist", "train"], cwd=ROOT,
                         capture_output=True, text=True)
    assert res.returncode == 1
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("paddle-mnist: error: paddle_mnist needs PaddlePaddle")


@pytest.mark.slow
def test_every_command_has_help():
    res = subprocess.run([sys.executable, "-m", "paddle_mnist", "--help"], capture_output=True, text=True)
    assert res.returncode == 0
    commands = ["data", "optimizers", "train", "compare", "plot", "predict", "export", "lr-find"]
    for command in commands:
        assert command in res.stdout
    for command in commands:
        sub = subprocess.run([sys.executable, "-m", "paddle_mnist", command, "--help"],
                             capture_output=True, text=True)
        assert sub.returncode == 0 and "usage: paddle-mnist " + command in sub.stdout, command


def mkl_setting_after_import(env_value):
    """MKL_DEBUG_CPU_TYPE as a fresh process sees it after `import paddle_mnist` (None: unset)."""
    env = {k: v for k, v in os.environ.items() if k != "MKL_DEBUG_CPU_TYPE"}
    if env_value is not None:
        env["MKL_DEBUG_CPU_TYPE"] = env_value
    code = "import os, paddle_mnist; print(repr(os.environ.get('MKL_DEBUG_CPU_TYPE')))"
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return ast.literal_eval(res.stdout.strip())


def test_mkl_gets_its_avx2_code_on_amd_only_and_a_users_setting_wins():
    cpuinfo = Path("/proc/cpuinfo")
    first_cpu = cpuinfo.read_text()[:8192].split("\n\n")[0] if cpuinfo.exists() else ""
    amd_avx2 = "AuthenticAMD" in first_cpu and " avx2" in first_cpu and " fma" in first_cpu
    assert mkl_setting_after_import(None) == ("5" if amd_avx2 else None)
    assert mkl_setting_after_import("") == ""  # the documented way to keep MKL's own choice
    assert mkl_setting_after_import("2") == "2"
