"""train --sharpness-every / --train-images: the sharpness series, its numbers, resume, figure, CLI."""

from dataclasses import replace

import numpy as np
import paddle
import pytest

from conftest import run_cli
from paddle_mnist.analysis.report import plot
from paddle_mnist.analysis.sharpness import figure_sharpness
from paddle_mnist.core.data import Split, load_dataset
from paddle_mnist.runners.runpoint import load_weights, subset_indices
from paddle_mnist.runners.sharpness import adam_preconditioner, lanczos_top, stability_rule
from paddle_mnist.runners.train import train
from paddle_mnist.schemas.run import load_record


def small_eval(data, n=200):
    """The data with few valid/eval digits: a full-batch run scores the valid split after every step."""
    keep = subset_indices(len(data.valid.labels), n)
    part = Split(data.valid.images[keep], data.valid.labels[keep])
    return replace(data, valid=part, eval=part)


def full_batch(data, **kw):
    config = dict(model="cnn", optimizer="sgd", train_images=500, batch_size=500, sharpness_images=500, seed=0)
    config.update(kw)
    return train(config, data=data, progress=False)


def lambdas(record):
    return [(p["step"], p["lambda_max"]) for p in record["sharpness"]["points"]]


def test_lanczos_finds_the_top_eigenvalue_and_stops_at_its_tolerance():
    rng = np.random.default_rng(1)
    q, _ = np.linalg.qr(rng.standard_normal((60, 60)))
    h = q @ np.diag(np.r_[10.0, 6.0, np.linspace(-3, 3, 58)]) @ q.T
    top, vector, cold, _ = lanczos_top(lambda v: h @ v, rng.standard_normal(60), steps=40, tolerance=1e-10)
    assert top == pytest.approx(10.0, rel=1e-9)
    assert abs(vector @ q[:, 0]) == pytest.approx(1.0, rel=1e-6)
    # a warm start near the top eigenvector stops early, at the default 1 % residual, which it reports truly
    few, vector, warm, residual = lanczos_top(lambda v: h @ v, q[:, 0] + 0.1 * rng.standard_normal(60), steps=40)
    assert warm < 6 < cold and residual <= 0.01
    assert np.linalg.norm(h @ vector - few * vector) / few == pytest.approx(residual, rel=1e-6)
    assert abs(few - 10.0) <= residual * few  # an eigenvalue (here the top one) lies within the residual


def test_stability_lines():
    assert stability_rule("sgd", {})[2](0.02) == pytest.approx(100)
    assert stability_rule("momentum", {})[2](0.01) == pytest.approx(380)  # (2 + 2·0.9)/lr
    of, _, line = stability_rule("adam", {})
    assert of == "preconditioned" and line(0.001) == pytest.approx(38000)  # 38/lr
    assert stability_rule("rmsprop", {}) == (None, None, None)


def test_adam_preconditioner_is_the_step_adam_takes():
    """w_before − w_after = lr · P⁻¹ m, with P read from the optimizer's state (two steps, bias corrections on)."""
    paddle.seed(0)
    layer = paddle.nn.Linear(4, 3)
    opt = paddle.optimizer.Adam(learning_rate=0.1, parameters=layer.parameters())
    x = paddle.to_tensor(np.random.default_rng(0).standard_normal((8, 4)).astype("float32"))
    for _ in range(2):
        before = np.concatenate([p.numpy().ravel() for p in layer.parameters()])
        (layer(x) ** 2).mean().backward()
        opt.step()
        opt.clear_grad()
        after = np.concatenate([p.numpy().ravel() for p in layer.parameters()])
        state = opt.state_dict()
        m = np.concatenate([state[f"{p.name}_moment1_0"].numpy().ravel() for p in layer.parameters()])
        p_diag = adam_preconditioner(opt, layer.parameters())
        np.testing.assert_allclose(before - after, 0.1 * m / p_diag, rtol=2e-4, atol=1e-7)


@pytest.mark.slow
def test_linear_last_lambda_max_is_the_closed_form_one(real15k, tmp_path):
    """Convex case: the tracked λmax at the last step equals a power iteration on the exact Hessian
    of softmax regression, (1/n) Σ x̃x̃ᵀ ⊗ (diag p − ppᵀ), at the final weights, same 500 images."""
    data = load_dataset(real15k, progress=False)
    record = full_batch(data, model="linear", lr=0.5, epochs=20, sharpness_every=5, out=str(tmp_path / "run"))
    assert [s for s, _ in lambdas(record)] == [0, 5, 10, 15, 20]
    model = load_weights(str(tmp_path / "run"), record, "last")
    w, b = model.fc.weight.numpy().astype(np.float64), model.fc.bias.numpy().astype(np.float64)
    chosen = subset_indices(len(data.train.labels), 500)
    x = data.train.images[chosen].reshape(500, -1).astype(np.float64)
    logits = x @ w + b
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    xt = np.hstack([x, np.ones((500, 1))])

    def hessian_times(v):  # v: [785, 10], the weights and the bias row
        z = xt @ v
        return xt.T @ (p * z - p * (p * z).sum(1, keepdims=True)) / 500

    v = np.random.default_rng(0).standard_normal((785, 10))
    for _ in range(500):
        v = hessian_times(v)
        v /= np.linalg.norm(v)
    exact = float(np.sum(v * hessian_times(v)))
    assert lambdas(record)[-1][1] == pytest.approx(exact, rel=0.02)


