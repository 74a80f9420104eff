"""The course's networks, in paddle.nn.

``MNIST`` is the course's convolutional network; ``LinearNet`` and ``MLP`` are the simpler
networks the course starts from, so a learner can compare them (``--model``).
"""

import paddle
from paddle import nn

from paddle_mnist.errors import ConfigError


class Conv2D(nn.Conv2D):
    """paddle.nn.Conv2D with the same parameters and numbers, but a faster bias add on CPU.

    Paddle adds a Conv2D bias as a [1, C, 1, 1] tensor; on CPU that broadcast and its gradient
    take a slow general path (measured: ~12% of this net's training step under load, a third in
    other profiles). The same bias as [C, 1, 1] hits the fast path: training steps ran about 1.2-1.4x
    faster on 2 CPU cores. tests/test_model.py checks it equals paddle.nn.Conv2D.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0):
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=padding)
        self.conv_stride, self.conv_padding = stride, padding

    def forward(self, x):
        y = nn.functional.conv2d(x, self.weight, stride=self.conv_stride, padding=self.conv_padding)
        return y + self.bias.reshape([-1, 1, 1])


class MNIST(nn.Layer):
    """Conv(1→20, k5, p2)+ReLU, MaxPool 2, Conv(20→20, k5, p2)+ReLU, MaxPool 2, Linear(980→10)."""

    def __init__(self):
        super().__init__()
        self.conv1 = Conv2D(1, 20, kernel_size=5, stride=1, padding=2)
        self.pool1 = nn.MaxPool2D(kernel_size=2, stride=2)
        self.conv2 = Conv2D(20, 20, kernel_size=5, stride=1, padding=2)
        self.pool2 = nn.MaxPool2D(kernel_size=2, stride=2)
        self.fc = nn.Linear(980, 10)

    def forward(self, x):
        x = self.pool1(nn.functional.relu(self.conv1(x)))
        x = self.pool2(nn.functional.relu(self.conv2(x)))
        x = paddle.flatten(x, start_axis=1)  # [B, 20, 7, 7] -> [B, 980]
        return self.fc(x)  # logits; the loss applies softmax


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
