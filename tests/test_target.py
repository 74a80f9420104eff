"""Time to target: the step, images and seconds at which a run first reached a target, read from
its record; a summary column (mean over seeds) and the time_to_target figure."""

import csv
import json
import os

import numpy as np
import pytest

from paddle_mnist.analysis.summary import summary_markdown, summary_rows
from paddle_mnist.analysis.target import DEFAULT_TARGET, parse_target, time_to_target
from paddle_mnist.core.errors import ConfigError
from conftest import run_cli


def record(losses, valid_acc, train_seconds, name="sgd-lr0.1", seed=0):
    """A finished record: 4 steps an epoch, batch 100, 350 training images (the last batch 50)."""
    return {"schema": "paddle_mnist.run/1", "name": name, "status": "completed",
            "config": {"optimizer": "sgd", "lr": 0.1, "batch_size": 100, "seed": seed, "epochs": len(valid_acc)},
            "config_id": name, "data": {"sizes": {"train": 350, "valid": 100, "eval": 100}, "sha256": "x"},
            "fairness": None, "steps_per_epoch": 4, "steps": {"loss": losses, "lr": [0.1] * len(losses)},
            "epochs": [{"epoch": i + 1, "train_loss": 1.0, "train_acc": 0.5, "valid_loss": 1.0, "valid_acc": a,
                        "lr": 0.1, "seconds": t + 1.0, "train_seconds": t}
                       for i, (a, t) in enumerate(zip(valid_acc, train_seconds))],
            "best": {"epoch": len(valid_acc), "valid_acc": valid_acc[-1]}, "eval": {"loss": 1.0, "acc": 0.7},
            "divergence": None, "timing": {"wall_seconds": 9.0, "train_seconds": sum(train_seconds),
                                           "images_per_second": 100.0}}


LOSSES = [2.0, 2.0, 2.0, 2.0, 1.0, 0.5, 0.5, 0.2]  # means of 4 steps: 2, 1.75, 1.375, 1.0 (steps 4-7), 0.55


def test_time_to_target_reads_the_record_exactly():
    r = record(LOSSES, [0.5, 0.8], [2.0, 4.0])
    # train loss: the mean of the last 4 steps (one epoch here) first <= 1.0 after step 7;
    # 7 steps = one epoch (350 images) + 3 batches of 100; seconds: 2.0 + 3/4 of 4.0
    assert time_to_target(r, "train_loss=1") == {"step": 7, "images": 650, "seconds": 5.0}
    assert time_to_target(r, "train_loss=0.1") is None  # never
    # validation: at the end of the epoch that reached it
    assert time_to_target(r, "valid_acc=0.8") == {"step": 8, "images": 700, "seconds": 6.0}
    assert time_to_target(r, "valid_acc=0.5") == {"step": 4, "images": 350, "seconds": 2.0}
    assert time_to_target(r, "valid_acc=0.81") is None
    # a lucky single batch (0.2 at step 8 alone) does not count; a non-finite loss (None) never does
    assert time_to_target(record([2.0, 0.0, None, 0.0] + [2.0] * 4, [0.1, 0.1], [1.0, 1.0]), "train_loss=1") is None


def test_summary_means_over_seeds_and_says_never():
    runs = [record(LOSSES, [0.5, 0.8], [2.0, 4.0], "s0", 0), record(LOSSES, [0.5, 0.85], [4.0, 8.0], "s1", 1)]
    rows = summary_rows(runs, target="valid_acc=0.8")
    assert [(r["target_step"], r["target_images"], r["target_seconds"]) for r in rows] == [(8, 700, 6.0),
                                                                                         (8, 700, 12.0)]
    text = summary_markdown(rows)
    assert "| to valid_acc ≥ 0.8 |" in text
    assert "8 steps · 700 images · 9.0 s |" in text  # the best lr's mean over both seeds
    text = summary_markdown(summary_rows(runs, target="valid_acc=0.84"))
    assert "8 steps · 700 images · 12.0 s (1 of 2 seeds; the others never)" in text
    assert "| never |" in text  # seed 0's row in the table of all runs


@pytest.mark.parametrize("bad", ["valid_acc", "acc=0.9", "valid_acc=97", "train_loss=-1", "train_loss=nan"])
def test_a_bad_target_names_the_flag(bad):
    with pytest.raises(ConfigError, match="--target"):
        parse_target(bad)
    assert parse_target(DEFAULT_TARGET)["text"] == "train_loss ≤ 0.1"


def smoothed_first_step(losses, window, value):
    """The test's own reading of the rule: the first step whose last `window` losses average <= value."""
    for step in range(window, len(losses) + 1):
        chunk = losses[step - window:step]
        if None not in chunk and sum(chunk) / window <= value:
            return step
    return None


@pytest.mark.slow
def test_a_sweep_summary_matches_its_records(tmp_path):
    out = tmp_path / "sweep"
    proc = run_cli("compare", "--optimizers", "sgd,adam", "--lrs", "0.1", "--epochs", "2", "--data", "synthetic",
                   "--out", out, "--jobs", "2", "--quiet", "--target", "train_loss=2.0", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "| to train_loss ≤ 2 |" in proc.stdout and (out / "time_to_target.png").exists()
    proc = run_cli("plot", out, "--target", "valid_acc=0.3", cwd=tmp_path)  # redrawn with another target
    assert proc.returncode == 0, proc.stderr
    with open(out / "summary.csv", newline="") as f:
        rows = {r["name"]: r for r in csv.DictReader(f)}
    assert len(rows) == 2
    for name, row in rows.items():
        rec = json.loads((out / "runs" / name / "record.json").read_text())
        spe, n_train = rec["steps_per_epoch"], rec["data"]["sizes"]["train"]
        reached = [e["epoch"] for e in rec["epochs"] if e["valid_acc"] >= 0.3]
        assert row["target"] == "valid_acc ≥ 0.3"
        if not reached:
            assert row["target_step"] == row["target_images"] == row["target_seconds"] == ""
            continue
        epoch = reached[0]
        assert int(row["target_step"]) == epoch * spe
        assert int(row["target_images"]) == epoch * n_train
        seconds = sum(e["train_seconds"] for e in rec["epochs"][:epoch])
        assert float(row["target_seconds"]) == pytest.approx(seconds, rel=1e-12)
    # the train-loss target of the first command, checked against the steps of one record
    rec = json.loads((out / "runs" / "sgd-lr0.1" / "record.json").read_text())
    window = min(50, rec["steps_per_epoch"])
    step = smoothed_first_step(rec["steps"]["loss"], window, 2.0)
    got = time_to_target(rec, "train_loss=2.0")
    assert (got and got["step"]) == step
    if step:
        spe = rec["steps_per_epoch"]
        whole, part = divmod(step, spe)
        times = [e["train_seconds"] for e in rec["epochs"]]
        assert got["seconds"] == pytest.approx(sum(times[:whole]) + (times[whole] * part / spe if part else 0))
    assert os.path.getsize(out / "time_to_target.png") > 10_000
    assert np.isfinite(float(rows["sgd-lr0.1"]["seconds"]))
