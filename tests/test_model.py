"""The course's networks: output shapes, parameter counts, state-dict keys (checkpoints depend on them)."""

import numpy as np
import paddle
import pytest

from paddle_mnist.errors import ConfigError
from paddle_mnist.model import MNIST, build_model


@pytest.mark.parametrize("name", ["cnn", "linear", "mlp"])
@pytest.mark.parametrize("batch", [1, 3])
def test_output_is_batch_by_ten(name, batch):
    model = build_model(name)
    x = paddle.to_tensor(np.random.default_rng(0).random((batch, 1, 28, 28), dtype=np.float32))
    out = model(x)
    assert out.shape == [batch, 10] and out.dtype == paddle.float32


def count(model):
    return sum(int(np.prod(p.shape)) for p in model.parameters())


def test_parameter_counts():
    assert count(build_model("cnn")) == (20 * 1 * 25 + 20) + (20 * 20 * 25 + 20) + (980 * 10 + 10) == 20350
    assert count(build_model("linear")) == 784 * 10 + 10
    assert count(build_model("mlp")) == (784 * 10 + 10) + (10 * 10 + 10) + (10 * 10 + 10)


def test_cnn_is_the_course_mnist_with_stable_state_dict_keys():
    model = build_model("cnn")
    assert isinstance(model, MNIST)
    shapes = {k: list(v.shape) for k, v in model.state_dict().items()}
    assert shapes == {"conv1.weight": [20, 1, 5, 5], "conv1.bias": [20], "conv2.weight": [20, 20, 5, 5],
                      "conv2.bias": [20], "fc.weight": [980, 10], "fc.bias": [10]}


def test_cnn_forward_is_deterministic_and_uses_every_pixel():
    paddle.seed(0)
    model = MNIST()
    x = np.random.default_rng(1).random((2, 1, 28, 28), dtype=np.float32)
    a = model(paddle.to_tensor(x)).numpy()
    np.testing.assert_array_equal(a, model(paddle.to_tensor(x)).numpy())
    x[:, :, 27, 27] += 1.0  # a corner pixel still reaches the logits (padding 2 keeps the borders)
    assert not np.allclose(a, model(paddle.to_tensor(x)).numpy())


def test_unknown_model_is_config_error():
    with pytest.raises(ConfigError) as e:
        build_model("resnet")
    assert "'resnet'" in str(e.value) and "cnn, linear, mlp" in str(e.value)
