"""LR range test: exponential lr ramp, divergence stop, network restored, suggestions, plot + JSON."""

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from paddle_mnist.core.errors import ConfigError
from paddle_mnist.api import lr_find
from paddle_mnist.runners.lr_find import exponential_lrs, smooth, smoothing_for, suggest
from paddle_mnist.core.model import build_model


def test_ramp_smoothing_and_suggestions_on_a_known_curve():
    lrs = exponential_lrs(1e-4, 10.0, 101)
    assert lrs[0] == pytest.approx(1e-4) and lrs[-1] == pytest.approx(10.0)
    ratios = np.array(lrs[1:]) / np.array(lrs[:-1])
    np.testing.assert_allclose(ratios, 10 ** (5 / 100))  # one constant factor per step

    assert smooth([2.0, 2.0, 2.0], 0.98) == pytest.approx([2.0, 2.0, 2.0])  # debiased: no pull towards 0
    assert smooth([1.0, 0.0], 0.5) == pytest.approx([1.0, 1 / 3])
    assert smoothing_for(100) == 0.8 and smoothing_for(200) == pytest.approx(0.9) and smoothing_for(10_000) == 0.98

    # a loss that falls fastest at lr 1e-2 (in log lr), is lowest at lr 1e-1, then blows up and
    # collapses again (a steep spurious fall at lr 3) that must not be taken as "steepest"
    x = np.log10(lrs)
    loss = 2.0 - np.tanh(2 * (x + 2)) + np.where(x > -1, 8 * (x + 1) ** 2, 0.0)
    loss = np.where(x > 0.3, 1.0 + 10 * (1.2 - x), loss)
    s = suggest(lrs, list(loss), 101)
    assert s["steepest"] == pytest.approx(1e-2, rel=0.13)
    assert s["minimum"] == pytest.approx(0.1, rel=0.5)
    assert s["minimum_div10"] == pytest.approx(s["minimum"] / 10)
    assert suggest([1e-3], [2.0], 100)["steepest"] is None
    assert suggest([1e-3], [2.0], 100)["reason"].startswith("too few steps")


def test_lr_find_synthetic_mechanics(tmp_path):
    net = build_model("linear")
    before = {k: v.numpy().copy() for k, v in net.state_dict().items()}
    steps = 100  # enough steps per decade for the loss to fall before lr 1e5 blows it up
    r = lr_find("sgd", "synthetic", model=net, start=1e-3, end=1e5, steps=steps, batch_size=32,
                seed=3, out=str(tmp_path / "lf"))

    # the network is exactly as before the test (and in train mode, as a fresh Layer is)
    after = net.state_dict()
    assert sorted(after) == sorted(before)
    for k, v in before.items():
        np.testing.assert_array_equal(after[k].numpy(), v)
    assert net.training

    # the optimizer really used the exponential ramp, one lr per batch
    n = len(r["lrs"])
    np.testing.assert_allclose(r["lrs"], exponential_lrs(1e-3, 1e5, steps)[:n], rtol=1e-6)
    # lr 1e5 on a linear softmax blows the loss up: the test stopped on divergence
    assert r["stopped"] is not None and n < steps, r["stopped"]
    assert "4x its best" in r["stopped"]["reason"] or "nan" in r["stopped"]["reason"] or "inf" in r["stopped"]["reason"]
    assert min(r["losses"]) < r["losses"][0]  # somewhere on the way, it learned
    assert len(r["losses"]) == len(r["smoothed"]) == n
    s = r["suggestions"]
    assert r["lrs"][0] <= s["steepest"] <= s["minimum"] <= r["lrs"][-1]

    files = sorted(os.listdir(tmp_path / "lf"))
    assert files == ["lr_find.json", "lr_find.png"]  # no temporary files left
    saved = json.loads((tmp_path / "lf" / "lr_find.json").read_text())
    assert saved["lrs"] == pytest.approx(r["lrs"]) and saved["suggestions"] == s
    assert saved["optimizer"] == "sgd" and saved["steps"] == steps and saved["stopped"]["step"] == r["stopped"]["step"]
    with Image.open(tmp_path / "lf" / "lr_find.png") as im:
        assert im.format == "PNG" and im.size == (700, 450)


