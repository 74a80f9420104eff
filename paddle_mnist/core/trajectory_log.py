"""``train --trajectory EVERY``: the run's weights along the way, for `paddle-mnist trajectory`.

The trainable weights (``core/weights.py``), flattened, are kept at step 0 (the initial weights),
every EVERY optimizer steps and at the end of every epoch (so the end of the run is always there,
and every epoch has its mark). They are kept as float32, the precision Paddle trains in: nothing is
lost by it. The file ``trajectory.npz`` in the run folder holds two arrays:

    steps    int64 [n]: the optimizer step after which each vector was taken (0 = before training)
    weights  float32 [n, P]: the P trainable weights, in ``model.parameters()`` order

It is rewritten, atomically, after every epoch and before the run record: a run killed at any moment
keeps every finished epoch's points, and ``--resume`` continues the file from the resumed epoch.
"""

import os

import numpy as np

from paddle_mnist.core.errors import DataError
from paddle_mnist.core.files import atomic_path
from paddle_mnist.core.weights import get_flat, trainable

TRAJECTORY_FILE = "trajectory.npz"
SAVED_AT = "step 0, every EVERY steps, and the end of every epoch"


def read_points(path):
    """(steps, weights) of a trajectory file; a missing or broken one is a DataError naming it."""
    try:
        with np.load(path) as f:
            steps, weights = np.asarray(f["steps"], dtype=np.int64), np.asarray(f["weights"])
    except FileNotFoundError:
        raise DataError(f"{path}: no such trajectory file (train with --trajectory EVERY)") from None
    except (OSError, ValueError, KeyError) as e:
        raise DataError(f"{path}: not a trajectory file ({e})") from None
    if weights.ndim != 2 or len(steps) != len(weights) or len(steps) == 0:
        raise DataError(f"{path}: not a trajectory file (steps and weights do not match)")
    return steps, weights


class TrajectoryLog:
    """Keeps the flat weights of a training run (see the module docstring); does nothing when
    `every` is None. `step` is the number of steps already done (a resumed run's epochs)."""

    def __init__(self, model, every, out, step=0):
        self.every, self.step = every, step
        self.steps, self.weights = [], []
        if not every:
            return
        self.params, self.path = trainable(model), os.path.join(out, TRAJECTORY_FILE)
        if step and os.path.exists(self.path):  # resume: keep the points of the finished epochs
            steps, weights = read_points(self.path)
            keep = steps <= step
            self.steps, self.weights = steps[keep].tolist(), list(weights[keep])
        if not self.steps:
            self._take()

    def _take(self):
        self.steps.append(self.step)
        self.weights.append(get_flat(self.params).astype(np.float32))

    def on_step(self):
        """After each optimizer step."""
        if self.every:
            self.step += 1
            if self.step % self.every == 0:
                self._take()

    def end_epoch(self, record):
        """After an epoch: take its last weights, rewrite the file, name it in the record."""
        if not self.every:
            return
        if self.steps[-1] != self.step:
            self._take()
        with atomic_path(self.path) as tmp:
            with open(tmp, "wb") as f:  # a file object: np.savez would add ".npz" to a path
                np.savez(f, steps=np.asarray(self.steps, dtype=np.int64), weights=np.stack(self.weights))
        record["trajectory"] = {"file": TRAJECTORY_FILE, "every": self.every, "points": len(self.steps),
                                "dtype": "float32", "saved_at": SAVED_AT}
