"""Comparisons: grid expansion, fairness, resume after SIGKILL, divergence, errors, the course's order."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from paddle_mnist.comparison import COURSE_EXPERIMENTS, compare, plan_runs
from paddle_mnist.errors import ConfigError
from paddle_mnist.training import TrainConfig


def run_cli(*args, cwd, timeout=600):
    return subprocess.run([sys.executable, "-m", "paddle_mnist", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


def test_grid_expansion_names_and_dedup():
    planned, varying = plan_runs(TrainConfig(), [{"optimizer": ["sgd", "adam"], "lr": [0.1, 0.01],
                                                  "batch_size": [10, 100]}])
    assert len(planned) == 8
    names = [n for n, _ in planned]
    assert len(set(names)) == 8 and "adam-lr0.01-bs10" in names
    assert varying == ["optimizer", "lr", "batch_size"]
    # the course's two experiments share SGD at 0.01: six runs, not seven
    planned, _ = plan_runs(TrainConfig(), COURSE_EXPERIMENTS)
    assert sorted(n for n, _ in planned) == sorted(
        ["sgd-lr0.01", "momentum-lr0.01", "adagrad-lr0.01", "adam-lr0.01", "sgd-lr0.1", "sgd-lr0.001"])


def test_sweep_is_fair_and_keeps_going_past_divergence(tmp_path):
    result = compare(["sgd", "adam"], [1e4, 0.01], epochs=1, jobs=1, out=str(tmp_path), data="synthetic",
                     plot=False, progress=False, batch_size=50)
    records = {r["name"]: r for r in result["records"]}
    assert sorted(records) == ["adam-lr0.01", "adam-lr10000", "sgd-lr0.01", "sgd-lr10000"]
    fairness = {json.dumps(r["fairness"], sort_keys=True) for r in records.values()}
    assert len(fairness) == 1  # same initial weights and the same batches for every run
    assert records["sgd-lr10000"]["status"] == "diverged"
    assert records["sgd-lr0.01"]["status"] == "completed"
    assert records["adam-lr0.01"]["status"] == "completed"
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["axes"] == {"optimizer": ["adam", "sgd"], "lr": [0.01, 10000.0]}
    assert len(manifest["runs"]) == 4
    # rerun: everything is finished, nothing is trained again
    again = compare(["sgd", "adam"], [1e4, 0.01], epochs=1, jobs=1, out=str(tmp_path), data="synthetic",
                    plot=False, progress=False, batch_size=50)
    assert again["skipped"] == 4
    assert [r["timing"] for r in again["records"]] == [r["timing"] for r in result["records"]]


def test_batch_size_axis_and_two_workers(tmp_path):
    res = run_cli("compare", "--data", "synthetic", "--optimizers", "sgd", "--lrs", "0.05",
                  "--batch-sizes", "1000,100", "--epochs", "1", "--jobs", "2", "--out", "sweep",
                  "--quiet", "--no-plot", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    spe = {}
    for name in ("sgd-lr0.05-bs1000", "sgd-lr0.05-bs100"):
        record = json.loads((tmp_path / "sweep" / "runs" / name / "record.json").read_text())
        assert record["status"] == "completed" and record["config"]["threads"] == 1
        spe[name] = record["steps_per_epoch"]
    assert spe == {"sgd-lr0.05-bs1000": 1, "sgd-lr0.05-bs100": 10}  # full batch vs mini-batch


def test_sigkill_then_rerun_finishes_every_run_once(tmp_path):
    args = ["compare", "--data", "synthetic", "--optimizers", "sgd,momentum,adam", "--lrs", "0.05",
            "--epochs", "4", "--batch-size", "50", "--jobs", "2", "--out", "sweep", "--quiet", "--no-plot"]
    proc = subprocess.Popen([sys.executable, "-m", "paddle_mnist", *args], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    runs = tmp_path / "sweep" / "runs"
    deadline = time.time() + 180
    while time.time() < deadline:  # wait until some run has written an epoch
        if runs.exists() and any((d / "record.json").exists() for d in runs.iterdir()):
            break
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)  # the sweep's main process only: its workers must die with it
    proc.wait(timeout=30)
    time.sleep(1)
    statuses = [json.loads((d / "record.json").read_text())["status"]
                for d in runs.iterdir() if (d / "record.json").exists()]
    assert "running" in statuses  # killed in the middle of a run
    time.sleep(2)  # no orphan worker goes on writing after the kill
    before = {d.name: (d / "record.json").read_text() for d in runs.iterdir() if (d / "record.json").exists()}
    assert before == {d.name: (d / "record.json").read_text() for d in runs.iterdir()
                      if (d / "record.json").exists()}

    res = run_cli(*args, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    for name in ("sgd-lr0.05", "momentum-lr0.05", "adam-lr0.05"):
        record = json.loads((runs / name / "record.json").read_text())
        assert record["status"] == "completed"
        assert [e["epoch"] for e in record["epochs"]] == [1, 2, 3, 4]  # each epoch exactly once
        assert len(record["steps"]["loss"]) == 4 * record["steps_per_epoch"]
    assert sorted(p.name for p in runs.iterdir()) == ["adam-lr0.05", "momentum-lr0.05", "sgd-lr0.05"]


@pytest.mark.parametrize("args, message", [
    (["--lrs", "0.1,abc"], "--lrs"),
    (["--optimizers", "sgd,adamm"], "--optimizer 'adamm' is unknown"),
    (["--axis", "colour=red"], "--axis expects FIELD=V1,V2"),
    (["--seeds", ","], "--seeds needs a comma-separated list"),
])
def test_bad_arguments_are_one_line(tmp_path, args, message):
    res = run_cli("compare", "--data", "synthetic", "--epochs", "1", "--quiet", *args, cwd=tmp_path)
    assert res.returncode == 1, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in res.stderr


def test_compare_api_rejects_unknown_fields():
    with pytest.raises(ConfigError, match="colour"):
        compare(["sgd"], [0.1], colour="red", data="synthetic", plot=False)


@pytest.fixture(scope="module")
def course_comparison(tmp_path_factory):
    """The course's comparison on the real digits (lr 0.01, batch 100, 3 epochs), over 3 seeds.

    One seed is too noisy to order Momentum, AdaGrad and Adam (measured, seed 0: 96.96 %, 96.98 %,
    96.90 %); the mean over seeds 0-2 is not (96.56 %, 97.16 %, 97.47 %).
    """
    real = Path(__file__).resolve().parents[1].parent / "shared" / "mnist" / "mnist-real15k.json.gz"
    if not real.exists():
        pytest.skip("real digits not present (../shared/mnist/mnist-real15k.json.gz)")
    result = compare(["sgd", "momentum", "adagrad", "adam"], [0.01], grid={"seed": [0, 1, 2]}, epochs=3,
                     out=str(tmp_path_factory.mktemp("course")), data=str(real), plot=False, progress=False)
    return result["records"]


def test_real_digits_adam_reaches_96_percent(course_comparison):
    adam = [r for r in course_comparison if r["config"]["optimizer"] == "adam"]
    assert len(adam) == 3
    for r in adam:  # the check: Adam, lr 0.01, 3 epochs: at least 96 % (every seed)
        assert r["status"] == "completed" and r["eval"]["acc"] >= 0.96, (r["name"], r["eval"])


def test_real_digits_land_in_the_course_order(course_comparison):
    """SGD < Momentum < AdaGrad and Adam (the course measured 90.8, 96.1, 97.2, 97.4 %)."""
    acc = {}
    for r in course_comparison:
        acc.setdefault(r["config"]["optimizer"], []).append(r["eval"]["acc"])
    mean = {name: sum(v) / len(v) for name, v in acc.items()}
    print(mean)
    assert all(len(v) == 3 for v in acc.values())
    assert mean["sgd"] < mean["momentum"] < min(mean["adagrad"], mean["adam"]), mean
