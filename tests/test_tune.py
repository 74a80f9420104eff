"""`tune`: the expected-best formula (against brute force), the lr draws, bad input, a real CLI run on
synthetic digits (tune.json, the table against the records, plot DIR) and kill-then-rerun."""

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli, run_notebook

from paddle_mnist.cli import main
from paddle_mnist.core.config import TrainConfig, config_id
from paddle_mnist.core.errors import ConfigError
from paddle_mnist.core.optim import OPTIMIZERS
from paddle_mnist.runners.train import train
from paddle_mnist.runners.tune import (choose_lr, course_runs, expected_best, expected_best_curve, lr_ranges,
                                 sample_lrs)

NOTEBOOK = Path(__file__).resolve().parents[1] / "tools" / "notebooks" / "tuning.ipynb"
TUNE_ARGS = ["tune", "--optimizers", "sgd,adam", "--budget", "3", "--epochs", "1", "--final-seeds", "2",
             "--data", "synthetic", "--quiet"]


def brute_force(values, k):
    """Mean and std of max over every k-subset of the positions (ties are distinct trials)."""
    maxima = [max(values[i] for i in subset) for subset in itertools.combinations(range(len(values)), k)]
    return float(np.mean(maxima)), float(np.std(maxima))


@pytest.mark.parametrize("values", [
    [0.5, 0.9, 0.1, 0.7],
    [0.5, 0.5, 0.9, 0.1, 0.9],          # ties, at the top too
    [0.1, 0.1, 0.1, 0.1],               # everything diverged: all chance
    [0.97, 0.1, 0.96, 0.97, 0.1, 0.3, 0.97],
    [0.42],
])
def test_expected_best_equals_brute_force(values):
    for k in range(1, len(values) + 1):
        mean, std = expected_best(values, k)
        want_mean, want_std = brute_force(values, k)
        assert mean == pytest.approx(want_mean, abs=1e-12)
        assert std == pytest.approx(want_std, abs=1e-12)


def test_expected_best_random_values_with_ties():
    rng = np.random.default_rng(3)
    for _ in range(20):
        values = list(np.round(rng.uniform(0, 1, size=rng.integers(2, 9)), 1))  # 1 decimal: many ties
        for k in range(1, len(values) + 1):
            assert expected_best(values, k) == pytest.approx(brute_force(values, k), abs=1e-12)


def test_curve_starts_at_the_mean_ends_at_the_max_and_never_decreases():
    values = [0.1, 0.93, 0.55, 0.93, 0.2, 0.1, 0.81, 0.6]
    curve = expected_best_curve(values)
    assert [c["k"] for c in curve] == list(range(1, 9))
    assert curve[0]["mean"] == pytest.approx(np.mean(values))
    assert curve[0]["std"] == pytest.approx(np.std(values))
    assert curve[-1]["mean"] == pytest.approx(0.93) and curve[-1]["std"] == pytest.approx(0.0)
    means = [c["mean"] for c in curve]
    assert all(b >= a - 1e-15 for a, b in zip(means, means[1:]))
    with pytest.raises(ValueError):
        expected_best(values, 9)


def test_same_seed_same_lrs_and_the_same_number_for_every_optimizer():
    ranges = lr_ranges("1e-5:10,adam=1e-5:1e-1", ["sgd", "momentum", "adam"])
    assert ranges == {"sgd": (1e-5, 10.0), "momentum": (1e-5, 10.0), "adam": (1e-5, 0.1)}
    a, b = sample_lrs(ranges, 6, seed=7), sample_lrs(ranges, 6, seed=7)
    assert a == b
    assert sample_lrs(ranges, 6, seed=8) != a
    assert {n: len(v) for n, v in a.items()} == {"sgd": 6, "momentum": 6, "adam": 6}
    assert a["sgd"] == a["momentum"]  # one range: the very same lrs
    for name, lrs in a.items():
        lo, hi = ranges[name]
        assert lrs == sorted(set(lrs)) and all(lo <= lr <= hi for lr in lrs)
        assert all(float(f"{lr:.3g}") == lr for lr in lrs)
    # a larger budget with the same seed keeps the earlier draws (their runs are reused)
    assert set(a["sgd"]) <= set(sample_lrs(ranges, 9, seed=7)["sgd"])


def test_draws_are_log_uniform():
    lrs = sample_lrs({"sgd": (1e-5, 10.0)}, 3000, seed=0)["sgd"]
    decades = np.histogram(np.log10(lrs), bins=6, range=(-5, 1))[0]
    assert decades.min() > 400 and decades.max() < 600  # ~500 per decade


def test_chosen_lr_is_the_best_trial_and_a_tie_avoids_divergence():
    trials = [{"lr": 1.0, "status": "diverged", "valid_acc": 0.1},
              {"lr": 1e-5, "status": "completed", "valid_acc": 0.1},
              {"lr": 0.01, "status": "completed", "valid_acc": 0.9},
              {"lr": 0.1, "status": "completed", "valid_acc": 0.9}]
    assert choose_lr(trials) == 0.01  # tie at 0.9: the lower lr
    assert choose_lr(trials[:2]) == 1e-5  # tie at chance: the run that did not diverge


