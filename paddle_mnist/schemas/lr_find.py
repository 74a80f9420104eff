"""The learning-rate range test (``paddle-mnist lr-find``): ``OUT/lr_find.json``.

Layout (schema ``paddle_mnist.lr_find/1``)::

    optimizer, opt_args, model, batch_size, seed, start, end, steps, smoothing (beta), data
    lrs         [lr of each step]
    losses      [loss of each step]; smoothed [its bias-corrected moving average] (non-finite: null)
    stopped     null, or {step, lr, reason}: where the test stopped because the loss diverged
    suggestions {steepest, minimum_div10, minimum}: learning rates (null with too few steps, when the
                loss never fell, or for minimum_div10 below start), and reason: why one is null
"""

import os

from paddle_mnist.core.files import read_schema_json, write_json
from paddle_mnist.schemas.run import finite_or_none

SCHEMA = "paddle_mnist.lr_find/1"
LR_FIND_FILE = "lr_find.json"


def write_lr_find(out, result):
    """Write OUT/lr_find.json (atomically; non-finite losses as null); returns its path."""
    clean = dict(result, schema=SCHEMA, losses=[finite_or_none(v) for v in result["losses"]],
                 smoothed=[finite_or_none(v) for v in result["smoothed"]])
    clean.pop("files", None)
    if clean["stopped"]:
        clean["stopped"] = dict(clean["stopped"], lr=finite_or_none(clean["stopped"]["lr"]))
    path = os.path.join(out, LR_FIND_FILE)
    write_json(path, clean)
    return path


def read_lr_find(path):
    """An lr_find.json file (or the folder holding it); a bad file is a DataError naming it."""
    if os.path.isdir(path):
        path = os.path.join(path, LR_FIND_FILE)
    return read_schema_json(path, SCHEMA, "lr-find file")
