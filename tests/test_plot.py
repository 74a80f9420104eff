"""Tests for paddle_mnist.analysis: figures, summary table and `paddle-mnist plot`, from synthetic records.

Nothing here trains: the records are built by hand (exponential-decay loss curves with noise, one
diverged run) and written with the real save_record.
"""

import csv
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from paddle_mnist.core.errors import ConfigError, DataError
from paddle_mnist.analysis.style import dodge
from paddle_mnist.analysis import (FairnessWarning, figure_epochs, figure_loss_by_optimizer, figure_lr_sensitivity,
                                   plot, running_mean, summary_markdown, summary_rows)
from paddle_mnist.schemas.run import SCHEMA, save_record

REPO = Path(__file__).resolve().parents[1]
DATA_SHA = "ab12" * 16
# the learning rate each optimizer likes best in the synthetic curves (log10)
SWEET_SPOT = {"sgd": -1.0, "momentum": -2.0, "adam": -2.5}


def make_record(optimizer="adam", lr=0.01, *, seed=0, batch_size=100, epochs=3, diverge_at=None,
                data_sha=DATA_SHA, data_path="work/mnist.json.gz", init_hash=None, n_train=5000, **config):
    """A run record following paddle_mnist.run/1, with a made-up but plausible loss curve."""
    spe = math.ceil(n_train / batch_size)
    n_steps = spe * epochs
    rng = np.random.default_rng([seed, int(-math.log10(lr) * 100), len(optimizer), batch_size])
    speed = 0.04 * math.exp(-abs(math.log10(lr) - SWEET_SPOT.get(optimizer, -2.0)) + rng.normal(0, 0.2))
    floor = 0.05 + 0.3 * (1 - math.exp(-abs(math.log10(lr) - SWEET_SPOT.get(optimizer, -2.0))))
    steps = np.arange(n_steps)
    loss = floor + (2.3 - floor) * np.exp(-speed * steps)
    loss = loss * np.exp(rng.normal(0, 0.15, n_steps))
    status, divergence, ev, done = "completed", None, None, epochs
    if diverge_at is not None:
        loss[diverge_at - 8:diverge_at] = 2.3 * 10.0 ** np.arange(1, 9)  # blows up, then NaN
        loss = loss[:diverge_at + 1]
        loss[diverge_at] = np.nan
        status, divergence = "diverged", {"step": diverge_at + 1, "reason": "loss is NaN"}
        done = diverge_at // spe
    epoch_rows = []
    for e in range(done):
        part = loss[e * spe:(e + 1) * spe]
        train_loss = float(np.mean(part))
        valid_loss = round(train_loss * 1.1 + rng.normal(0, 0.005), 6)
        epoch_rows.append({"epoch": e + 1, "train_loss": train_loss,
                           "train_acc": round(1 - train_loss / 2.6, 4),
                           "valid_loss": valid_loss, "valid_acc": round(1 - valid_loss / 2.6, 4),
                           "lr": lr, "seconds": 1.5})
    if status == "completed":
        ev = {"loss": epoch_rows[-1]["valid_loss"] * 1.02, "acc": epoch_rows[-1]["valid_acc"] - 0.003}
    name = f"{optimizer}-lr{lr:g}-s{seed}" + (f"-bs{batch_size}" if batch_size != 100 else "")
    cfg = {"model": "cnn", "optimizer": optimizer, "lr": lr, "epochs": epochs, "batch_size": batch_size,
           "seed": seed, "schedule": "constant", "warmup_steps": 0, "loss": "cross_entropy",
           "weight_decay": 0.0, "grad_clip": None, "opt_args": {}, "schedule_args": {}, "lr_groups": {},
           "patience": None, "data": data_path, "out": f"work/runs/{name}", "device": "cpu",
           "threads": 1, "resume": False, "visualdl": None, "wandb": None}
    cfg.update(config)
    return {
        "schema": SCHEMA, "name": name, "status": status, "config": cfg, "config_id": "0" * 16,
        "data": {"path": data_path, "sha256": data_sha,
                 "sizes": {"train": n_train, "valid": 5000, "eval": 5000},
                 "pixel_range": "0..1", "synthetic": False, "source": data_path},
        "fairness": {"init_weights_sha256": init_hash or f"init-{cfg['model']}-{seed}",
                     "batch_order_sha256": f"order-{seed}-{batch_size}-{epochs}"},
        "environment": {"paddle": "3.3.1", "python": "3.11", "numpy": "2", "device": "cpu", "threads": 1,
                        "platform": "test"},
        "steps_per_epoch": spe,
        "steps": {"loss": [None if not math.isfinite(x) else float(x) for x in loss],
                  "lr": [lr] * len(loss)},
        "epochs": epoch_rows,
        "best": ({"epoch": done, "valid_acc": epoch_rows[-1]["valid_acc"]} if epoch_rows else None),
        "eval": ev,
        "divergence": divergence,
        "timing": {"wall_seconds": 4.5 * epochs + lr, "train_seconds": 4.0 * epochs,
                   "images_per_second": 900.0},
    }