def test_course_runs_match_only_the_same_setup():
    base = TrainConfig(epochs=1, data="synthetic", seed=0)

    def record(**changes):
        c = TrainConfig(**dict(asdict(base), **changes))
        return {"config": asdict(c), "config_id": config_id(c), "status": "completed", "data": {"sha256": "x"}}

    reference = record(optimizer="adam", lr=0.003)
    candidates = [record(optimizer="sgd", lr=0.01), record(optimizer="sgd", lr=0.01, seed=4),
                  record(optimizer="sgd", lr=0.01, batch_size=50), record(optimizer="sgd", lr=0.02),
                  record(optimizer="adam", lr=0.01), dict(record(optimizer="sgd", lr=0.01, seed=5), status="running")]
    found = course_runs(candidates, reference, "sgd")
    assert [r["config"]["seed"] for r in found] == [0, 4]  # not batch 50, not lr 0.02, not adam, not unfinished


@pytest.mark.parametrize("args, message", [
    (["--budget", "0"], "--budget must be a positive integer, not 0"),
    (["--lr-range", "1:0.1"], "--lr-range: 1:0.1 is inverted"),
    (["--lr-range", "0:1"], "--lr-range: learning rates must be positive numbers, not 0:1"),
    (["--lr-range=-1e-3:1"], "--lr-range: learning rates must be positive"),
    (["--lr-range", "adam=1e-2:1e-4"], "--lr-range: adam=0.01:0.0001 is inverted"),
    (["--lr-range", "fast"], "--lr-range expects LO:HI"),
    (["--optimizers", "sgd,adamm"], "--optimizers 'adamm' is unknown"),
    (["--final-seeds", "0"], "--final-seeds must be a positive integer, not 0"),
    (["--course-runs", "nowhere"], "--course-runs nowhere: no such directory"),
])
def test_bad_input_is_one_line_naming_the_flag(tmp_path, capsys, args, message):
    out = tmp_path / "tune"
    code = main([*TUNE_ARGS, "--out", str(out), *args])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("paddle-mnist: error: ") and message in err and err.count("\n") == 1
    assert not out.exists()  # refused before anything was written


def test_an_optimizer_this_paddle_lacks_is_refused(tmp_path, capsys):
    missing = [n for n, spec in OPTIMIZERS.items() if not spec.available]
    if not missing:
        pytest.skip("every optimizer of the table is in this Paddle")
    code = main([*TUNE_ARGS, "--out", str(tmp_path / "t"), "--optimizers", f"sgd,{missing[0]}"])
    err = capsys.readouterr().err
    assert code == 1 and f"--optimizers {missing[0]!r} needs Paddle >=" in err


def test_lr_range_names_only_optimizers_being_tuned():
    with pytest.raises(ConfigError, match="rmsprop is not one of the optimizers being tuned"):
        lr_ranges("rmsprop=1e-4:1", ["sgd", "adam"])


def _records(folder):
    return {d.name: json.loads((d / "record.json").read_text()) for d in sorted((folder / "runs").iterdir())}


