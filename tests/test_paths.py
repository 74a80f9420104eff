"""paths: the real Paddle optimizers on 2-D surfaces (closed forms, saddle and noise, fair lr choice,
Hessians, figures, GIF, JSON, the command and its bad inputs)."""

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import paddle
import pytest
from conftest import run_notebook
from PIL import Image

import paddle_mnist
from paddle_mnist.analysis.paths import animation_steps, figure_paths, load_paths
from paddle_mnist.analysis.style import OPTIMIZER_STYLES, optimizer_colours, save_figure
from paddle_mnist.cli import main
from paddle_mnist.core.errors import ConfigError, DataError
from paddle_mnist.core.files import read_json
from paddle_mnist.core.optim import OPTIMIZERS
from paddle_mnist.api import paths
from paddle_mnist.core.surfaces import SURFACES
from paddle_mnist.runners.paths import LR_GRID, LR_RULES, hessian_at, run_trials, shape_verdict, trial_score

FOUR = ["sgd", "momentum", "adagrad", "adam"]


@pytest.fixture(scope="module")
def ravine_auto():
    """The ravine with the final-f lr rule (--lr-rule final), whose choices a numpy model reproduces."""
    return paths("ravine", FOUR, lr_rule="final", progress=False)["runs"]["ravine"]


@pytest.fixture(scope="module")
def saddle_runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("saddle")
    exact = paths("saddle", FOUR, progress=False)["runs"]["saddle"]
    noisy = paths("saddle", FOUR, noise=0.1, seed=0, out=str(out), animate=True, progress=False)
    return exact, noisy, out


def by_name(run):
    return {e["name"]: e for e in run["optimizers"]}


def test_sgd_on_the_ravine_follows_the_closed_form():
    """x_t = -7 (1 - 0.1/10)^t, y_t = 2 (1 - 0.1*2)^t: the real optimizer and the real gradient."""
    run = paths("ravine", ["sgd"], lr=0.1, steps=50, progress=False)["runs"]["ravine"]
    points = np.array(run["optimizers"][0]["points"])
    t = np.arange(51)
    assert points.shape == (51, 2)
    np.testing.assert_allclose(points[:, 0], -7 * 0.99 ** t, atol=1e-5, rtol=0)
    np.testing.assert_allclose(points[:, 1], 2 * 0.8 ** t, atol=1e-5, rtol=0)
    assert run["optimizers"][0]["lr"] == 0.1 and run["lr_rule"] == "given" and run["lr_grid"] is None


@pytest.mark.parametrize("surface", list(SURFACES))
def test_a_batched_trial_is_exactly_a_single_run(surface):
    """K lrs stepped together (K parameter groups of one optimizer, the surface evaluated at the K
    points in one call) give each trial exactly the path of its own run, bit for bit, with noise."""
    surface = SURFACES[surface]
    start = [0.5 * (surface.box[0] + surface.start[0]), 0.5 * (surface.box[3] + surface.start[1])]
    for name in FOUR + ["rmsprop"]:
        points, values = run_trials(surface, name, LR_GRID, start, 25, noise=0.5, seed=3)
        assert points.shape == (26, len(LR_GRID), 2) and values.shape == (26, len(LR_GRID))
        for k in (2, 9, 14, 17):
            single, single_f = run_trials(surface, name, [LR_GRID[k]], start, 25, noise=0.5, seed=3)
            np.testing.assert_array_equal(points[:, k], single[:, 0], err_msg=f"{surface.name} {name} lr #{k}")
            np.testing.assert_array_equal(values[:, k], single_f[:, 0])


