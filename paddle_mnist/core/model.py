"""The course's networks, in paddle.nn.

``MNIST`` is the course's convolutional network; ``LinearNet`` and ``MLP`` are the simpler
networks the course starts from, so a learner can compare them (``--model``).
"""

import paddle
from paddle import nn

from paddle_mnist.core.errors import ConfigError


# The course's convolutions: 5x5 kernels, stride 1, padding 2 (the image size is kept).
KERNEL, STRIDE, PADDING = 5, 1, 2


class MNIST(nn.Layer):
    """The course's network: Conv(1→20, k5, p2) + ReLU, MaxPool 2, Conv(20→20, k5, p2) + ReLU,
    MaxPool 2, Linear(980→10).

    Plain ``paddle.nn`` layers with the course's names, so checkpoints are the course's. ``forward``
    runs each conv + ReLU + pool block in a cheaper order that gives the same numbers (see
    ``conv_relu_pool``); ``CourseMNIST`` below is the course's order, and
    tests/test_model.py::test_pool_first_order_equals_the_course_order_in_values_gradients_and_steps
    checks the two agree.
    """

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2D(1, 20, kernel_size=KERNEL, stride=STRIDE, padding=PADDING)
        self.pool1 = nn.MaxPool2D(kernel_size=2, stride=2, return_mask=True)
        self.conv2 = nn.Conv2D(20, 20, kernel_size=KERNEL, stride=STRIDE, padding=PADDING)
        self.pool2 = nn.MaxPool2D(kernel_size=2, stride=2, return_mask=True)
        self.fc = nn.Linear(980, 10)

    def forward(self, x):
        # the course: x = pool(relu(conv(x))) twice, then the fully connected layer
        x = conv_relu_pool(x, self.conv1, self.pool1)  # [B, 1, 28, 28] -> [B, 20, 14, 14]
        x = conv_relu_pool(x, self.conv2, self.pool2)  # -> [B, 20, 7, 7]
        x = paddle.flatten(x, start_axis=1)  # -> [B, 980]
        return self.fc(x)  # logits; the loss applies softmax


def conv_relu_pool(x, conv, pool):
    """The course's block, ``pool(relu(conv(x)))``, computed as ``relu(pool(conv(x) without bias) + bias)``.

    Both give the same numbers and gradients: max-pooling picks the largest value of each 2x2
    window, and adding a per-channel bias or applying ReLU never changes which value is largest.
    Pooling first makes the bias add and the ReLU touch 4x fewer values, and a pool that keeps
    where its maxima were (``return_mask``) has a much cheaper backward pass on CPU: the course's
    loop trained 1.4-1.8x more images/s with it on one CPU thread (tools/bench.py train).
    """
    y = nn.functional.conv2d(x, conv.weight, stride=STRIDE, padding=PADDING)
    y, _ = pool(y)  # pool is an nn.MaxPool2D with return_mask=True: (values, positions of the maxima)
    return nn.functional.relu(y + conv.bias.reshape([-1, 1, 1]))


class CourseMNIST(nn.Layer):
    """The course's network as the course writes it (conv -> ReLU -> pool): the reference ``MNIST``
    is tested and benchmarked against. Same parameters, so checkpoints move freely between them."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2D(1, 20, kernel_size=KERNEL, stride=STRIDE, padding=PADDING)
        self.pool1 = nn.MaxPool2D(kernel_size=2, stride=2)
        self.conv2 = nn.Conv2D(20, 20, kernel_size=KERNEL, stride=STRIDE, padding=PADDING)
        self.pool2 = nn.MaxPool2D(kernel_size=2, stride=2)
        self.fc = nn.Linear(980, 10)

    def forward(self, x):
        x = self.pool1(nn.functional.relu(self.conv1(x)))
        x = self.pool2(nn.functional.relu(self.conv2(x)))
        return self.fc(paddle.flatten(x, start_axis=1))


class LinearNet(nn.Layer):
    """The course's first model: one fully connected layer, 784 pixels → 10 logits."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(784, 10)

    def forward(self, x):
        return self.fc(paddle.flatten(x, start_axis=1))


class MLP(nn.Layer):
    """The course's multilayer perceptron: 784 → 10 → 10 with sigmoid, then → 10 logits."""

    def __init__(self, hidden=10):
        super().__init__()
        self.fc1 = nn.Linear(784, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.fc3 = nn.Linear(hidden, 10)

    def forward(self, x):
        x = nn.functional.sigmoid(self.fc1(paddle.flatten(x, start_axis=1)))
        x = nn.functional.sigmoid(self.fc2(x))
        return self.fc3(x)


MODELS = {"cnn": MNIST, "linear": LinearNet, "mlp": MLP}


def build_model(name="cnn"):
    """A fresh network by name (``cnn`` is the course's ``MNIST``)."""
    if name not in MODELS:
        raise ConfigError(f"unknown model {name!r}; choose one of: {', '.join(MODELS)}")
    return MODELS[name]()
