"""Comparisons: grid expansion, fairness, resume after SIGKILL, divergence, errors, the course's order."""

import csv
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from paddle_mnist.api import compare
from paddle_mnist.runners.compare import COURSE_EXPERIMENTS, build_grids, plan_runs
from paddle_mnist.core.errors import ConfigError
from paddle_mnist.runners.train import TrainConfig
from conftest import alive, children_of, run_cli


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


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
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
    workers = children_of(proc.pid)  # the pool's worker processes (and its helpers)
    assert workers, "the sweep runs its runs in worker processes"
    os.kill(proc.pid, signal.SIGKILL)  # the sweep's main process only: its workers must die with it
    proc.wait(timeout=30)
    deadline = time.time() + 20
    while any(alive(pid) for pid in workers) and time.time() < deadline:
        time.sleep(0.2)
    assert not [pid for pid in workers if alive(pid)], "a worker outlived the killed sweep"
    statuses = [json.loads((d / "record.json").read_text())["status"]
                for d in runs.iterdir() if (d / "record.json").exists()]
    assert "running" in statuses  # killed in the middle of a run

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
@pytest.mark.slow
def test_bad_arguments_are_one_line(tmp_path, args, message):
    res = run_cli("compare", "--data", "synthetic", "--epochs", "1", "--quiet", *args, cwd=tmp_path)
    assert res.returncode == 1, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in res.stderr


def test_compare_api_rejects_unknown_fields():
    with pytest.raises(ConfigError, match="colour"):
        compare(["sgd"], [0.1], colour="red", data="synthetic", plot=False)


def test_several_grids_in_one_sweep():
    """compare(grid=[...]): a list of grids (what `tune` sweeps), duplicates across them run once."""
    grids = build_grids(grid=[{"optimizer": ["sgd"], "lr": [0.1, 0.01]}, {"optimizer": ["adam", "sgd"], "lr": [0.01]}])
    planned, _ = plan_runs(TrainConfig(), grids)
    assert [n for n, _ in planned] == ["sgd-lr0.1", "sgd-lr0.01", "adam-lr0.01"]
    assert build_grids(["sgd"], [0.1], grid=[{"seed": [0, 1]}, {"seed": [2]}]) == [
        {"seed": [0, 1], "optimizer": ["sgd"], "lr": [0.1]}, {"seed": [2], "optimizer": ["sgd"], "lr": [0.1]}]
    assert build_grids() == COURSE_EXPERIMENTS
    with pytest.raises(ConfigError, match="axis 'lr' needs a list"):
        build_grids(grid=[{"lr": []}])


def one_line(res):
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
    return lines[0]


def listing(path):
    return sorted(str(p.relative_to(path)) for p in Path(path).rglob("*"))


SMALL = ["compare", "--data", "synthetic", "--optimizers", "sgd", "--lrs", "0.05", "--epochs", "1", "--quiet",
         "--no-plot", "--out", "sweep"]


@pytest.mark.parametrize("args, message", [
    (["--jobs", "0"], "--jobs must be a positive integer"),
    (["--jobs", "-1"], "--jobs must be a positive integer"),
    (["--seeds", "0,99999999999"], "--seed must be at most"),  # the last cell of the grid is bad
    (["--lrs", "0.1,-1"], "--lr must be a positive number"),
    (["--schedule", "step", "--schedule-arg", "gamma=-1", "--epochs", "2"], "--schedule step"),  # bad in epoch 2
    (["--executor", "spark"], "--executor 'spark' is unknown"),
    (["--cpus-per-run", "2"], "--cpus-per-run is an option of --executor ray"),
])
@pytest.mark.slow
def test_refused_sweeps_write_nothing(tmp_path, args, message):
    res = run_cli(*SMALL, *args, cwd=tmp_path)
    assert res.returncode == 1 and message in one_line(res), res.stderr
    assert listing(tmp_path) == []  # no sweep folder, no manifest, no run folder