def numpy_ravine(name, lr, box, steps=100):
    """A numpy model of Paddle's four updates on the ravine, in float32: f per step, None if it leaves the box."""
    f32 = np.float32
    p, m, v = np.array([-7.0, 2.0], f32), np.zeros(2, f32), np.zeros(2, f32)
    fs = [p[0] ** 2 / 20 + p[1] ** 2]
    for t in range(1, steps + 1):
        g = np.array([p[0] / 10, 2 * p[1]], f32)
        if name == "sgd":
            p = p - f32(lr) * g
        elif name == "momentum":
            m = f32(0.9) * m + g
            p = p - f32(lr) * m
        elif name == "adagrad":
            m = m + g * g
            p = p - f32(lr) * g / (np.sqrt(m) + f32(1e-6))
        else:  # adam, with Paddle's bias correction folded into the lr
            m, v = f32(0.9) * m + f32(0.1) * g, f32(0.999) * v + f32(0.001) * g * g
            lr_t = f32(lr * math.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t))
            p = p - lr_t * m / (np.sqrt(v) + f32(1e-8 * math.sqrt(1 - 0.999 ** t)))
        if not (np.isfinite(p).all() and box[0] <= p[0] <= box[1] and box[2] <= p[1] <= box[3]):
            return None
        fs.append(float(p[0]) ** 2 / 20 + float(p[1]) ** 2)
    return np.array(fs)


def test_auto_lr_on_the_ravine_matches_a_numpy_model(ravine_auto):
    """Same grid, same objective for all: AdaGrad (per-coordinate steps) is fastest; tuned Momentum is
    *not* faster than tuned SGD on this bowl. The numbers agree with a numpy model of the updates."""
    run = by_name(ravine_auto)
    for name in FOUR:
        model = [(fs[-1], lr, fs) for lr in LR_GRID
                 if (fs := numpy_ravine(name, lr, SURFACES["ravine"].box)) is not None]
        _, lr, fs = min(model, key=lambda r: (r[0], r[1]))  # the same rule: lowest final f, then smaller lr
        model_reached = int(np.argmax(fs < 1e-3))
        assert run[name]["lr"] == pytest.approx(lr), name
        assert run[name]["reached_at"] == model_reached, name
        assert len(run[name]["trials"]) == 20 and run[name]["end"]["verdict"] == "minimum"
    chosen = {name: LR_GRID.index(run[name]["lr"]) for name in FOUR}  # positions in the 20-point grid
    assert chosen == {"sgd": 15, "momentum": 16, "adam": 17, "adagrad": 18}
    reached = {name: run[name]["reached_at"] for name in FOUR}
    assert reached == {"sgd": 43, "momentum": 64, "adagrad": 6, "adam": 59}
    assert reached["adagrad"] < reached["sgd"] < reached["momentum"]
    assert run["sgd"]["lr"] == pytest.approx(0.886, abs=1e-3)
    assert run["adagrad"]["lr"] == pytest.approx(5.456, abs=1e-3)
    # rejected trials: the largest lrs throw SGD out of the box; the kept one has the lowest final f
    sgd = run["sgd"]["trials"]
    assert sgd[-1]["final_f"] is None and sgd[-1]["left_box_at"] >= 1
    kept = [t["final_f"] for t in sgd if t["final_f"] is not None]
    assert min(kept) == next(t["final_f"] for t in sgd if t["lr"] == run["sgd"]["lr"])


@pytest.mark.slow
def test_exact_gradients_stop_at_the_saddle_noise_leaves_it(saddle_runs):
    exact, noisy, _ = saddle_runs
    for name, e in by_name(exact).items():
        assert math.dist(e["end"]["point"], (0, 0)) < 0.1, name
        assert e["end"]["verdict"] == "saddle" and e["reached_at"] is None, name
        assert e["points"][-1][0] == 0.0  # x stays exactly 0 on the saddle's attracting line
    for name, e in by_name(noisy["runs"]["saddle"]).items():
        x, y = e["end"]["point"]
        assert math.dist((abs(x), y), (1, 0)) < 0.15, name
        assert e["end"]["verdict"] == "minimum" and e["end"]["stationary"], name
        assert e["reached_at"] is not None
    # the minimum each reaches at the lr the path rule picks (seed 0): all four fall to x = -1
    ends = {e["name"]: round(e["end"]["point"][0]) for e in noisy["runs"]["saddle"]["optimizers"]}
    assert ends == {"sgd": -1, "momentum": -1, "adagrad": -1, "adam": -1}


