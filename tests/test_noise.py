"""Paddle's own chatter that a learner should not see: the downloader's "Begin to download" lines
before our one-line "no data" error, and Paddle 3's PIR warning during a complete export."""

import os
import subprocess
import sys

import paddle
import pytest

from conftest import run_cli
from paddle_mnist.core.model import build_model
from paddle_mnist.runners.predict import PIR_WARNING

JIT_SAVE = """
import paddle, paddle_mnist, sys
from paddle.static import InputSpec
from paddle_mnist.core.model import build_model
paddle.jit.save(build_model("cnn"), sys.argv[1], input_spec=[InputSpec([None, 1, 28, 28], "float32")])
"""


@pytest.mark.slow
def test_no_network_gives_one_error_line_without_paddle_download_chatter(tmp_path):
    """Downloading is allowed (no CI, no PADDLE_MNIST_OFFLINE) but every connection fails at once: a
    proxy on a closed port stands in for "offline". Paddle's downloader tries each file three times."""
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "PADDLE_MNIST_OFFLINE")}
    env.update(HOME=str(tmp_path), HTTPS_PROXY="http://127.0.0.1:9", HTTP_PROXY="http://127.0.0.1:9",
               NO_PROXY="", no_proxy="")
    res = run_cli("train", "--epochs", "1", "--out", tmp_path / "run", cwd=tmp_path, env=env, timeout=300)
    assert res.returncode == 1, res.stderr
    assert "Begin to download" not in res.stderr and "not found, downloading" not in res.stderr
    errors = [line for line in res.stderr.splitlines() if line.startswith("paddle-mnist: error:")]
    assert len(errors) == 1 and "no MNIST data found" in errors[0] and "downloading from https://" in errors[0]
    assert "data: downloading MNIST from https://" in res.stderr  # what was attempted, said once
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_export_drops_paddles_pir_warning_and_still_exports(tmp_path):
    weights = tmp_path / "cnn.pdparams"
    paddle.save(build_model("cnn").state_dict(), str(weights))
    # the premise: paddle.jit.save itself prints the warning on this Paddle (Paddle 3 does, 2.6 does not)
    raw = subprocess.run([sys.executable, "-c", JIT_SAVE, str(tmp_path / "raw" / "model")],
                         capture_output=True, text=True, timeout=300)
    assert raw.returncode == 0, raw.stderr
    res = run_cli("export", "--checkpoint", weights, "--out", tmp_path / "deploy", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert PIR_WARNING not in res.stderr
    assert (tmp_path / "deploy" / "model.pdiparams").exists() and "exported to" in res.stdout
    if PIR_WARNING not in raw.stderr:
        pytest.skip(f"Paddle {paddle.__version__}'s jit.save does not print the PIR warning here")