def write_sweep(directory, records):
    """The layout `compare --out DIR` writes: DIR/manifest.json and DIR/runs/<name>/record.json."""
    for r in records:
        save_record(os.path.join(directory, "runs", r["name"]), r)
    return str(directory)


def sweep_records(seeds=(0,)):
    """sgd and adam at four learning rates; adam at lr 1 diverges in epoch 1."""
    records = []
    for seed in seeds:
        for opt in ("sgd", "adam"):
            for lr in (0.001, 0.01, 0.1, 1.0):
                diverge = 30 if (opt, lr) == ("adam", 1.0) else None
                records.append(make_record(opt, lr, seed=seed, diverge_at=diverge))
    return records


def check_image(path, min_size=(600, 400)):
    """A real picture: big enough, many colours, not one flat colour."""
    with Image.open(path) as im:
        assert im.size[0] >= min_size[0] and im.size[1] >= min_size[1], im.size
        rgb = np.asarray(im.convert("RGB")).astype(np.int64)
    assert rgb.std() > 20, f"{path} looks blank (pixel std {rgb.std():.1f})"
    colours = len(np.unique(rgb[..., 0] << 16 | rgb[..., 1] << 8 | rgb[..., 2]))
    assert colours > 100, f"{path} has only {colours} distinct colours"


def diverged_markers(fig):
    """x positions of the diverged-run markers drawn in a figure."""
    return sorted(float(x) for ax in fig.axes for line in ax.lines if line.get_gid() == "diverged"
                  for x in line.get_xdata())


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def number(text):
    return None if text == "" else float(text)


# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """One plotted sweep shared by the tests that only read its output."""
    directory = write_sweep(tmp_path_factory.mktemp("sweep"), sweep_records())
    return directory, plot(directory)


@pytest.mark.slow
def test_sweep_writes_the_four_figures_and_the_summary(sweep):
    directory, result = sweep
    names = ["loss_by_optimizer", "loss_by_lr", "lr_sensitivity", "epochs"]
    assert sorted(result["figures"]) == sorted(names)
    assert "seeds" in result["skipped"] and "single seed" in result["skipped"]["seeds"]
    for name in names:
        path = os.path.join(directory, f"{name}.png")
        assert path in result["files"]
        check_image(path)
    for name in ("summary.md", "summary.csv"):
        assert os.path.getsize(os.path.join(directory, name)) > 200
    # only the final files: no temp files left behind by the atomic writes
    assert not [f for f in os.listdir(directory) if f.endswith(".tmp")]


def test_loss_panels_follow_optimizers_and_learning_rates(sweep):
    _, result = sweep
    by_opt = result["figures"]["loss_by_optimizer"]
    titles = [ax.get_title() for ax in by_opt.axes if ax.get_visible() and ax.get_title()]
    assert titles == ["sgd", "adam"]
    labels = [line.get_label() for line in by_opt.axes[0].lines if not line.get_label().startswith("_")]
    assert labels == ["lr=0.001", "lr=0.01", "lr=0.1", "lr=1"]
    assert by_opt.axes[0].get_yscale() == "log"
    assert by_opt.axes[0].get_xlabel() == "Optimizer step"  # one row: every panel is a bottom panel
    by_lr = result["figures"]["loss_by_lr"]
    titles = [ax.get_title() for ax in by_lr.axes if ax.get_title()]
    assert titles == ["Learning rate 0.001", "Learning rate 0.01", "Learning rate 0.1", "Learning rate 1"]
    # same colour for an optimizer in every panel
    colours = {line.get_label(): line.get_color() for ax in by_lr.axes for line in ax.lines
               if not line.get_label().startswith("_")}
    assert colours["sgd"] != colours["adam"]
    for ax in by_lr.axes:
        for line in ax.lines:
            if line.get_label() == "sgd":
                assert line.get_color() == colours["sgd"]