@pytest.mark.slow
def test_end_to_end_on_synthetic_digits(tmp_path):
    # a run at the course's lr 0.01, set up like the trials: the table puts it beside the tuned sgd
    course = train(TrainConfig(optimizer="sgd", lr=0.01, epochs=1, seed=0, data="synthetic",
                               out=str(tmp_path / "course" / "sgd")), progress=False)
    res = run_cli(*TUNE_ARGS, "--jobs", "1", "--out", "tune", "--course-runs", "course", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    out = tmp_path / "tune"
    result = json.loads((out / "tune.json").read_text())
    assert set(result) == {"schema", "settings", "optimizers", "table"}
    assert result["settings"]["budget"] == 3 and result["settings"]["final_seeds"] == [1, 2]
    assert list(result["optimizers"]) == ["sgd", "adam"]
    trials, finals = _records(out / "trials"), _records(out / "final")
    assert len(trials) == 6 and len(finals) == 4
    assert len({json.dumps(r["fairness"], sort_keys=True) for r in trials.values()}) == 1  # same weights, batches
    for name, entry in result["optimizers"].items():
        assert set(entry) == {"trials", "expected_best", "chosen_lr", "final"}
        assert len(entry["trials"]) == 3
        for t in entry["trials"]:
            assert set(t) == {"lr", "status", "valid_acc", "run"}
            record = json.loads((out / t["run"] / "record.json").read_text())
            assert record["config"]["optimizer"] == name and record["config"]["lr"] == t["lr"]
            assert t["valid_acc"] == (0.1 if record["status"] == "diverged" else record["epochs"][-1]["valid_acc"])
        values = [t["valid_acc"] for t in entry["trials"]]
        assert entry["expected_best"] == expected_best_curve(values)  # JSON keeps floats exactly
        assert entry["chosen_lr"] == choose_lr(entry["trials"])
        assert [f["seed"] for f in entry["final"]] == [1, 2]
    # the table is what the final runs' records say
    for row in result["table"]:
        records = [r for r in finals.values() if r["config"]["optimizer"] == row["optimizer"]]
        assert {r["config"]["lr"] for r in records} == {result["optimizers"][row["optimizer"]]["chosen_lr"]}
        accs = [r["eval"]["acc"] for r in records]
        assert row["mean"] == pytest.approx(np.mean(accs)) and row["std"] == pytest.approx(np.std(accs))
        assert [f["eval_acc"] for f in result["optimizers"][row["optimizer"]]["final"]] == accs
        assert f"{100 * np.mean(accs):.2f} ± {100 * np.std(accs):.2f} %" in res.stdout
    sgd, adam = result["table"]
    assert sgd["course"]["mean"] == course["eval"]["acc"] and sgd["course"]["seeds"] == [0]
    assert adam["course"] is None and "not run" in res.stdout
    for name in ("expected_best.png", "lr_sensitivity.png", "tune.md"):
        assert (out / name).stat().st_size > 0

    # figures come back from tune.json (+ the trial records) alone: `paddle-mnist plot DIR`
    for name in ("expected_best.png", "lr_sensitivity.png", "tune.md"):
        (out / name).unlink()
    res = run_cli("plot", "tune", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert (out / "expected_best.png").exists() and (out / "lr_sensitivity.png").exists()
    assert (out / "tune.md").read_text() in res.stdout

    # the same command again: nothing runs
    mtimes = {p: p.stat().st_mtime_ns for p in out.glob("*/runs/*/record.json")}
    res = run_cli(*TUNE_ARGS, "--jobs", "1", "--out", "tune", "--course-runs", "course", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "10 finished run(s) skipped" in res.stdout
    assert {p: p.stat().st_mtime_ns for p in out.glob("*/runs/*/record.json")} == mtimes
    assert json.loads((out / "tune.json").read_text()) == result


@pytest.mark.slow
def test_sigkill_mid_tune_then_rerun_runs_nothing_twice(tmp_path):
    args = [*TUNE_ARGS, "--jobs", "2", "--out", "tune", "--no-plot"]
    proc = subprocess.Popen([sys.executable, "-m", "paddle_mnist", *args], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    runs = tmp_path / "tune" / "trials" / "runs"

    def finished():
        done = []
        for path in runs.glob("*/record.json") if runs.exists() else []:
            try:
                if json.loads(path.read_text())["status"] == "completed":
                    done.append(path)
            except (ValueError, OSError):
                pass
        return done

    deadline = time.time() + 300
    while len(finished()) < 2 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)  # the tune's main process only: its workers die with it
    proc.wait(timeout=30)
    time.sleep(2)  # no orphan worker goes on writing after the kill
    done = {p: (p.stat().st_mtime_ns, json.loads(p.read_text())["timing"]) for p in finished()}
    assert len(done) >= 2
    assert not (tmp_path / "tune" / "final").exists()  # killed while the trials were running

    res = run_cli(*args, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert f"{len(done)} finished run(s) skipped" in res.stdout
    for path, (mtime, timing) in done.items():  # finished runs were not trained again
        assert path.stat().st_mtime_ns == mtime and json.loads(path.read_text())["timing"] == timing
    out = tmp_path / "tune"
    records = {**_records(out / "trials"), **{"final/" + k: v for k, v in _records(out / "final").items()}}
    assert len(records) == 6 + 4
    for record in records.values():  # every step of every run recorded exactly once
        assert record["status"] == "completed"
        assert len(record["steps"]["loss"]) == record["steps_per_epoch"] * len(record["epochs"]) == 10
    result = json.loads((out / "tune.json").read_text())
    assert all(len(e["trials"]) == 3 and len(e["final"]) == 2 for e in result["optimizers"].values())


@pytest.mark.slow  # a notebook in a fresh kernel
def test_notebook_runs_headless_on_synthetic_digits(tmp_path, monkeypatch):
    (tmp_path / "work").mkdir()  # the notebook writes into ROOT/work/notebook/tune
    for key, value in {"DATA": "synthetic", "EPOCHS": "1", "BUDGET": "3", "SEEDS": "2",
                       "OPTIMIZERS": "sgd,adam"}.items():
        monkeypatch.setenv(f"PADDLE_MNIST_NOTEBOOK_{key}", value)
    outputs = run_notebook(NOTEBOOK, tmp_path)  # raises CellExecutionError if any cell fails
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "data: synthetic" in text
    assert text.count("matches brute force") == 3
    assert sum("image/png" in o.get("data", {}) for o in outputs) == 2  # expected best, lr sensitivity
    assert any("eval acc at tuned lr (2 seeds)" in o.get("data", {}).get("text/markdown", "") for o in outputs)
    result = json.loads((tmp_path / "work" / "notebook" / "tune" / "tune.json").read_text())
    assert [len(e["trials"]) for e in result["optimizers"].values()] == [3, 3]