def test_hessian_eigenvalues_and_verdicts():
    saddle = SURFACES["saddle"]
    h = hessian_at(saddle, (0.0, 0.0))
    np.testing.assert_allclose(h["eigenvalues"], [-1, 1], atol=1e-6)
    assert h["verdict"] == "saddle" and h["grad_norm"] == 0 and h["stationary"]
    np.testing.assert_allclose(hessian_at(saddle, (1.0, 0.0))["eigenvalues"], [1, 2], atol=1e-6)
    np.testing.assert_allclose(hessian_at(saddle, (-1.0, 0.0))["eigenvalues"], [1, 2], atol=1e-6)
    # Rosenbrock at (1, 1): [[802, -400], [-400, 200]]; Rastrigin at 0: 2 + 40 pi^2 twice
    rosen = hessian_at(SURFACES["rosenbrock"], (1.0, 1.0))
    np.testing.assert_allclose(rosen["hessian"], [[802, -400], [-400, 200]], atol=1e-9)
    np.testing.assert_allclose(rosen["eigenvalues"], np.linalg.eigvalsh([[802, -400], [-400, 200]]), rtol=1e-12)
    rastrigin = hessian_at(SURFACES["rastrigin"], (0.0, 0.0))
    np.testing.assert_allclose(rastrigin["eigenvalues"], [2 + 40 * math.pi ** 2] * 2)
    assert hessian_at(saddle, (0.0, 2.0))["verdict"] == "saddle" and not hessian_at(saddle, (0.0, 2.0))["stationary"]
    assert [shape_verdict(e) for e in ([0.0, 3.0], [1e-9, 5.0], [-2.0, -1.0], [0.5, 0.1])] == \
        ["flat", "flat", "maximum", "minimum"]


def colour_pixels(png, hex_colour, tol=30):
    rgb = np.asarray(Image.open(png).convert("RGB")).astype(int)
    target = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)])
    return int((np.abs(rgb - target).sum(axis=-1) < tol).sum())


def test_files_figures_gif_and_json_round_trip(saddle_runs, tmp_path):
    _, noisy, out = saddle_runs
    run = noisy["runs"]["saddle"]
    assert sorted(p.name for p in out.iterdir()) == ["paths_saddle.gif", "paths_saddle.json", "paths_saddle.png"]
    # the JSON holds what the call returned, and the figure is redrawn from it alone, pixel for pixel
    loaded = load_paths(out / "paths_saddle.json")
    assert loaded == run == json.loads(json.dumps(run))
    assert len(loaded["optimizers"][0]["points"]) == 101 and loaded["optimizers"][0]["points"][0] == [0.0, 1.0]
    assert len(loaded["optimizers"][0]["f"]) == 101 and loaded["noise"] == 0.1 and loaded["seed"] == 0
    save_figure(figure_paths(loaded), str(tmp_path), "again")
    assert (tmp_path / "again.png").read_bytes() == (out / "paths_saddle.png").read_bytes()
    # not blank: each optimizer's own colour is drawn
    for name, colour in optimizer_colours(FOUR).items():
        assert colour == OPTIMIZER_STYLES[name][0]
        assert colour_pixels(out / "paths_saddle.png", colour) > 200, name
    with Image.open(out / "paths_saddle.gif") as gif:
        assert gif.n_frames == len(animation_steps(100)) == 35  # one frame every 3 steps, and the last
        gif.seek(gif.n_frames - 1)
        last = np.asarray(gif.convert("RGB")).astype(int)
        gif.seek(0)
        assert np.abs(np.asarray(gif.convert("RGB")).astype(int) - last).sum() > 0
    assert animation_steps(7) == list(range(8)) and animation_steps(500)[-2:] == [494, 500]
    (tmp_path / "bad.json").write_text('{"schema": "other"}')
    with pytest.raises(DataError, match="bad.json"):
        load_paths(tmp_path / "bad.json")