@pytest.mark.slow
def test_sharpness_leaves_training_alone_and_resume_continues_the_series(real15k, tmp_path):
    data = load_dataset(real15k, progress=False)
    config = dict(model="linear", lr=0.5, epochs=6, batch_size=250, sharpness_every=3, sharpness_images=500,
                  train_images=500)
    plain = train(dict(config, sharpness_every=None, sharpness_images=None), data=data, progress=False)
    whole = train(config, data=data, progress=False)
    assert whole["steps"]["loss"] == plain["steps"]["loss"]  # measuring never moves the weights
    assert [s for s, _ in lambdas(whole)] == [0, 3, 6, 9, 12]

    out = str(tmp_path / "run")
    epochs = []

    def stop_after_three(folder):
        epochs.append(1)
        if len(epochs) == 3:
            raise KeyboardInterrupt

    cut = train(dict(config, out=out), data=data, progress=False, on_save=stop_after_three)
    assert cut["status"] == "interrupted" and [s for s, _ in lambdas(cut)] == [0, 3, 6]
    resumed = train(dict(config, out=out, resume=True), data=data, progress=False)
    assert resumed["status"] == "completed"
    assert [s for s, _ in lambdas(resumed)] == [0, 3, 6, 9, 12]
    assert lambdas(resumed)[:3] == lambdas(whole)[:3]
    for (_, a), (_, b) in zip(lambdas(resumed), lambdas(whole)):  # after the resume: a cold Lanczos start
        assert a == pytest.approx(b, rel=0.03)  # 20 cold steps against 4 warm ones: measured 1.8 % apart
    assert load_record(out)["sharpness"]["points"] == resumed["sharpness"]["points"]


def test_adam_records_its_preconditioned_value(small):
    record = train(dict(model="linear", optimizer="adam", lr=0.001, epochs=2, sharpness_every=2), data=small,
                   progress=False)
    points = record["sharpness"]["points"]
    assert points[0]["preconditioned"] is None  # no step taken: no preconditioner yet
    assert all(p["preconditioned"] > 0 and p["threshold"] == pytest.approx(38000) for p in points[1:])
    assert record["sharpness"]["stability"]["of"] == "preconditioned"


@pytest.mark.slow
def test_plot_draws_the_sharpness_figure(small, tmp_path):
    for lr in (0.05, 0.5):
        train(dict(model="linear", lr=lr, epochs=2, sharpness_every=2, out=str(tmp_path / f"lr{lr}")), data=small,
              progress=False)
    result = plot(str(tmp_path))
    assert (tmp_path / "sharpness.png").stat().st_size > 10_000
    top = result["figures"]["sharpness"].axes[0]
    assert len(top.lines) == 4  # λmax and its stability line for each lr
    with pytest.raises(Exception, match="sharpness"):
        figure_sharpness([load_record(str(tmp_path / "lr0.5")) | {"sharpness": None}])


@pytest.mark.slow
def test_cli_refuses_bad_sharpness_flags(small, tmp_path):
    bad = run_cli("train", "--data", "synthetic", "--train-images", "100", "--sharpness-every", "5",
                  "--sharpness-images", "200", "--epochs", "1", cwd=tmp_path)
    assert bad.returncode == 1 and bad.stderr.strip().count("\n") == 0
    assert "--sharpness-images must be at most 100" in bad.stderr
    bad = run_cli("train", "--data", "synthetic", "--train-images", "5000", "--epochs", "1", cwd=tmp_path)
    assert bad.returncode == 1 and "--train-images must be at most" in bad.stderr
    bad = run_cli("train", "--data", "synthetic", "--sharpness-images", "50", "--epochs", "1", cwd=tmp_path)
    assert bad.returncode == 1 and "--sharpness-images needs --sharpness-every" in bad.stderr
    assert not list(tmp_path.iterdir()) or not any(tmp_path.rglob("record.json"))


@pytest.mark.slow
def test_cnn_lr100_records_lambda_above_two_over_lr_before_diverging(real15k):
    data = small_eval(load_dataset(real15k, progress=False))
    record = full_batch(data, lr=100.0, epochs=10, batch_size=100, sharpness_every=5, sharpness_images=100)
    assert record["status"] == "diverged"
    before = [lam for step, lam in lambdas(record) if step < record["divergence"]["step"] and lam is not None]
    assert before and max(before) > 2 / 100.0


@pytest.mark.long
def test_full_batch_sgd_sits_at_the_edge_of_stability(real15k):
    """Cohen et al. 2021 on the course's CNN: 300 full-batch steps at lr 0.02 on 500 real digits."""
    data = small_eval(load_dataset(real15k, progress=False))
    record = full_batch(data, lr=0.02, epochs=300, sharpness_every=10)
    points = lambdas(record)
    assert points[0][0] == 0 and points[0][1] > 100  # starts above 2/lr: the catapult follows
    last_third = [lam for step, lam in points if step >= 200]
    assert 70 <= np.median(last_third) <= 130