@pytest.mark.slow
def test_unwritable_out_is_one_line_before_any_work(tmp_path):
    (tmp_path / "blocker").write_text("a file, not a folder")
    res = run_cli(*SMALL[:-1], "blocker/sweep", cwd=tmp_path)
    assert res.returncode == 1 and "--out blocker/sweep: cannot write there" in one_line(res)
    assert listing(tmp_path) == ["blocker"]


@pytest.mark.skipif(importlib.util.find_spec("ray") is not None, reason="Ray is installed here")
def test_executor_ray_without_ray_names_the_extra(tmp_path):
    res = run_cli(*SMALL, "--executor", "ray", cwd=tmp_path)
    assert res.returncode == 1 and 'pip install -e ".[ray]"' in one_line(res)
    assert listing(tmp_path) == []


LONG = ["compare", "--data", "synthetic", "--optimizers", "sgd,momentum,adam", "--lrs", "0.05", "--epochs", "4",
        "--batch-size", "50", "--out", "sweep", "--quiet", "--no-plot"]


def start_sweep(tmp_path, *extra):
    """A sweep in its own session (so that no process of it can hide), once some run wrote an epoch."""
    proc = subprocess.Popen([sys.executable, "-m", "paddle_mnist", *LONG, *extra], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    runs, deadline = tmp_path / "sweep" / "runs", time.time() + 180
    while not (runs.exists() and any((d / "record.json").exists() for d in runs.iterdir())):
        assert time.time() < deadline and proc.poll() is None, "the sweep wrote no epoch"
        time.sleep(0.2)
    return proc


def session_processes(sid):
    """Live processes of session `sid` (Linux /proc; an exited one waiting to be reaped is not live)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()  # state ppid pgrp session ...
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def assert_every_run_once(runs):
    assert sorted(p.name for p in runs.iterdir()) == ["adam-lr0.05", "momentum-lr0.05", "sgd-lr0.05"]
    for d in runs.iterdir():
        record = json.loads((d / "record.json").read_text())
        assert record["status"] == "completed"
        assert [e["epoch"] for e in record["epochs"]] == [1, 2, 3, 4]  # each epoch exactly once
        assert len(record["steps"]["loss"]) == 4 * record["steps_per_epoch"]


@pytest.mark.slow
def test_sigterm_ends_the_sweep_cleanly_and_the_rerun_resumes(tmp_path):
    proc = start_sweep(tmp_path, "--jobs", "2")
    os.kill(proc.pid, signal.SIGTERM)  # the sweep's main process only: it stops its workers itself
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130
    assert stderr.strip().splitlines() == ["paddle-mnist: interrupted"]  # no traceback, no leaked semaphores
    time.sleep(1)
    if sys.platform.startswith("linux"):
        assert session_processes(proc.pid) == []  # every worker has ended
    runs = tmp_path / "sweep" / "runs"
    statuses = {d.name: json.loads((d / "record.json").read_text())["status"]
                for d in runs.iterdir() if (d / "record.json").exists()}
    assert "interrupted" in statuses.values() and set(statuses.values()) <= {"interrupted", "completed"}
    res = run_cli(*LONG, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert_every_run_once(runs)


@pytest.mark.slow
def test_one_compare_per_sweep_folder(tmp_path):
    first = start_sweep(tmp_path, "--jobs", "1")
    manifest = (tmp_path / "sweep" / "manifest.json").read_text()
    second = run_cli(*LONG, "--jobs", "1", cwd=tmp_path)
    assert second.returncode == 1
    assert f"--out sweep: another compare is running in this folder (pid {first.pid})" in one_line(second)
    assert (tmp_path / "sweep" / "manifest.json").read_text() == manifest
    assert first.poll() is None  # the owner goes on
    os.killpg(first.pid, signal.SIGKILL)  # the owner dies, and its lock with it
    first.wait(timeout=30)
    res = run_cli(*LONG, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert_every_run_once(tmp_path / "sweep" / "runs")


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


@pytest.mark.long
def test_real_digits_adam_reaches_96_percent(course_comparison):
    adam = [r for r in course_comparison if r["config"]["optimizer"] == "adam"]
    assert len(adam) == 3
    for r in adam:  # the check: Adam, lr 0.01, 3 epochs: at least 96 % (every seed)
        assert r["status"] == "completed" and r["eval"]["acc"] >= 0.96, (r["name"], r["eval"])


@pytest.mark.long
def test_real_digits_land_in_the_course_order(course_comparison):
    """SGD < Momentum < AdaGrad and Adam (the course measured 90.8, 96.1, 97.2, 97.4 %)."""
    acc = {}
    for r in course_comparison:
        acc.setdefault(r["config"]["optimizer"], []).append(r["eval"]["acc"])
    mean = {name: sum(v) / len(v) for name, v in acc.items()}
    print(mean)
    assert all(len(v) == 3 for v in acc.values())
    assert mean["sgd"] < mean["momentum"] < min(mean["adagrad"], mean["adam"]), mean


@pytest.mark.slow
def test_compare_hessian_measures_every_run_of_the_sweep(tmp_path, capsys):
    from paddle_mnist.cli import main

    out = tmp_path / "sweep"
    code = main(["compare", "--data", "synthetic", "--model", "linear", "--optimizers", "sgd,adam", "--lrs", "0.1",
                 "--epochs", "1", "--jobs", "1", "--no-plot", "--quiet", "--hessian", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    table = json.loads((out / "hessian.json").read_text())
    assert sorted(r["run"] for r in table["rows"]) == ["adam-lr0.1", "sgd-lr0.1"]
    assert all(r["lambda_max"] > 0 and r["verdict"] == "minimum" for r in table["rows"])  # a convex model
    assert (out / "sharpness.png").stat().st_size > 0
    assert "sharpness.png" in capsys.readouterr().out


@pytest.mark.slow
def test_summary_carries_lambda_max_and_verdict_of_a_hessian_sweep(tmp_path, capsys):
    """compare --hessian measures before it plots, so the summary has λmax and the verdict; `plot`
    reads them from SWEEP_DIR/hessian.json again, and drops a row that no longer fits its run."""
    from paddle_mnist.cli import main

    out = tmp_path / "sweep"
    code = main(["compare", "--data", "synthetic", "--model", "linear", "--optimizers", "sgd,adam", "--lrs", "0.1",
                 "--epochs", "1", "--jobs", "1", "--quiet", "--hessian", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    lam = {r["run"]: r["lambda_max"] for r in json.loads((out / "hessian.json").read_text())["rows"]}
    with open(out / "summary.csv") as f:
        rows = {r["name"]: r for r in csv.DictReader(f)}
    assert {name: float(r["lambda_max"]) for name, r in rows.items()} == lam
    assert {r["verdict"] for r in rows.values()} == {"minimum"}
    md = (out / "summary.md").read_text()
    assert "| λmax | verdict |" in md and f"{lam['sgd-lr0.1']:.4f} | minimum |" in md
    assert "λmax" in capsys.readouterr().out  # the printed summary too

    table = json.loads((out / "hessian.json").read_text())
    table["rows"] = [dict(r, epochs=5) if r["run"] == "sgd-lr0.1" else r for r in table["rows"]]
    (out / "hessian.json").write_text(json.dumps(table))  # as if sgd had been trained further since
    assert main(["plot", str(out)]) == 0
    with open(out / "summary.csv") as f:
        rows = {r["name"]: r for r in csv.DictReader(f)}
    assert rows["sgd-lr0.1"]["lambda_max"] == "" and float(rows["adam-lr0.1"]["lambda_max"]) == lam["adam-lr0.1"]

    (out / "hessian.json").write_text("{not json")
    assert main(["plot", str(out)]) == 1
    assert "hessian.json: not a hessian sweep table" in capsys.readouterr().err