def test_smoothed_line_is_the_running_mean_of_the_raw_one(tmp_path):
    record = make_record("sgd", 0.1)
    result = plot([record], smooth=5)
    ax = result["figures"]["loss_by_optimizer"].axes[0]
    raw, smooth = [line for line in ax.lines if line.get_gid() is None][:2]
    losses = np.array(record["steps"]["loss"])
    np.testing.assert_allclose(raw.get_ydata(), losses)
    np.testing.assert_allclose(smooth.get_ydata()[10], losses[8:13].mean())


def test_running_mean():
    x = np.array([1.0, 2.0, 3.0, 4.0, np.nan, np.nan])
    out = running_mean(x, 3)
    np.testing.assert_allclose(out[:4], [1.5, 2.0, 3.0, 3.5])
    assert np.isnan(out[4:]).all()  # a diverged tail stays missing
    np.testing.assert_allclose(running_mean(np.full(20, 0.7), 6), 0.7)
    np.testing.assert_array_equal(running_mean(x, 1)[:4], x[:4])


def test_diverged_run_is_marked_and_never_best(sweep):
    directory, result = sweep
    sens = result["figures"]["lr_sensitivity"]
    assert diverged_markers(sens) == [1.0, 1.0]  # accuracy and loss panels, at adam's lr 1
    assert diverged_markers(result["figures"]["loss_by_optimizer"]) == [30.0]  # last finite step
    legend = [t.get_text() for t in sens.legends[0].get_texts()]
    assert any(t.startswith("diverged") for t in legend)
    rows = {r["name"]: r for r in read_csv(os.path.join(directory, "summary.csv"))}
    assert rows["adam-lr1-s0"]["status"] == "diverged"
    assert rows["adam-lr1-s0"]["valid_acc"] == "" and rows["adam-lr1-s0"]["eval_acc"] == ""
    assert rows["adam-lr1-s0"]["best"] == ""


def test_sensitivity_points_are_the_final_valid_numbers(sweep):
    _, result = sweep
    ax_acc, ax_loss = result["figures"]["lr_sensitivity"].axes[:2]
    records = {(r["config"]["optimizer"], r["config"]["lr"]): r for r in sweep_records()}
    assert ax_acc.get_xscale() == "log" and "Learning rate" in ax_acc.get_xlabel()
    assert ax_acc.get_ylabel() == "Final validation accuracy (%)"
    for ax, key, scale in ((ax_acc, "valid_acc", 100), (ax_loss, "valid_loss", 1)):
        lines = {line.get_label(): line for line in ax.lines if line.get_gid() != "diverged"}
        for i, opt in enumerate(("sgd", "adam")):
            lrs = [0.001, 0.01, 0.1, 1.0] if opt == "sgd" else [0.001, 0.01, 0.1]
            # each line a little to one side (style.dodge), so tied points of sgd and adam both show
            np.testing.assert_allclose(lines[opt].get_xdata(), dodge(lrs, i, 2))
            assert all(abs(np.log10(x / lr)) < 0.02 for x, lr in zip(lines[opt].get_xdata(), lrs))
            expected = [records[(opt, lr)]["epochs"][-1][key] * scale for lr in lrs]
            np.testing.assert_allclose(lines[opt].get_ydata(), expected)


def test_summary_csv_matches_the_records_exactly(sweep):
    directory, _ = sweep
    records = {r["name"]: r for r in sweep_records()}
    rows = read_csv(os.path.join(directory, "summary.csv"))
    assert sorted(r["name"] for r in rows) == sorted(records)
    for row in rows:
        rec = records[row["name"]]
        last = rec["epochs"][-1] if rec["epochs"] else {}
        assert row["optimizer"] == rec["config"]["optimizer"]
        assert float(row["lr"]) == rec["config"]["lr"]
        assert row["status"] == rec["status"]
        assert int(row["epochs_done"]) == len(rec["epochs"])
        assert number(row["train_loss"]) == last.get("train_loss")
        assert number(row["valid_loss"]) == last.get("valid_loss")
        assert number(row["valid_acc"]) == last.get("valid_acc")
        assert number(row["eval_acc"]) == (rec["eval"] or {}).get("acc")
        assert float(row["seconds"]) == rec["timing"]["wall_seconds"]


