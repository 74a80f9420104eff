"""The Hessian of a trained run: eigenvalues against closed forms, a known saddle, finite differences
against exact products, the CNN end to end through the CLI, and every bad input as one line."""

import json
import os
import shutil

import numpy as np
import paddle
import pytest
from paddle import nn

from paddle_mnist.api import compare, hessian, hessian_sweep
from paddle_mnist.runners import hessian as curvature, hvp
from paddle_mnist.core.checkpoints import BEST_PARAMS, load_state, save_state
from paddle_mnist.cli import main
from paddle_mnist.core.data import build_synthetic_json, load_dataset
from paddle_mnist.core.loss import build_loss
from paddle_mnist.core.model import build_model
from paddle_mnist.runners.runpoint import load_run, subset_indices
from paddle_mnist.runners.train import TrainConfig, train

ISSUE_FIELDS = ("top_eigenvalues", "bottom_eigenvalues", "residuals", "trace", "trace_stderr", "gradient_norm",
                "at_critical_point", "verdict", "images", "subset_sha256", "method", "epsilon", "paddle")


def train_run(out, model, epochs=1, data="synthetic", **kw):
    config = TrainConfig(model=model, optimizer=kw.pop("optimizer", "adam"), lr=kw.pop("lr", 0.003),
                         epochs=epochs, data=data, out=str(out), **kw)
    record = train(config, progress=False)
    assert record["status"] == "completed"
    return str(out)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Small runs on the synthetic digits (1,000 training images), trained once for this file."""
    root = tmp_path_factory.mktemp("runs")
    return {"linear": train_run(root / "linear", "linear", epochs=2),
            "mlp": train_run(root / "mlp", "mlp"),
            "cnn": train_run(root / "cnn", "cnn", optimizer="sgd", lr=0.05)}


def copy_run(src, dst):
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("hessian*", "landscape*"))
    return str(dst)


# ---- the loss, written twice-differentiably ----

@pytest.mark.parametrize("name", ["cross_entropy", "nll", "mse"])
def test_smooth_loss_equals_the_runs_loss(name):
    rng = np.random.default_rng(0)
    logits = paddle.to_tensor((rng.standard_normal((64, 10)) * 4).astype("float32"))
    labels = paddle.to_tensor(rng.integers(0, 10, (64, 1)))
    onehot = nn.functional.one_hot(labels.reshape([-1]), 10).astype("float32")
    want = float(build_loss(name)(logits, labels))
    assert float(hvp.smooth_loss(name)(logits, onehot)) == pytest.approx(want, rel=1e-6)


# ---- linear model (softmax regression, convex) on the real digits ----

def softmax_regression_hv(x, p, V):
    """Closed-form Hessian-vector product of the mean cross-entropy of softmax regression, for
    V = [W; b] (785 x 10): H·V = mean_i x̃_i (diag(p_i) Z_i − p_i (p_i·Z_i))ᵀ with Z_i = x̃_iᵀ V."""
    xt = np.hstack([x, np.ones((len(x), 1))])
    z = xt @ V
    s = p * z - p * (p * z).sum(axis=1, keepdims=True)
    return xt.T @ s / len(x)


@pytest.mark.slow
def test_linear_top_eigenvalue_matches_power_iteration_and_is_a_minimum(real15k, tmp_path):
    run_dir = train_run(tmp_path / "linear", "linear", epochs=2, data=real15k, optimizer="sgd", lr=0.1)
    result = hessian(run_dir, images=200, top=2, bottom=2, probes=10, progress=False)
    run = load_run(run_dir, images=200)
    x = run.images.reshape(200, -1).astype(np.float64)
    W = load_state(os.path.join(run_dir, BEST_PARAMS))
    logits = x @ W["fc.weight"] + W["fc.bias"]
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    V = np.random.default_rng(1).standard_normal((785, 10))
    for _ in range(300):
        V = softmax_regression_hv(x, p, V)
        V /= np.linalg.norm(V)
    lam = float((V * softmax_regression_hv(x, p, V)).sum())
    assert result["method"] == "double_backward"
    assert result["lambda_max"] == pytest.approx(lam, rel=0.01)
    assert result["verdict"] == "minimum"
    assert result["lambda_min"] > -1e-3 * lam  # convex: nothing below zero but the solver's accuracy
    assert result["trace"] > 0


# ---- a known saddle ----

class TwoLayerSaddle(nn.Layer):
    """logits = (Σ_j d_j u_j v_j) · xC: at u = v = 0 the gradient is zero and the Hessian is
    [[0, G·D], [G·D, 0]] with G = dL/ds at s = 0, so its eigenvalues are ±G·d_j: a saddle."""

    def __init__(self, d=(1.0, 2.0, 3.0, 4.0)):
        super().__init__()
        zeros = nn.initializer.Constant(0.0)
        self.u = self.create_parameter([len(d)], default_initializer=zeros)
        self.v = self.create_parameter([len(d)], default_initializer=zeros)
        self.d = paddle.to_tensor(np.array(d, dtype="float32"))
        self.C = paddle.to_tensor(np.random.default_rng(0).standard_normal((784, 10)).astype("float32") * 0.1)

    def forward(self, x):
        s = (self.d * self.u * self.v).sum()
        return s * paddle.matmul(x.reshape([x.shape[0], -1]), self.C)


@pytest.mark.parametrize("method", ["double_backward", "finite_difference"])
def test_known_saddle_has_its_analytic_eigenvalues(method):
    rng = np.random.default_rng(0)
    x = rng.random((64, 1, 28, 28)).astype("float32")
    y = rng.integers(0, 10, 64)
    model = TwoLayerSaddle()
    c = x.reshape(64, -1) @ model.C.numpy()
    G = float(((0.1 - np.eye(10)[y]) * c).sum(axis=1).mean())  # softmax(0) = 1/10 everywhere
    r = curvature.measure(model, x, y, top=3, bottom=3, probes=20, method=method)
    expected_top = [4 * abs(G), 3 * abs(G), 2 * abs(G)]
    assert r["top_eigenvalues"] == pytest.approx(expected_top, rel=1e-3)
    assert r["bottom_eigenvalues"] == pytest.approx([-v for v in expected_top], rel=1e-3)
    assert r["lambda_min"] == pytest.approx(-4 * abs(G), rel=1e-3)
    assert r["verdict"] == "saddle"
    assert r["gradient_norm"] < 1e-6 and r["at_critical_point"]
    assert abs(r["trace"]) < 5 * r["trace_stderr"] + 1e-6  # tr = 0 for this Hessian


# ---- finite differences against exact products ----

@pytest.mark.slow
@pytest.mark.parametrize("model_name", ["mlp", "linear"])
def test_finite_differences_match_exact_products(runs, model_name):
    run = load_run(runs[model_name], images=200)
    op = hvp.HessianOperator(run.model, run.images, run.labels)
    assert op.method == "double_backward"
    rng = np.random.default_rng(0)
    directions = [rng.standard_normal(op.dim) for _ in range(3)] + [rng.choice([-1.0, 1.0], op.dim)]
    v = directions[0]
    for _ in range(10):  # a sharp direction too: power iteration
        v = op(v)
        v /= np.linalg.norm(v)
    for v in directions + [v]:
        exact = op._double_backward(v)
        fd = op._finite_difference(v)
        assert np.linalg.norm(fd - exact) / np.linalg.norm(exact) < 1e-3
    # one-sided (train --sharpness-every): an O(ε) error, yet the sharp direction's curvature holds
    op.difference = "forward"
    forward = op._finite_difference(v)
    assert np.linalg.norm(forward - exact) / np.linalg.norm(exact) < 5e-3  # measured 4e-4 (mlp), 1e-3 (linear)
    assert v @ forward == pytest.approx(v @ exact, rel=2e-3)  # measured 3e-4


def test_the_course_cnn_gets_finite_differences():
    reason = hvp.no_double_backward(build_model("cnn"))
    assert "max-pool" in reason and "conv" in reason
    assert hvp.no_double_backward(build_model("mlp")) is None


def test_the_cnn_with_its_pattern_held_is_the_cnn_at_the_base_weights(runs):
    run = load_run(runs["cnn"], images=50)
    x, y = paddle.to_tensor(run.images), paddle.to_tensor(run.labels.reshape(-1, 1))
    pattern = hvp.record_pattern(run.model, x)
    params = run.model.parameters()
    loss_fn = build_loss("cross_entropy")
    plain, held = loss_fn(run.model(x), y), loss_fn(hvp.replay(run.model, x, pattern), y)
    assert float(held) == pytest.approx(float(plain), rel=1e-6)
    for a, b in zip(paddle.grad(plain, params), paddle.grad(held, params)):
        assert np.allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-7)


def test_cnn_products_hardly_depend_on_the_step(runs, monkeypatch):
    """With the ReLU/max-pool pattern held, the CNN is smooth in its weights: ten times the step
    changes a product by far less than the kinks would (they changed zᵀHz by ~20 %)."""
    run = load_run(runs["cnn"], images=100)
    op = hvp.HessianOperator(run.model, run.images, run.labels)
    assert op.method == "finite_difference" and op.patterns is not None
    z = np.random.default_rng(0).choice([-1.0, 1.0], op.dim)
    small = op(z)
    monkeypatch.setattr(hvp, "FD_STEP", 10 * hvp.FD_STEP)
    large = op(z)
    assert z @ large == pytest.approx(z @ small, rel=0.01)
    assert np.linalg.norm(large - small) / np.linalg.norm(small) < 0.02


@pytest.mark.slow
def test_worker_processes_give_the_same_products_and_eigenvalues(runs, capfd):
    """The images split between 2 processes (whole chunks each): the same products and eigenvalue
    up to float32 rounding (Intel MKL's results depend on memory alignment, which differs between
    processes, and finite differences magnify a gradient's last bits: measured 1e-4 here, 0 in two
    fresh processes), and the processes are gone afterwards, a terminated one without a word (no
    Paddle "Termination signal" trace in a notebook's output)."""
    run = load_run(runs["cnn"], images=100)
    z = np.random.default_rng(1).choice([-1.0, 1.0], 20_350)
    with hvp.HessianOperator(run.model, run.images, run.labels, chunk=50, workers=2) as op:
        assert op.workers == 2 and op.patterns is None and op.holds_pattern
        processes = op.shards.processes
        shared = op(z), op.loss_and_gradient(), curvature.extreme_eigenvalues(op, 1, "LA")["values"][0]
        processes[0].terminate()  # what close() does to a worker slow to leave on a busy machine
        processes[0].join(timeout=30)
    assert not any(p.is_alive() for p in processes)
    out, err = capfd.readouterr()
    assert "Termination signal" not in out + err and "C++ Traceback" not in out + err
    alone = hvp.HessianOperator(run.model, run.images, run.labels, chunk=50, workers=1)
    assert alone.workers == 1 and alone.patterns is not None
    assert np.linalg.norm(shared[0] - alone(z)) < 1e-3 * np.linalg.norm(shared[0])
    assert shared[1][0] == pytest.approx(alone.loss_and_gradient()[0], rel=1e-6)
    assert shared[2] == pytest.approx(curvature.extreme_eigenvalues(alone, 1, "LA")["values"][0], rel=1e-3)
    assert hvp.HessianOperator(run.model, run.images, run.labels, workers=None).workers == 1  # one chunk


# ---- the CNN through the command line ----

@pytest.mark.slow
def test_cnn_after_one_epoch_cli_writes_every_field(runs, capsys):
    run_dir = runs["cnn"]
    assert main(["hessian", run_dir, "--images", "64", "--top", "2", "--bottom", "2", "--probes", "6",
                 "--quiet"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("cnn: λmax") and "critical point" in out[0] and "finite difference" in out[0]
    with open(os.path.join(run_dir, "hessian.json")) as f:
        r = json.load(f)
    assert all(k in r for k in ISSUE_FIELDS)
    assert r["method"] == "finite_difference" and r["epsilon"] > 0
    assert np.isfinite(r["lambda_max"]) and r["lambda_max"] > 0
    assert r["top_eigenvalues"] == sorted(r["top_eigenvalues"], reverse=True)
    assert r["bottom_eigenvalues"] == sorted(r["bottom_eigenvalues"])
    assert len(r["residuals"]["top"]) == 2 and r["images"] == 64 and r["paddle"] == paddle.__version__
    assert r["hvp_count"] == (r["lanczos"]["top"]["lanczos_products"] + r["lanczos"]["bottom"]["lanczos_products"]
                              + 4 + 6)  # + one per residual, one per probe
    assert os.path.getsize(os.path.join(run_dir, "hessian.png")) > 10_000


@pytest.mark.slow
def test_init_weights_are_the_runs_and_get_their_own_file(runs, tmp_path):
    run_dir = copy_run(runs["linear"], tmp_path / "run")
    r = hessian(run_dir, weights="init", images=100, top=1, bottom=1, probes=0, progress=False)
    assert r["trace"] is None and os.path.exists(os.path.join(run_dir, "hessian-init.json"))
    assert not os.path.exists(os.path.join(run_dir, "hessian.json"))
    trained = hessian(run_dir, weights="last", images=100, top=1, bottom=1, probes=0, progress=False)
    assert trained["loss"] < r["loss"]  # training lowered the loss on these images


# ---- a sweep ----

@pytest.mark.slow
def test_sweep_measures_every_finished_run_and_draws_sharpness(tmp_path, capsys):
    sweep = tmp_path / "sweep"
    compare(["sgd", "adam"], [0.01, 0.1], epochs=1, jobs=1, out=str(sweep), data="synthetic", plot=False,
            progress=False, model="linear")
    diverged = sweep / "runs" / "sgd-lr0.1" / "record.json"
    with open(diverged) as f:
        record = json.load(f)
    record.update(status="diverged", divergence={"step": 3, "reason": "loss is not finite"})
    with open(diverged, "w") as f:
        json.dump(record, f)
    result = hessian_sweep(str(sweep), images=100, top=1, bottom=1, probes=4, progress=False)
    assert sorted(result["by_name"]) == ["adam-lr0.01", "adam-lr0.1", "sgd-lr0.01"]
    assert result["skipped"] == [{"run": "sgd-lr0.1", "status": "diverged"}]
    assert len({r["subset_sha256"] for r in result["rows"]}) == 1
    assert all(r["lambda_max"] > 0 and r["verdict"] == "minimum" for r in result["rows"])
    assert os.path.getsize(sweep / "sharpness.png") > 10_000
    with open(sweep / "hessian.json") as f:
        assert json.load(f)["rows"] == json.loads(json.dumps(result["rows"]))
    # the CLI on the same folder reuses the measurements (same settings) and prints the table
    before = os.path.getmtime(sweep / "runs" / "adam-lr0.1" / "hessian.json")
    assert main(["hessian", str(sweep), "--images", "100", "--top", "1", "--bottom", "1", "--probes", "4",
                 "--quiet"]) == 0
    table = capsys.readouterr().out
    assert "adam-lr0.1" in table and "sgd-lr0.1" in table and "skipped: diverged" in table
    assert "sharpness.png" in table
    assert os.path.getmtime(sweep / "runs" / "adam-lr0.1" / "hessian.json") == before


# ---- bad input: one line, exit 1, nothing written ----

def bad_inputs(runs, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    diverged = copy_run(runs["linear"], tmp_path / "diverged")
    with open(os.path.join(diverged, "record.json")) as f:
        record = json.load(f)
    record.update(status="diverged", divergence={"step": 3, "reason": "loss is not finite"})
    with open(os.path.join(diverged, "record.json"), "w") as f:
        json.dump(record, f)
    misfit = copy_run(runs["linear"], tmp_path / "misfit")
    save_state(build_model("mlp").state_dict(), os.path.join(misfit, BEST_PARAMS))
    nan = copy_run(runs["linear"], tmp_path / "nan")
    state = load_state(os.path.join(nan, BEST_PARAMS))
    state["fc.weight"][0, 0] = np.nan
    save_state(state, os.path.join(nan, BEST_PARAMS))
    other = tmp_path / "other.json.gz"
    build_synthetic_json(str(other), seed=1, sizes=(50, 10, 10))
    ok = copy_run(runs["linear"], tmp_path / "ok")
    return [
        ([str(empty)], "no runs"),
        ([diverged], "diverged"),
        ([misfit], "does not fit the record's model 'linear'"),
        ([nan], "not finite"),
        ([ok, "--images", "0"], "--images must be an integer from 1 to 1000"),
        ([ok, "--images", "1001"], "--images must be at most 1000"),
        ([ok, "--top", "0"], "--top must be an integer from 1 to 100"),
        ([ok, "--workers", "0"], "--workers must be an integer from 1 to 256"),
        ([ok, "--data", str(other)], "not the data this run was trained on"),
        ([str(tmp_path / "missing")], "no such directory"),
    ], [empty, diverged, misfit, nan, ok]


def test_bad_input_is_one_line_and_writes_nothing(runs, tmp_path, capsys):
    cases, folders = bad_inputs(runs, tmp_path)
    for args, message in cases:
        assert main(["hessian", *args, "--quiet"]) == 1, args
        err = capsys.readouterr().err.strip()
        assert err.startswith("paddle-mnist: error:") and message in err and len(err.splitlines()) == 1, err
    for folder in folders:
        assert not [f for f in os.listdir(folder) if f.startswith(("hessian", "sharpness", "."))]


@pytest.mark.slow
def test_bad_input_through_the_real_command(runs, tmp_path):
    import subprocess
    import sys

    p = subprocess.run([sys.executable, "-m", "paddle_mnist", "hessian", runs["linear"], "--images", "-5"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 1 and "--images must be an integer from 1 to 1000" in p.stderr
    assert "Traceback" not in p.stderr and not os.path.exists(os.path.join(runs["linear"], "hessian.json"))


def test_synthetic_runs_find_their_data_from_the_record(runs):
    run = load_run(runs["linear"], images=10)
    assert run.record["data"]["path"] == "synthetic"
    chosen = subset_indices(1000, 10)
    assert np.array_equal(run.images, load_dataset("synthetic").train.images[chosen])


def test_the_subset_is_a_fixed_draw_not_the_first_images(real15k):
    """The real digits' training split is sorted by label: its first 1,000 are only 0s and 1s."""
    labels = load_dataset(real15k).train.labels
    assert set(labels[:1000]) == {0, 1}
    chosen = subset_indices(len(labels), 1000)
    assert np.array_equal(chosen, subset_indices(len(labels), 1000)) and len(set(chosen)) == 1000
    assert np.bincount(labels[chosen], minlength=10).min() > 60  # every digit, about 100 each