def test_python_api_returns_figures_and_writes_nothing_without_out(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert paddle_mnist.paths is paths
    r = paths("beale", "momentum,adam", steps=5, lr=1e-3, opt={"momentum": 0.5}, progress=False)
    assert list(tmp_path.iterdir()) == [] and r["files"] == []
    assert r["figures"]["beale"]._repr_png_().startswith(b"\x89PNG")
    e = by_name(r["runs"]["beale"])
    assert e["momentum"]["overrides"] == {"momentum": 0.5} and e["adam"]["overrides"] == {}
    assert [len(x["points"]) for x in r["runs"]["beale"]["optimizers"]] == [6, 6]


def test_a_diverging_path_is_drawn_until_it_leaves_the_box(tmp_path):
    assert main(["paths", "--surface", "ravine", "--optimizers", "sgd,adam", "--lr", "1.5", "--steps", "30",
                 "--out", str(tmp_path), "--quiet"]) == 0
    run = by_name(read_json(tmp_path / "paths_ravine.json"))
    sgd = run["sgd"]  # |1 - 1.5*2| = 2: y doubles every step, 2 * 2^t > 5 at t = 2
    assert sgd["diverged"] and sgd["left_box_at"] == 2 and len(sgd["points"]) == 3
    assert sgd["end"]["verdict"] == "diverged" and abs(sgd["points"][-1][1]) > 5
    assert not run["adam"]["diverged"]
    assert colour_pixels(tmp_path / "paths_ravine.png", "#d62728") > 20  # the red cross


@pytest.mark.slow
def test_the_command_prints_a_summary(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "paddle_mnist", "paths", "--surface", "saddle", "--steps", "20",
                           "--start=0.5,1", "--lr", "0.1", "--optimizers", "sgd", "--quiet",
                           "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "saddle from (0.5, 1), 20 steps" in proc.stdout and "sgd       lr 0.1" in proc.stdout
    assert (tmp_path / "paths_saddle.png").exists() and not (tmp_path / "paths_saddle.gif").exists()


BAD = [
    (["--surface", "bowl"], "--surface 'bowl' is unknown"),
    (["--optimizers", "sgd,adamm"], "--optimizers 'adamm' is unknown"),
    (["--optimizers", ","], "--optimizers needs at least one optimizer"),
    (["--start", "1"], "--start must be two finite numbers"),
    (["--start", "a,b"], "--start must be two finite numbers"),
    (["--start", "nan,1"], "--start must be two finite numbers"),
    (["--start", "30,1"], "--start (30, 1) is outside the ravine box"),
    (["--steps", "0"], "--steps must be a positive integer, not 0"),
    (["--lr", "0"], "--lr must be a positive number or 'auto'"),
    (["--lr", "-0.1"], "--lr must be a positive number or 'auto'"),
    (["--lr", "inf"], "--lr must be a positive number or 'auto'"),
    (["--lr", "fast"], "--lr must be a positive number or 'auto'"),
    (["--noise", "-0.1"], "--noise must be a number >= 0"),
    (["--seed", "-1"], "--seed must be an integer from 0 to 4294967295"),
    (["--opt", "nosuch=1"], "--opt nosuch: none of sgd, momentum, adagrad, adam has an option 'nosuch'"),
    (["--opt", "momentum"], "--opt 'momentum': expected key=value"),
    (["--opt", "momentum=fast"], "--opt: optimizer 'momentum': momentum must be a number"),
    (["--format", "gif"], "--format: unknown image format 'gif'"),
]


@pytest.mark.parametrize("argv, message", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_input_is_one_line_naming_the_flag(argv, message, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["paths", "--quiet", "--steps", "3", "--out", str(out)] + argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("paddle-mnist: error: ") and message in err, err
    assert not out.exists()  # nothing half-written


@pytest.mark.parametrize("argv", [["--steps", "ten"], ["--noise", "loud"], ["--seed", "x"]])
def test_a_flag_that_is_not_a_number_is_refused_by_the_parser(argv, capsys):
    with pytest.raises(SystemExit) as e:  # as train's --epochs ten: argparse's usage error, exit 2
        main(["paths", "--quiet", *argv])
    assert e.value.code == 2 and f"argument {argv[0]}: invalid" in capsys.readouterr().err


def test_an_unwritable_out_is_refused_before_running(tmp_path, capsys):
    (tmp_path / "file").write_text("")
    assert main(["paths", "--quiet", "--out", str(tmp_path / "file" / "sub")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--out" in err and "cannot write there" in err


@pytest.mark.skipif(OPTIMIZERS["radam"].available, reason="this Paddle has RAdam")
def test_an_optimizer_missing_from_this_paddle_is_named(capsys):
    assert main(["paths", "--optimizers", "sgd,radam", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "--optimizers 'radam' needs Paddle >= 3.0" in err and paddle.__version__ in err


@pytest.mark.slow  # a notebook in a fresh kernel
def test_the_notebook_runs_and_draws_its_figures_inline(tmp_path):
    outputs = run_notebook(Path(__file__).resolve().parents[1] / "tools" / "notebooks" / "paths.ipynb", tmp_path)
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "adagrad   lr 2.98    reached f < 1e-3 at step 9" in text  # the path lr rule (default)
    assert "sgd       lr 0.886   reached f < 1e-3 at step 43" in text
    assert text.count(": minimum, Hessian eigenvalues 1, ") == 4  # all four fell off the saddle
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) == 3  # ravine, saddle exact, saddle with noise
    assert list(tmp_path.iterdir()) == []  # without out=..., paths writes nothing


@pytest.mark.slow
def test_lr_rule_path_punishes_a_wild_path_final_keeps_the_old_choice():
    """On the ravine the final-f rule gives Momentum lr 1.62 (it zig-zags at the edge of stability);
    the default path rule (final plus mean f - f* along the path) a calmer 0.264; both said on the figure."""
    assert trial_score([3.0, 1.0, 0.0], 0.0, "final") == 0.0
    assert trial_score([3.0, 1.0, 0.0], 0.0, "path") == 0.0 + (1.0 + 0.0) / 2
    runs = {rule: paths("ravine", ["momentum"], lr_rule=rule, progress=False)["runs"]["ravine"]
            for rule in LR_RULES}
    final, path = runs["final"]["optimizers"][0], runs["path"]["optimizers"][0]
    assert final["lr"] == pytest.approx(1.6238, abs=1e-4) and path["lr"] == pytest.approx(0.2637, abs=1e-4)
    assert runs["path"]["lr_score"] == "path" and runs["final"]["lr_score"] == "final"
    # the chosen lr has the lowest score of the trials that stayed in the box
    scores = [t["score"] for t in path["trials"] if t["score"] is not None]
    assert min(scores) == next(t["score"] for t in path["trials"] if t["lr"] == path["lr"])
    assert np.mean(np.abs(np.diff(np.array(path["points"])[:, 1]))) < \
        np.mean(np.abs(np.diff(np.array(final["points"])[:, 1])))  # less swinging across the ravine
    caption = figure_paths(runs["path"]).get_supxlabel()
    assert "mean f − f* along the path" in caption
    assert "f after 100 steps" in figure_paths(runs["final"]).get_supxlabel()
    assert "路径" in figure_paths(runs["path"], lang="zh").get_supxlabel()
    with pytest.raises(ConfigError, match="^lr_rule 'best' is unknown; choose one of: path, final"):
        paths("ravine", ["sgd"], lr_rule="best", progress=False)