def test_best_learning_rate_per_optimizer(sweep):
    directory, result = sweep
    records = sweep_records()
    for opt in ("sgd", "adam"):
        done = [r for r in records if r["config"]["optimizer"] == opt and r["status"] == "completed"]
        expected = max(done, key=lambda r: r["epochs"][-1]["valid_acc"])["config"]["lr"]
        best = [r for r in result["summary"] if r["optimizer"] == opt and r["best"] == "yes"]
        assert [r["lr"] for r in best] == [expected]
    text = open(os.path.join(directory, "summary.md"), encoding="utf-8").read()
    assert text == summary_markdown(result["summary"])
    assert "## Best learning rate per optimizer" in text and "## All runs" in text
    best_sgd = next(r for r in result["summary"] if r["optimizer"] == "sgd" and r["best"])
    assert f"| sgd | {best_sgd['lr']:g} | {100 * best_sgd['valid_acc']:.2f}% |" in text
    assert "| adam-lr1-s0 | adam | 1 | **diverged** |" in text


def test_ties_in_accuracy_go_to_the_lower_valid_loss():
    a, b = make_record("sgd", 0.01), make_record("sgd", 0.1)
    for r, loss in ((a, 0.20), (b, 0.15)):
        r["epochs"][-1].update(valid_acc=0.95, valid_loss=loss)
    rows = summary_rows([a, b])
    assert [r["lr"] for r in rows if r["best"] == "yes"] == [0.1]


def test_every_run_diverged_gives_no_best():
    records = [make_record("adam", lr, diverge_at=20) for lr in (0.5, 1.0)]
    rows = summary_rows(records)
    assert not any(r["best"] for r in rows)
    assert "every run diverged" in summary_markdown(rows)


@pytest.mark.slow
def test_svg_and_pdf_on_request(tmp_path):
    directory = write_sweep(tmp_path, [make_record("sgd", 0.1)])
    result = plot(directory, formats=("png", "svg", "pdf"))
    for name in result["figures"]:
        assert (tmp_path / f"{name}.svg").read_text(encoding="utf-8").lstrip().startswith("<?xml")
        assert (tmp_path / f"{name}.pdf").read_bytes()[:5] == b"%PDF-"
        check_image(tmp_path / f"{name}.png")
    with pytest.raises(ConfigError, match="jpg"):
        plot(directory, formats="png,jpg")


def test_seeds_plot_only_with_several_seeds(tmp_path):
    records = [make_record(opt, lr, seed=seed, diverge_at=30 if lr == 1.0 else None)
               for seed in (0, 1, 2) for opt, lr in (("sgd", 0.01), ("sgd", 0.1), ("adam", 1.0))]
    result = plot(records)
    fig = result["figures"]["seeds"]
    fig.savefig(tmp_path / "seeds.png", format="png", dpi=120)
    check_image(tmp_path / "seeds.png")
    # one band per (optimizer, lr)
    assert sum(len(ax.collections) for ax in fig.axes) == 3
    # the other plots average the seeds: still one line per lr in each optimizer panel
    by_opt = result["figures"]["loss_by_optimizer"]
    labels = [line.get_label() for line in by_opt.axes[0].lines if not line.get_label().startswith("_")]
    assert labels == ["lr=0.01", "lr=0.1"]
    assert "mean of 3 seeds" in by_opt.legends[0].get_title().get_text()
    assert diverged_markers(result["figures"]["lr_sensitivity"]) == [1.0, 1.0]  # one per panel
    # the line is the mean of the seeds, each smoothed first; the band is ± their std
    ax = fig.axes[0]
    mean_line = next(line for line in ax.lines if line.get_label() == "lr=0.1")
    seed_runs = [r for r in records if r["config"]["optimizer"] == "sgd" and r["config"]["lr"] == 0.1]
    smoothed = np.array([running_mean(np.array(r["steps"]["loss"]), round(150 / 30)) for r in seed_runs])
    np.testing.assert_allclose(mean_line.get_ydata(), smoothed.mean(axis=0))
    band = ax.collections[1].get_paths()[0].vertices[:, 1]
    assert band.max() == pytest.approx((smoothed.mean(axis=0) + smoothed.std(axis=0)).max())
    assert len(result["summary"]) == 9 and {r["seed"] for r in result["summary"]} == {0, 1, 2}


