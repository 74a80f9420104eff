"""Losses: values against numpy, nll == cross_entropy, mse on a known example."""

import numpy as np
import paddle
import pytest

from paddle_mnist.core.errors import ConfigError
from paddle_mnist.core.loss import LOSSES, build_loss

LOGITS = np.array([[2.0, 1.0, 0.1, -1.0, 0.0, 0.5, 3.0, -2.0, 1.5, 0.2],
                   [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
                   [-1.0, 4.0, 0.3, 0.3, 2.0, -0.5, 0.0, 1.0, 0.0, -3.0]], dtype=np.float32)
LABELS = np.array([[6], [3], [0]], dtype=np.int64)


def numpy_softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def call(name, logits=LOGITS, labels=LABELS):
    return build_loss(name)(paddle.to_tensor(logits), paddle.to_tensor(labels))


def test_cross_entropy_matches_numpy():
    p = numpy_softmax(LOGITS.astype(np.float64))
    expected = -np.mean(np.log(p[np.arange(3), LABELS[:, 0]]))
    loss = call("cross_entropy")
    assert loss.shape == [] and loss.dtype == paddle.float32
    assert float(loss) == pytest.approx(expected, rel=1e-6)


def test_nll_on_log_softmax_is_cross_entropy():
    rng = np.random.default_rng(0)
    logits = (rng.standard_normal((64, 10)) * 5).astype(np.float32)
    labels = rng.integers(0, 10, (64, 1)).astype(np.int64)
    assert float(call("nll", logits, labels)) == pytest.approx(float(call("cross_entropy", logits, labels)), rel=1e-6)


def test_mse_on_a_known_example():
    # all-zero logits: probabilities 0.1 each; (0.1 - 1)^2 + 9 * 0.1^2 = 0.9
    assert float(call("mse", np.zeros((2, 10), np.float32), np.array([[3], [7]]))) == pytest.approx(0.9, rel=1e-6)
    # a confident right answer costs ~0, a confident wrong one ~2 (the maximum)
    confident = np.full((2, 10), -50.0, np.float32)
    confident[0, 4] = confident[1, 5] = 50.0
    assert float(call("mse", confident, np.array([[4], [4]]))) == pytest.approx(1.0, abs=1e-6)  # (0 + 2) / 2


def test_mse_matches_numpy():
    p = numpy_softmax(LOGITS.astype(np.float64))
    onehot = np.eye(10)[LABELS[:, 0]]
    expected = np.mean(np.sum((p - onehot) ** 2, axis=1))
    assert float(call("mse")) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("name", LOSSES)
def test_labels_may_be_flat_and_gradients_flow(name):
    logits = paddle.to_tensor(LOGITS, stop_gradient=False)
    flat = build_loss(name)(logits, paddle.to_tensor(LABELS[:, 0]))
    assert float(flat) == pytest.approx(float(call(name)), rel=1e-6)
    flat.backward()
    assert logits.grad is not None and float(paddle.abs(logits.grad).sum()) > 0


def test_mse_gradient_vanishes_when_confidently_wrong():
    """The lesson: cross-entropy still pushes hard where mse on probabilities barely moves."""
    wrong = np.full((1, 10), -10.0, np.float32)
    wrong[0, 0] = 10.0
    grads = {}
    for name in ("cross_entropy", "mse"):
        logits = paddle.to_tensor(wrong, stop_gradient=False)
        build_loss(name)(logits, paddle.to_tensor(np.array([[1]]))).backward()
        grads[name] = float(paddle.abs(logits.grad).sum())
    assert grads["cross_entropy"] > 1.0 > 1e3 * grads["mse"]


def test_default_is_cross_entropy_and_unknown_is_config_error():
    assert build_loss() is build_loss("cross_entropy")
    with pytest.raises(ConfigError) as e:
        build_loss("hinge")
    assert "'hinge'" in str(e.value) and "cross_entropy, nll, mse" in str(e.value)
