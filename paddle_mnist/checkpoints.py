"""Every weights, optimizer-state and checkpoint file the project writes or reads goes through here.

``save_state`` is ``paddle.save`` written atomically; ``load_state`` is the one reader of such files,
so checks on what a file may contain live in one place.
"""

import os

import paddle

from paddle_mnist.errors import DataError
from paddle_mnist.files import atomic_path

BEST_PARAMS, BEST_OPT = "best.pdparams", "best.pdopt"
LAST_CHECKPOINT = "last.pdckpt"  # model + optimizer (+ lr schedule) + epoch, one file: resume point


def save_state(obj, path):
    """paddle.save, atomically."""
    with atomic_path(path) as tmp:
        paddle.save(obj, tmp)


def load_state(path):
    """Read a file written by ``paddle.save`` (a state_dict, an optimizer state or a checkpoint):
    nested dicts of numpy arrays and plain values. Any failure is a DataError naming the file."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DataError(f"{path}: no such file")
    try:
        return paddle.load(path, return_numpy=True)
    except Exception as e:  # paddle.load raises many kinds for a bad file
        raise DataError(f"{path}: not a readable Paddle checkpoint ({type(e).__name__}: "
                        f"{str(e).splitlines()[0] if str(e) else 'unreadable'})") from None


def save_best(out, model, optimizer):
    """The best epoch's weights and optimizer state, in a run folder."""
    save_state(model.state_dict(), os.path.join(out, BEST_PARAMS))
    save_state(optimizer.state_dict(), os.path.join(out, BEST_OPT))


def save_last(out, model, optimizer, epoch):
    """The resume point of a run folder."""
    save_state({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch},
               os.path.join(out, LAST_CHECKPOINT))