def test_lr_find_rejects_bad_options():
    with pytest.raises(ConfigError, match="^start must be a positive number"):  # the argument's name
        lr_find(start=0.0, data="synthetic")
    with pytest.raises(ConfigError, match=r"^end must be a number > 0.1"):
        lr_find(start=0.1, end=0.01, data="synthetic")
    with pytest.raises(ConfigError, match="^steps must be an integer from 10 to 100000, not 5"):
        lr_find(steps=5, data="synthetic")
    with pytest.raises(ConfigError, match="^batch_size must be a positive integer"):
        lr_find(batch_size=0, data="synthetic")
    with pytest.raises(ConfigError, match="^optimizer 'sgdd' is unknown"):
        lr_find("sgdd", data="synthetic", steps=10)


@pytest.mark.slow
def test_cli_lr_find_prints_the_suggestions(tmp_path):
    res = subprocess.run(
        [sys.executable, "-m", "paddle_mnist", "lr-find", "--optimizer", "momentum", "--opt", "momentum=0.5",
         "--data", "synthetic", "--model", "linear", "--steps", "20", "--start", "1e-3", "--end", "1",
         "--batch-size", "32", "--quiet", "--out", "lf"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    saved = json.loads((tmp_path / "lf" / "lr_find.json").read_text())
    assert saved["opt_args"] == {"momentum": 0.5} and len(saved["lrs"]) == 20 and saved["stopped"] is None
    assert f"suggested lr (steepest descent): {saved['suggestions']['steepest']:.3g}" in res.stdout
    assert f"suggested lr (minimum / 10):     {saved['suggestions']['minimum_div10']:.3g}" in res.stdout
    assert (tmp_path / "lf" / "lr_find.png").exists()

    res = subprocess.run([sys.executable, "-m", "paddle_mnist", "lr-find", "--data", "synthetic", "--steps", "3"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert res.returncode == 1 and "Traceback" not in res.stderr
    assert "paddle-mnist: error: --steps must be an integer from 10 to 100000, not 3" in res.stderr.splitlines()


@pytest.mark.slow
def test_suggestion_trains_on_real_digits(real15k):
    """SGD on the cnn trains between lr 0.01 and 0.5 on these digits (lr 100 diverges): so must the suggestion.

    Measured (100 steps, batch 64, 1e-4 → 10): steepest 0.067 (seed 0) / 0.095 (seed 1),
    minimum/10 0.034 / 0.017; the loss blows up past lr ~1.
    """
    r = lr_find("sgd", real15k, model="cnn", start=1e-4, end=10.0, steps=100, batch_size=64, seed=0)
    s = r["suggestions"]
    print("suggestions:", s, "stopped:", r["stopped"])
    assert 0.01 <= s["steepest"] <= 0.5, s
    assert 1e-3 <= s["minimum_div10"] <= 0.1, s
    best = int(np.argmin(r["smoothed"]))
    assert r["smoothed"][best] < 0.8 * r["smoothed"][0]  # the loss really fell at the good learning rates
    assert max(r["losses"][best:]) > 2 * r["smoothed"][best] or r["stopped"]  # and rose past them
    assert all(math.isfinite(v) for v in r["losses"])


# ----------------------------------------------------------------------------- bad input (issue 15)

def run_main(capsys, *args):
    """The real CLI, in this process: (exit code, stderr lines)."""
    from paddle_mnist.cli import main

    code = main(["lr-find", "--data", "synthetic", "--model", "linear", "--quiet", *args])
    return code, capsys.readouterr().err.splitlines()


@pytest.mark.parametrize("args, message", [
    (["--start", "nan"], "--start must be a positive number, not nan"),
    (["--start", "-1"], "--start must be a positive number, not -1.0"),
    (["--end", "inf"], "--end must be a number > 1e-05, not inf"),
    (["--start", "1e-320", "--end", "1e300"], "end / start must be a finite ratio"),
    (["--steps", "-20"], "--steps must be an integer from 10 to 100000, not -20"),
    (["--steps", "1000000000"], "--steps must be at most 100000, not 1000000000"),
    (["--batch-size", "-5"], "--batch-size must be a positive integer, not -5"),
    (["--batch-size", "1000000000"], "--batch-size 1000000000 is larger than the training split (1000 images)"),
    (["--seed", "-1"], "--seed must be an integer from 0 to 4294967295, not -1"),
    (["--seed", str(2**40)], f"--seed must be at most 4294967295, not {2**40}"),
    (["--opt", "momentum=nan", "--optimizer", "momentum"], "momentum must be a number, not 'nan'"),
])
def test_cli_bad_numbers_are_one_line_and_leave_nothing(tmp_path, capsys, args, message):
    out = tmp_path / "new" / "lf"
    code, err = run_main(capsys, "--out", str(out), *args)
    assert code == 1 and len(err) == 1, err
    assert err[0].startswith("paddle-mnist: error: ") and message in err[0], err
    assert os.listdir(tmp_path) == []  # not even the --out folder


def test_cli_unwritable_out_is_found_before_the_run(tmp_path, capsys):
    (tmp_path / "a-file").write_text("x")
    for out in (tmp_path / "a-file", tmp_path / "a-file" / "lf"):  # a file, a folder below a file
        # the data does not exist either: the output is checked first, before any data is read
        code, err = run_main(capsys, "--out", str(out), "--data", str(tmp_path / "missing.json.gz"))
        assert code == 1 and len(err) == 1, err
        assert err[0].startswith(f"paddle-mnist: error: --out {out}: cannot write there ("), err
    assert os.listdir(tmp_path) == ["a-file"] and (tmp_path / "a-file").read_text() == "x"

    # a refusal after the folder was made (the data is missing) removes the folders it made
    code, err = run_main(capsys, "--out", str(tmp_path / "x" / "y"), "--data", str(tmp_path / "missing.json.gz"))
    assert code == 1 and err == [f"paddle-mnist: error: {tmp_path / 'missing.json.gz'}: no such file"], err
    assert os.listdir(tmp_path) == ["a-file"]


def test_cli_an_optimizer_this_paddle_lacks_is_one_line(tmp_path, capsys):
    import paddle

    from paddle_mnist.core.optim import OPTIMIZERS

    missing = [name for name, spec in OPTIMIZERS.items() if not spec.available]
    if not missing:
        pytest.skip(f"Paddle {paddle.__version__} has every optimizer (2.6 lacks radam, nadam, amsgrad)")
    for name in missing:
        code, err = run_main(capsys, "--optimizer", name, "--out", str(tmp_path / "lf"))
        assert code == 1 and len(err) == 1, err
        assert f"optimizer {name!r} needs Paddle >= {OPTIMIZERS[name].since}" in err[0], err
        assert f"the installed Paddle is {paddle.__version__}" in err[0], err
    assert os.listdir(tmp_path) == []


def test_the_network_keeps_its_mode(tmp_path):
    """Paddle 2.6's Layer.train() takes no mode: an eval-mode network must come back in eval mode."""
    net = build_model("linear")
    net.eval()
    r = lr_find("adam", "synthetic", model=net, start=1e-4, end=1.0, steps=10, batch_size=50)
    assert len(r["lrs"]) == 10 and not net.training
    net.train()
    lr_find("adam", "synthetic", model=net, start=1e-4, end=1.0, steps=10, batch_size=50)
    assert net.training


def test_lr_find_takes_the_course_step(monkeypatch):
    """lr_find trains with loop.train_step (the course's step), not a copy of it: every batch is one call."""
    from paddle_mnist.core import loop
    from paddle_mnist.runners import lr_find as lr_finder

    calls = []
    real = loop.train_step

    def counting(*args):
        calls.append(1)
        return real(*args)

    monkeypatch.setattr(lr_finder, "train_step", counting)
    r = lr_find("sgd", "synthetic", model="linear", start=1e-3, end=1.0, steps=12, batch_size=100)
    assert len(calls) == len(r["lrs"]) == 12