def test_single_run_gives_loss_and_epoch_plots(tmp_path):
    save_record(str(tmp_path / "only"), make_record("momentum", 0.01))
    result = plot(str(tmp_path))
    assert sorted(result["figures"]) == ["epochs", "loss_by_optimizer"]
    assert set(result["skipped"]) == {"loss_by_lr", "lr_sensitivity", "seeds", "sharpness"}
    check_image(tmp_path / "loss_by_optimizer.png")
    check_image(tmp_path / "epochs.png")
    assert not (tmp_path / "lr_sensitivity.png").exists()
    # a figure left from an earlier, bigger set of runs is removed, not left looking current
    (tmp_path / "seeds.png").write_bytes(b"old")
    assert "removed the out-of-date seeds.png" in plot(str(tmp_path))["skipped"]["seeds"]
    assert not (tmp_path / "seeds.png").exists()
    epochs = result["figures"]["epochs"]
    assert [ax.get_ylabel() for ax in epochs.axes] == [
        "Training loss (log scale)", "Validation loss (log scale)",
        "Training accuracy (%)", "Validation accuracy (%)"]
    np.testing.assert_allclose(epochs.axes[3].lines[0].get_ydata(),
                               [100 * e["valid_acc"] for e in make_record("momentum", 0.01)["epochs"]])


def test_other_varying_axes_are_labelled_and_batch_sizes_use_epochs(tmp_path):
    records = [make_record("sgd", 0.1, batch_size=bs) for bs in (50, 100)]
    records += [make_record("adam", 0.001, batch_size=bs) for bs in (50, 100)]
    result = plot(records)
    ax = result["figures"]["loss_by_optimizer"].axes[-1]
    assert ax.get_xlabel().startswith("Epoch")
    lines = [line for line in result["figures"]["loss_by_optimizer"].axes[0].lines
             if not line.get_label().startswith("_")]
    assert [line.get_label() for line in lines] == ["lr=0.1, bs=50", "lr=0.1, bs=100"]
    assert lines[0].get_xdata()[-1] == pytest.approx(3.0) == lines[1].get_xdata()[-1]
    assert {r["batch_size"] for r in result["summary"]} == {50, 100}
    assert "| bs |" not in summary_markdown(result["summary"])  # full field name in tables
    assert "| optimizer | batch_size | best lr |" in summary_markdown(result["summary"])
    # each (optimizer, batch size) gets its own best lr
    assert sum(r["best"] == "yes" for r in result["summary"]) == 4


def test_dict_valued_fields_are_axes_too():
    records = [make_record("momentum", lr, opt_args={"momentum": m})
               for m in (0.5, 0.9) for lr in (0.01, 0.1)]
    result = plot(records)
    labels = [line.get_label() for line in result["figures"]["lr_sensitivity"].axes[0].lines]
    assert labels == ["momentum, momentum=0.5", "momentum, momentum=0.9"]
    assert {r["opt_args"] for r in result["summary"]} == {'{"momentum": 0.5}', '{"momentum": 0.9}'}
    assert sum(r["best"] == "yes" for r in result["summary"]) == 2  # one best lr per momentum value


def test_each_figure_from_records_or_a_folder(tmp_path):
    """The public figure functions take records or a folder, as plot() does, and draw the same figure."""
    records = [make_record("sgd", lr) for lr in (0.01, 0.1)]
    directory = write_sweep(tmp_path, records)
    drawn = plot(records)["figures"]

    def curves(fig):
        return [line.get_ydata() for ax in fig.axes for line in ax.lines]

    for name, figure in (("loss_by_optimizer", figure_loss_by_optimizer),
                         ("lr_sensitivity", figure_lr_sensitivity), ("epochs", figure_epochs)):
        for source in (records, directory):
            fig = figure(source)
            assert fig.get_suptitle() == drawn[name].get_suptitle()
            for a, b in zip(curves(fig), curves(drawn[name]), strict=True):
                np.testing.assert_array_equal(a, b)
    assert os.listdir(tmp_path) == ["runs"]  # drawing alone writes nothing


def test_records_list_without_out_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = plot(sweep_records()[:2])
    assert result["files"] == [] and os.listdir(tmp_path) == []
    fig = result["figures"]["loss_by_optimizer"]
    assert fig.get_size_inches()[0] >= 6
    assert fig._repr_png_()[:8] == b"\x89PNG\r\n\x1a\n"  # what Jupyter displays for a returned figure


