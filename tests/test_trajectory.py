"""train --trajectory and `paddle-mnist trajectory`: the saved weights, the planes, the projections."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import run_cli
from paddle_mnist.cli import main
from paddle_mnist.cli import trajectory as cli_trajectory
from paddle_mnist.core.errors import ConfigError
from paddle_mnist.core.trajectory_log import TRAJECTORY_FILE, read_points
from paddle_mnist.runners.train import train
from paddle_mnist.runners.trajectory import ends_plane, pca_plane, project, trajectory
from paddle_mnist.schemas.trajectory import read_trajectory

SYNTH = dict(data="synthetic", epochs=2, lr=0.05, seed=3)  # 10 steps an epoch at batch 100


def sweep(tmp_path, optimizers=("sgd", "adam"), every=3, **fields):
    """A sweep folder (OUT/runs/NAME) of runs trained here with --trajectory, one start for all."""
    for opt in optimizers:
        train({**SYNTH, **fields, "optimizer": opt, "trajectory": every, "out": str(tmp_path / "runs" / opt)},
              progress=False, name=opt)
    return tmp_path


# ---- the planes, against numpy ----

def test_pca_plane_agrees_with_the_eigenvectors_of_the_scatter_matrix():
    rng = np.random.default_rng(0)
    deltas = rng.standard_normal((12, 30)) * np.linspace(3, 0.1, 30)  # distinct variances
    basis, explained = pca_plane(deltas)
    values, vectors = np.linalg.eigh(deltas.T @ deltas)  # another route to the same directions
    for i in range(2):
        assert abs(abs(basis[:, i] @ vectors[:, -1 - i]) - 1) < 1e-9
        assert explained[i] == pytest.approx(values[-1 - i] / values.sum(), rel=1e-9)
    _, s, _ = np.linalg.svd(deltas)
    assert explained == pytest.approx((s[:2] ** 2 / (s ** 2).sum()).tolist(), rel=1e-12)
    assert sum(explained) <= 1
    assert np.allclose(basis.T @ basis, np.eye(2), atol=1e-12)


def test_ends_plane_holds_both_ends_exactly():
    rng = np.random.default_rng(1)
    u, v = rng.standard_normal(50), rng.standard_normal(50)
    basis = ends_plane(u, v, ["a", "b"])
    coords, off = project(np.stack([u, v]), basis)
    assert off == pytest.approx([0, 0], abs=1e-12)
    assert coords[0] == pytest.approx([np.linalg.norm(u), 0], abs=1e-12)  # the first axis runs along u
    assert np.allclose(coords @ basis.T, [u, v], atol=1e-12)
    with pytest.raises(Exception, match="one line through the start"):
        ends_plane(u, 2 * u, ["a", "b"])


# ---- train --trajectory ----

@pytest.mark.slow
def test_train_saves_the_weights_at_every_step_multiple_and_epoch_end(tmp_path):
    record = train({**SYNTH, "trajectory": 4, "out": str(tmp_path / "r")}, progress=False)
    steps, weights = read_points(tmp_path / "r" / TRAJECTORY_FILE)
    assert steps.tolist() == [0, 4, 8, 10, 12, 16, 20]  # every 4 steps and each epoch's end (10, 20)
    assert weights.dtype == np.float32 and weights.shape[0] == 7
    assert record["trajectory"] == {"file": TRAJECTORY_FILE, "every": 4, "points": 7, "dtype": "float32",
                                    "saved_at": "step 0, every EVERY steps, and the end of every epoch"}
    assert not np.array_equal(weights[0], weights[-1])
    with pytest.raises(ConfigError, match="--trajectory needs a run folder"):
        train({**SYNTH, "trajectory": 4}, progress=False)
    with pytest.raises(ConfigError, match="^trajectory must be a positive integer"):
        train({**SYNTH, "trajectory": 0, "out": str(tmp_path / "z")}, progress=False)


@pytest.mark.slow
def test_kill_minus_9_then_resume_gives_the_uninterrupted_file(tmp_path):
    """Killed between epochs (SIGKILL), then --resume: the file equals an uninterrupted run's."""
    args = ["train", "--data", "synthetic", "--epochs", "6", "--lr", "0.05", "--seed", "3", "--trajectory", "3"]
    full = run_cli(*args, "--out", tmp_path / "full", cwd=tmp_path)
    assert full.returncode == 0, full.stderr
    out = tmp_path / "cut"
    proc = subprocess.Popen([sys.executable, "-m", "paddle_mnist", *args, "--out", str(out)], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            if len(json.loads((out / "record.json").read_text())["epochs"]) >= 2:
                break
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    epochs = len(json.loads((out / "record.json").read_text())["epochs"])
    assert 2 <= epochs < 6, "the run was not cut between its epochs"
    steps, _ = read_points(out / TRAJECTORY_FILE)
    assert steps[-1] >= 10 * epochs  # every finished epoch's points are on disk
    resumed = run_cli(*args, "--out", out, "--resume", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    a_steps, a_w = read_points(out / TRAJECTORY_FILE)
    b_steps, b_w = read_points(tmp_path / "full" / TRAJECTORY_FILE)
    assert a_steps.tolist() == b_steps.tolist()
    assert np.array_equal(a_w, b_w)


# ---- paddle-mnist trajectory ----

@pytest.mark.slow
def test_a_model_moving_in_a_plane_is_0_off_it_and_its_plane_loss_is_its_own(tmp_path):
    sweep(tmp_path, optimizers=("sgd",), every=5)
    path = tmp_path / "runs" / "sgd" / TRAJECTORY_FILE
    steps, weights = read_points(path)
    w0 = weights[0].astype(np.float64)
    rng = np.random.default_rng(0)
    d1, d2 = rng.standard_normal((2, w0.size)) * 0.01
    t = np.linspace(0, 1, len(steps))
    planar = (w0 + np.outer(t, d1) + np.outer(t ** 2, d2)).astype(np.float32)  # a curved path in one plane
    with open(path, "wb") as f:
        np.savez(f, steps=steps, weights=planar)
    r = trajectory(str(tmp_path), plane="pca", images=100, grid=3, progress=False)
    run = r["runs"][0]
    scale = np.linalg.norm(planar[-1] - w0)
    assert max(run["off_plane"]) < 1e-5 * scale  # float32 rounding only
    assert r["explained_variance"][0] + r["explained_variance"][1] == pytest.approx(1, abs=1e-9)
    assert run["plane_loss"] == pytest.approx(run["own_loss"], rel=1e-5)


@pytest.mark.slow
def test_cli_ends_plane_on_synthetic_digits(tmp_path):
    sweep(tmp_path)
    result = run_cli("trajectory", tmp_path, "--plane", "ends:sgd,adam", "--images", "200", "--grid", "5",
                     "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    r = read_trajectory(tmp_path)
    check_ends(r, ("sgd", "adam"))
    assert (tmp_path / "trajectory.png").stat().st_size > 10_000
    assert "wrote" in result.stdout and "adam:" in result.stdout


def check_ends(r, ends):
    """The issue's checks: origin at (0, 0) with the initial loss; each end on its own point with the
    plane's loss equal to its own; a grid that holds every projected point."""
    assert r["plane"] == "ends" and r["ends"] == list(ends) and r["explained_variance"] is None
    alphas, betas = r["grid"]["alphas"], r["grid"]["betas"]
    assert len(r["grid"]["loss"]) == len(betas) and len(r["grid"]["loss"][0]) == len(alphas)
    for run in r["runs"]:
        assert run["points"][0] == [0.0, 0.0] and run["off_plane"][0] == 0.0
        assert run["own_loss"][0] == pytest.approx(r["origin"]["loss"], rel=1e-6)
        assert run["plane_loss"][0] == pytest.approx(r["origin"]["loss"], rel=1e-6)
        assert run["off_plane"][-1] == pytest.approx(0, abs=1e-9 * np.linalg.norm(run["points"][-1]) + 1e-12)
        assert run["plane_loss"][-1] == pytest.approx(run["own_loss"][-1], rel=1e-3)
        p = np.array(run["points"])
        assert alphas[0] < p[:, 0].min() and p[:, 0].max() < alphas[-1]
        assert betas[0] < p[:, 1].min() and p[:, 1].max() < betas[-1]
    a = next(run for run in r["runs"] if run["name"] == ends[0])
    assert a["points"][-1][1] == pytest.approx(0, abs=1e-9)  # the first axis runs to the first end


@pytest.mark.slow
def test_cli_refuses_runs_without_a_shared_start_or_a_path(tmp_path):
    sweep(tmp_path, optimizers=("sgd",))
    train({**SYNTH, "seed": 4, "optimizer": "adam", "trajectory": 3, "out": str(tmp_path / "runs" / "other")},
          progress=False)
    bad = run_cli("trajectory", tmp_path, "--quiet", cwd=tmp_path)
    assert bad.returncode == 1
    assert bad.stderr.count("\n") == 1 and "do not share their initial weights" in bad.stderr
    assert not (tmp_path / "trajectory.json").exists()
    train({**SYNTH, "optimizer": "adam", "out": str(tmp_path / "runs" / "bare")}, progress=False)
    bare = run_cli("trajectory", tmp_path, "--runs", "sgd", "bare", "--quiet", cwd=tmp_path)
    assert bare.returncode == 1 and "bare saved no trajectory" in bare.stderr
    plane = run_cli("trajectory", tmp_path, "--plane", "ends:sgd", cwd=tmp_path)
    assert plane.returncode == 1 and "--plane must be pca or ends:RUN_A,RUN_B" in plane.stderr


def test_cli_passes_lang_on(tmp_path, monkeypatch, capsys):
    """`trajectory --lang zh` asks for the figures in Chinese; without it the library decides
    ($PADDLE_MNIST_LANG, else English)."""
    asked = []

    def fake(path, **options):
        asked.append(options["lang"])
        return {"plane": "ends", "origin": {"loss": 2.3, "accuracy": 0.1}, "images": 10, "runs": [], "files": []}

    monkeypatch.setattr(cli_trajectory, "trajectory", fake)
    assert main(["trajectory", str(tmp_path), "--lang", "zh"]) == 0
    assert main(["trajectory", str(tmp_path)]) == 0
    assert asked == ["zh", None] and "start: loss 2.3" in capsys.readouterr().out


@pytest.mark.slow
def test_figure_and_gif_redraw_from_the_json_alone(tmp_path):
    from paddle_mnist.analysis.trajectory import figure_trajectory, save_animation

    sweep(tmp_path)
    trajectory(str(tmp_path), plane="pca", images=100, grid=4, progress=False)
    r = read_trajectory(tmp_path / "trajectory.json")
    fig = figure_trajectory(r)
    left = fig.axes[0]
    assert left.get_xlabel().startswith("PC1 (") and "of the variance" in left.get_ylabel()
    assert sorted(line.get_label() for line in left.get_lines() if not line.get_label().startswith("_")) == \
        ["adam", "sgd"]
    gif = save_animation(r, str(tmp_path / "t.gif"), frames=5)
    assert open(gif, "rb").read(6) == b"GIF89a"


@pytest.mark.slow
def test_real_digits_sgd_and_adam_one_epoch(real15k, tmp_path):
    """The issue's check: a real-digit sweep of SGD and Adam (1 epoch, --trajectory), then
    `trajectory --plane ends:...` and `--plane pca`."""
    made = run_cli("compare", "--optimizers", "sgd,adam", "--lrs", "0.01", "--epochs", "1", "--trajectory",
                   "10", "--data", real15k, "--out", tmp_path, "--no-plot", "--quiet", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    names = sorted(os.listdir(tmp_path / "runs"))
    ends = run_cli("trajectory", tmp_path, "--plane", f"ends:{names[0]},{names[1]}", "--images", "300",
                   "--grid", "5", "--quiet", cwd=tmp_path)
    assert ends.returncode == 0, ends.stderr
    check_ends(read_trajectory(tmp_path), names)
    assert (tmp_path / "trajectory.png").exists()
    pca = run_cli("trajectory", tmp_path, "--images", "300", "--grid", "5", "--quiet", cwd=tmp_path)
    assert pca.returncode == 0, pca.stderr
    r = read_trajectory(tmp_path)
    assert 0 < r["explained_variance"][1] <= r["explained_variance"][0] and sum(r["explained_variance"]) <= 1


@pytest.mark.slow
def test_ray_ships_the_trajectory_to_the_driver(tmp_path):
    """With --executor ray a worker trains in its own scratch folder: the file reaches the sweep
    folder only as a shipment, and equals the local pool's."""
    pytest.importorskip("ray")
    files = {}
    for executor in ("local", "ray"):
        made = run_cli("compare", "--optimizers", "sgd", "--lrs", "0.05", "--epochs", "2", "--seeds", "3",
                       "--data", "synthetic", "--trajectory", "3", "--executor", executor, "--out", tmp_path / executor,
                       "--no-plot", "--quiet", cwd=tmp_path)
        assert made.returncode == 0, made.stderr
        (name,) = os.listdir(tmp_path / executor / "runs")
        files[executor] = read_points(tmp_path / executor / "runs" / name / TRAJECTORY_FILE)
        record = json.loads((tmp_path / executor / "runs" / name / "record.json").read_text())
        assert record["trajectory"]["points"] == 9
    assert files["ray"][0].tolist() == files["local"][0].tolist()
    assert np.array_equal(files["ray"][1], files["local"][1])
