"""VisualDL / W&B tracking: optional, offline, one sub-directory per run, values read back."""

import glob
import json
import os
import subprocess
import sys
import time

import pytest

from paddle_mnist.runners import tracking
from paddle_mnist.core.errors import ConfigError
from paddle_mnist.runners.tracking import open_trackers

CONFIG = {"optimizer": "sgd", "lr": 0.05, "batch_size": 100, "nesterov": False, "grad_clip": None,
          "opt_args": {"momentum": 0.9}, "visualdl": None, "wandb": None}
LOSSES = [2.3, 1.7, None, 0.9]  # None: a step whose loss is unknown (e.g. non-finite)
LRS = [0.05, 0.04, 0.03, 0.02]
EPOCH = {"epoch": 1, "train_loss": 1.2, "train_acc": 0.61, "valid_loss": 0.8, "valid_acc": 0.75,
         "lr": 0.02, "seconds": 3.5}
FINAL = {"eval_loss": 0.7, "eval_acc": 0.78, "status": "completed"}


def log_a_run(trackers):
    for step, (loss, lr) in enumerate(zip(LOSSES, LRS), start=1):
        trackers.log_step(step, loss, lr)
    trackers.log_epoch(1, EPOCH)
    trackers.log_final(FINAL)
    trackers.close()


@pytest.fixture
def offline_wandb(tmp_path, monkeypatch):
    """W&B with no network and nothing outside tmp_path."""
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_CONSOLE", "off")
    for var, sub in (("WANDB_DIR", "wb"), ("WANDB_CONFIG_DIR", "wbconfig"), ("WANDB_CACHE_DIR", "wbcache"),
                     ("WANDB_DATA_DIR", "wbdata")):
        (tmp_path / sub).mkdir()
        monkeypatch.setenv(var, str(tmp_path / sub))
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    return tmp_path / "wb"


def test_no_tracker_asked_imports_nothing(monkeypatch):
    # with the packages made unimportable, asking for neither must still work
    monkeypatch.setitem(sys.modules, "visualdl", None)
    monkeypatch.setitem(sys.modules, "wandb", None)
    trackers = open_trackers(CONFIG, "run")
    assert trackers.trackers == []
    log_a_run(trackers)


def test_missing_package_is_a_one_line_config_error(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "visualdl", None)  # `import visualdl` now raises ImportError
    with pytest.raises(ConfigError) as e:
        open_trackers(dict(CONFIG, visualdl=str(tmp_path / "vdl")), "run")
    assert str(e.value) == "--visualdl needs the visualdl package: pip install visualdl"
    assert not (tmp_path / "vdl").exists()

    monkeypatch.setitem(sys.modules, "wandb", None)
    with pytest.raises(ConfigError) as e:
        open_trackers(dict(CONFIG, wandb="proj"), "run")
    assert str(e.value) == "--wandb needs the wandb package: pip install wandb"


def test_first_tracker_is_closed_when_the_second_fails(monkeypatch, tmp_path):
    closed = []

    class FakeVisualDL:
        def __init__(self, *args):
            pass

        def close(self):
            closed.append(True)

    monkeypatch.setattr(tracking, "VisualDLTracker", FakeVisualDL)
    monkeypatch.setitem(sys.modules, "wandb", None)
    with pytest.raises(ConfigError, match="--wandb needs the wandb package"):
        open_trackers(dict(CONFIG, visualdl=str(tmp_path), wandb="proj"), "run")
    assert closed == [True]


def test_visualdl_writes_one_directory_per_run_and_reads_back(tmp_path):
    visualdl = pytest.importorskip("visualdl")
    logdir = tmp_path / "vdl"
    for name in ("sgd-run", "adam-run"):
        log_a_run(open_trackers(dict(CONFIG, visualdl=str(logdir)), name))
    assert sorted(os.listdir(logdir)) == ["adam-run", "sgd-run"]  # `visualdl --logdir vdl` overlays both

    files = glob.glob(str(logdir / "sgd-run" / "vdlrecords.*.log"))
    assert len(files) == 1
    reader = visualdl.LogReader(file_path=files[0])
    tags = reader.get_tags()
    assert set(tags["scalar"]) == {"step/loss", "step/lr", "epoch/train_loss", "epoch/train_acc",
                                   "epoch/valid_loss", "epoch/valid_acc", "epoch/lr", "epoch/seconds",
                                   "eval/loss", "eval/acc"}

    def series(tag):
        return [(r.id, round(r.value, 5)) for r in reader.get_data("scalar", tag)]

    assert series("step/loss") == [(1, 2.3), (2, 1.7), (4, 0.9)]  # the unknown loss is left out
    assert series("step/lr") == [(1, 0.05), (2, 0.04), (3, 0.03), (4, 0.02)]
    assert series("epoch/valid_acc") == [(1, 0.75)]
    assert series("eval/acc") == [(0, 0.78)]
    (hparam,) = reader.get_data("hyper_parameters", "hparam")
    values = {h.name: h for h in hparam.hparam.hparamInfos}
    assert values["lr"].float_value == pytest.approx(0.05)
    assert values["optimizer"].string_value == "sgd"
    assert values["batch_size"].int_value == 100
    assert values["grad_clip"].string_value == "None"
    assert values["opt_args"].string_value == '{"momentum": 0.9}'
    assert [m.name for m in hparam.hparam.metricInfos] == tracking.HPARAM_METRICS