def test_mixing_data_files_is_refused(tmp_path):
    records = [make_record("sgd", 0.1),
               make_record("adam", 0.01, data_sha="cd34" * 16, data_path="work/other.json.gz")]
    directory = write_sweep(tmp_path, records)
    with pytest.raises(DataError) as e:
        plot(directory)
    message = str(e.value)
    assert "work/mnist.json.gz" in message and "work/other.json.gz" in message
    assert "ab12ab12" in message and "cd34cd34" in message
    assert not (tmp_path / "loss_by_optimizer.png").exists()


def test_different_initial_weights_for_one_seed_warn(tmp_path):
    records = [make_record("sgd", 0.1), make_record("adam", 0.01, init_hash="something-else")]
    with pytest.warns(FairnessWarning, match="seed 0 started from different initial weights"):
        result = plot(records)
    assert len(result["warnings"]) == 1
    # different seeds may have different weights: no warning
    fine = plot([make_record("sgd", 0.1, seed=0), make_record("sgd", 0.1, seed=1)])
    assert fine["warnings"] == []


def test_malformed_records_are_data_errors(tmp_path):
    record = make_record()
    del record["config"]["lr"]
    with pytest.raises(DataError, match="adam-lr0.01-s0.*config.lr"):
        plot([record])
    record = make_record()
    record["steps"]["loss"][3] = "oops"
    save_record(str(tmp_path / "r"), record)
    with pytest.raises(DataError, match=f"{tmp_path}.*steps.loss"):
        plot(str(tmp_path))
    with pytest.raises(DataError, match="no run records"):
        plot([])
    with pytest.raises(ConfigError, match="--smooth"):
        plot([make_record()], smooth=-2)


# ---------------------------------------------------------------------------------------------
# command line


def cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "paddle_mnist", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)})


@pytest.mark.slow
def test_cli_end_to_end(tmp_path):
    write_sweep(tmp_path / "sweep", [make_record("adam", 0.01), make_record("adam", 1.0, diverge_at=30)])
    proc = cli("plot", "sweep", "--smooth", "3", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "## Best learning rate per optimizer" in proc.stdout
    assert "| adam | 0.01 |" in proc.stdout and "| adam-lr1-s0 | adam | 1 | **diverged** |" in proc.stdout
    assert "skipped seeds" in proc.stdout and "skipped loss_by_lr" in proc.stdout
    for name in ("loss_by_optimizer", "lr_sensitivity", "epochs"):
        assert f"wrote {os.path.join('sweep', name + '.png')}" in proc.stdout
        check_image(tmp_path / "sweep" / f"{name}.png")
    assert (tmp_path / "sweep" / "summary.csv").exists()
    assert not (tmp_path / "sweep" / "loss_by_lr.png").exists()


def one_error_line(stderr):
    assert "Traceback" not in stderr
    # (importing paddle may print its own warnings first: only our lines are checked)
    lines = [line for line in stderr.splitlines() if line.startswith("paddle-mnist:")]
    assert len(lines) == 1 and lines[0].startswith("paddle-mnist: error: "), stderr
    return lines[0]


@pytest.mark.slow
def test_cli_corrupt_record_is_one_line(tmp_path):
    (tmp_path / "corrupt" / "runs" / "a").mkdir(parents=True)
    (tmp_path / "corrupt" / "runs" / "a" / "record.json").write_text('{"schema": "paddle_mnist.run/1", "na')
    proc = cli("plot", "corrupt", cwd=tmp_path)
    assert proc.returncode == 1
    line = one_error_line(proc.stderr)
    assert os.path.join("corrupt", "runs", "a", "record.json") + ": not a run record" in line


@pytest.mark.parametrize("case", ["missing", "empty"])
def test_cli_missing_or_empty_directory_is_one_line(tmp_path, monkeypatch, capsys, case):
    from paddle_mnist.cli import main  # in-process: same path as `python -m paddle_mnist`, no new process

    (tmp_path / "empty" / "runs").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    assert main(["plot", case]) == 1
    line = one_error_line(capsys.readouterr().err)
    assert {"missing": "missing: no such directory", "empty": "empty: no run records"}[case] in line


def test_importing_and_plotting_leave_pyplot_alone():
    """Notebook safety: no pyplot import and no backend switch unless show=True asks for it."""
    code = ("import sys, matplotlib; before = matplotlib.get_backend(); import paddle_mnist.analysis as p; "
            "sys.path.insert(0, 'tests'); from test_plot import make_record; p.plot([make_record()]); "
            "print('matplotlib.pyplot' in sys.modules, matplotlib.get_backend() == before)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "MPLBACKEND": "svg"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["False", "True"]
