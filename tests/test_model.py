"""The course's networks: output shapes, parameter counts, state-dict keys (checkpoints depend on them)."""

import numpy as np
import paddle
import pytest

from paddle_mnist.core.errors import ConfigError
from paddle_mnist.core.model import MNIST, CourseMNIST, build_model


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


def digit_like(rng, n):
    """Digits with an exactly black background, as MNIST has: many equal values in a pool window."""
    from paddle_mnist.core.data.synthetic import make_split

    imgs, labels = make_split(n, rng)
    imgs[imgs < 0.3] = 0.0
    return paddle.to_tensor(imgs), paddle.to_tensor(labels.reshape(-1, 1))


def test_pool_first_order_equals_the_course_order_in_values_gradients_and_steps():
    paddle.seed(0)
    fast, course = MNIST(), CourseMNIST()
    course.set_state_dict(fast.state_dict())
    assert list(fast.state_dict()) == list(course.state_dict())
    opts = [paddle.optimizer.SGD(learning_rate=0.1, parameters=m.parameters()) for m in (fast, course)]
    rng = np.random.default_rng(0)
    for step in range(3):
        x, y = digit_like(rng, 16)
        assert float((x == 0).astype("float32").mean()) > 0.5  # ties in most pool windows
        outs = []
        for model, opt in zip((fast, course), opts):
            logits = model(x)
            paddle.nn.functional.cross_entropy(logits, y).backward()
            outs.append((logits.numpy(), {k: p.grad.numpy() for k, p in model.named_parameters()}))
            opt.step()
            opt.clear_grad()
        np.testing.assert_allclose(outs[0][0], outs[1][0], rtol=1e-5, atol=1e-5)
        for key in outs[1][1]:
            np.testing.assert_allclose(outs[0][1][key], outs[1][1][key], rtol=1e-5, atol=1e-6, err_msg=key)
            assert np.abs(outs[1][1][key]).sum() > 0, key  # every parameter got a gradient to compare
    for key, value in course.state_dict().items():
        np.testing.assert_allclose(fast.state_dict()[key].numpy(), value.numpy(), rtol=1e-5, atol=1e-6)


def test_a_bias_that_moves_values_across_zero_changes_nothing():
    # ReLU(max(v) + b) == max(ReLU(v + b)) also when b pushes some values of a window below zero
    paddle.seed(3)
    fast, course = MNIST(), CourseMNIST()
    with paddle.no_grad():
        fast.conv1.bias.set_value(paddle.linspace(-0.5, 0.5, 20))
        fast.conv2.bias.set_value(paddle.linspace(0.4, -0.4, 20))
    course.set_state_dict(fast.state_dict())
    x, _ = digit_like(np.random.default_rng(4), 8)
    np.testing.assert_allclose(fast(x).numpy(), course(x).numpy(), rtol=1e-5, atol=1e-6)


def test_checkpoint_of_the_course_model_loads_into_mnist(tmp_path):
    paddle.seed(1)
    course = CourseMNIST()
    paddle.save(course.state_dict(), str(tmp_path / "course.pdparams"))
    model = MNIST()
    model.set_state_dict(paddle.load(str(tmp_path / "course.pdparams")))
    x = paddle.to_tensor(np.random.default_rng(2).random((2, 1, 28, 28), dtype=np.float32))
    np.testing.assert_allclose(model(x).numpy(), course(x).numpy(), rtol=1e-5, atol=1e-6)