@pytest.mark.slow
def test_wandb_offline_run_is_written(offline_wandb):
    pytest.importorskip("wandb")
    log_a_run(open_trackers(dict(CONFIG, wandb="paddle-mnist-test"), "sgd-run"))
    runs = glob.glob(str(offline_wandb / "wandb" / "offline-run-*"))
    assert len(runs) == 1
    (log,) = glob.glob(os.path.join(runs[0], "run-*.wandb"))
    names = (b"sgd-run", b"paddle-mnist-test", b"step/loss", b"step/lr", b"global_step",
             b"epoch/valid_acc", b"eval/acc", b"completed", b"momentum")
    # W&B's own binary log, uploaded by `wandb sync`; the names are in it. W&B's service process
    # writes it, and may still be doing so after finish() on a loaded machine (seen in CI: only
    # the header yet), so the file is read again for up to a minute before any name counts as missing.
    deadline = time.monotonic() + 60
    while True:
        with open(log, "rb") as f:
            data = f.read()
        if all(text in data for text in names) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    for text in names:
        assert text in data, text


def test_wandb_init_failure_says_how_to_go_offline(monkeypatch):
    wandb = pytest.importorskip("wandb")

    def no_key(**kwargs):
        raise wandb.errors.UsageError("No API key configured. Use `wandb login` to log in.")

    monkeypatch.setattr(wandb, "init", no_key)
    with pytest.raises(ConfigError, match=r"--wandb proj: wandb.init failed \(No API key.*WANDB_MODE=offline"):
        open_trackers(dict(CONFIG, wandb="proj"), "run")


@pytest.mark.slow
def test_train_cli_logs_to_both(tmp_path, offline_wandb):
    """End to end: `paddle-mnist train --visualdl DIR --wandb PROJECT` on synthetic data."""
    visualdl = pytest.importorskip("visualdl")
    pytest.importorskip("wandb")
    res = subprocess.run(
        [sys.executable, "-m", "paddle_mnist", "train", "--data", "synthetic", "--model", "linear",
         "--epochs", "2", "--batch-size", "100", "--lr", "0.1", "--quiet", "--out", "run",
         "--visualdl", "vdl", "--wandb", "paddle-mnist-test"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, env=dict(os.environ))
    assert res.returncode == 0, res.stderr
    (run_dir,) = os.listdir(tmp_path / "vdl")
    (log,) = glob.glob(str(tmp_path / "vdl" / run_dir / "vdlrecords.*.log"))
    reader = visualdl.LogReader(file_path=log)
    record = json.loads((tmp_path / "run" / "record.json").read_text())
    steps = [r.value for r in reader.get_data("scalar", "step/loss")]
    assert steps == pytest.approx(record["steps"]["loss"], rel=1e-5)  # every step, as recorded
    assert [r.id for r in reader.get_data("scalar", "epoch/valid_acc")] == [1, 2]
    assert glob.glob(str(offline_wandb / "wandb" / "offline-run-*" / "run-*.wandb"))

    # the package missing (simulated: a `visualdl` that cannot be imported) → one line, exit 1
    fake = tmp_path / "fake"
    (fake / "visualdl").mkdir(parents=True)
    (fake / "visualdl" / "__init__.py").write_text("raise ImportError('simulated: not installed')\n")
    res = subprocess.run(
        [sys.executable, "-m", "paddle_mnist", "train", "--data", "synthetic", "--model", "linear",
         "--epochs", "1", "--quiet", "--out", "run2", "--visualdl", "vdl"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env=dict(os.environ, PYTHONPATH=str(fake)))
    assert res.returncode == 1
    errors = [line for line in res.stderr.splitlines() if line.startswith("paddle-mnist: error:")]
    assert errors == ["paddle-mnist: error: --visualdl needs the visualdl package: pip install visualdl"]
