"""Weights as one flat vector, their fingerprint, and the loss at any point.

The exploring tools (hessian, landscape, sharpness, trajectory) all treat a network's trainable
weights as one float64 vector w; these are the few helpers they share, in one place.
"""

import hashlib

import numpy as np
import paddle

from paddle_mnist.core.loss import build_loss

CHUNK = 250  # images per forward pass


def weights_hash(model):
    h = hashlib.sha256()
    for key, value in sorted(model.state_dict().items()):
        h.update(key.encode())
        h.update(np.ascontiguousarray(value.numpy()).tobytes())
    return h.hexdigest()



def trainable(model):
    return [p for p in model.parameters() if not p.stop_gradient]


def get_flat(params):
    """The parameters as one float64 vector (in ``model.parameters()`` order)."""
    return np.concatenate([p.numpy().astype(np.float64).ravel() for p in params])


def set_flat(params, flat):
    sizes = [int(np.prod(p.shape)) for p in params]
    for p, piece in zip(params, np.split(np.asarray(flat), np.cumsum(sizes)[:-1])):
        p.set_value(piece.reshape(p.shape).astype(np.float32))


def loss_and_accuracy(model, images, labels, loss="cross_entropy", chunk=CHUNK):
    """Mean loss (the run's loss function, summed in float64) and accuracy on the subset."""
    loss_fn, n = build_loss(loss), len(labels)
    total, correct = 0.0, 0
    with paddle.no_grad():
        for i in range(0, n, chunk):
            logits = model(paddle.to_tensor(images[i:i + chunk]))
            y = paddle.to_tensor(labels[i:i + chunk].reshape(-1, 1))
            total += float(loss_fn(logits, y)) * len(y)
            correct += int((logits.argmax(axis=1) == y[:, 0]).sum())
    return total / n, correct / n
