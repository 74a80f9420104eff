"""Loss functions by name: logits [B, 10] float32 and labels [B, 1] int64 -> the batch's mean loss.

Try them against each other: ``nll`` on log-softmax gives the very same numbers as
``cross_entropy`` (cross-entropy *is* softmax + negative log-likelihood), and ``mse`` on
probabilities learns slower, because its gradient vanishes when the net is confidently wrong.
"""

import paddle
import paddle.nn.functional as F

from paddle_mnist.core.errors import ConfigError

LOSSES = ("cross_entropy", "nll", "mse")

LOSS_INFO = {
    "cross_entropy": "softmax cross-entropy on the logits (the course's choice; default)",
    "nll": "negative log-likelihood of log_softmax(logits): the same numbers as cross_entropy",
    "mse": "squared error between softmax(logits) and the one-hot label, summed over the 10 classes",
}


def cross_entropy(logits, labels):
    """Mean over the batch of -log softmax(logits)[label]."""
    return F.cross_entropy(logits, labels.reshape([-1]))


def nll(logits, labels):
    """Negative log-likelihood of the log-probabilities: cross-entropy written in two steps."""
    return F.nll_loss(F.log_softmax(logits, axis=-1), labels.reshape([-1]))


def mse(logits, labels):
    """sum_k (softmax(logits)_k - onehot(label)_k)^2, averaged over the batch (in [0, 2]).

    Summed, not averaged, over the classes: that is each image's squared distance from the
    right answer (the Brier score), and it does not shrink the gradient 10 times.
    """
    probs = F.softmax(logits, axis=-1)
    onehot = F.one_hot(labels.reshape([-1]), num_classes=logits.shape[-1]).astype(probs.dtype)
    return paddle.sum(paddle.square(probs - onehot), axis=-1).mean()


def build_loss(name="cross_entropy"):
    """The loss function called `name` (one of LOSSES)."""
    functions = {"cross_entropy": cross_entropy, "nll": nll, "mse": mse}
    if name not in functions:
        raise ConfigError(f"unknown loss {name!r}; choose one of: {', '.join(LOSSES)}")
    return functions[name]
