"""A tuning run (``paddle-mnist tune``): ``OUT/tune.json`` beside the runs of ``trials/`` and ``final/``.

Layout (schema ``paddle_mnist.tune/1``; accuracies are fractions, ``run`` paths are relative to the
tune folder)::

    settings    optimizers, budget, lr_ranges {NAME: [lo, hi]}, epochs, seed (of the trials),
                final_seeds [seeds of the reruns], course_lr (the course's lr, 0.01, for the table's
                comparison column), data, data_sha256, executor, shared (other fields)
    optimizers  {NAME: {"trials": [{"lr", "status", "valid_acc", "run"}, ...],
                        "expected_best": [{"k", "mean", "std"}, ...],
                        "chosen_lr": lr,
                        "final": [{"seed", "eval_acc", "run"}, ...]}}
    table       [{"optimizer", "chosen_lr", "runs", "mean", "std", "diverged",
                  "course": null or {"lr": 0.01, "runs", "mean", "std", "seeds", "diverged"}}, ...]

A trial's ``valid_acc`` is its final-epoch validation accuracy; a diverged run (status "diverged")
counts as chance, CHANCE = 10 %.
"""

import os

from paddle_mnist.core.errors import DataError
from paddle_mnist.core.files import read_schema_json, write_json

SCHEMA = "paddle_mnist.tune/1"
TUNE_FILE = "tune.json"
TRIALS, FINAL = "trials", "final"  # the two sweep folders inside a tune folder
CHANCE = 0.1      # what a diverged run counts as: ten classes


def is_tune_folder(directory):
    """True for a folder `paddle-mnist tune` wrote (it holds tune.json)."""
    return os.path.isfile(os.path.join(directory, TUNE_FILE))


def write_tune(out, result):
    """Write OUT/tune.json (atomically); returns its path."""
    path = os.path.join(out, TUNE_FILE)
    write_json(path, {"schema": SCHEMA, **{k: v for k, v in result.items() if k != "schema"}})
    return path


def load_tune(directory):
    """The content of DIRECTORY/tune.json; a missing or foreign file is a DataError naming it."""
    path = os.path.join(directory, TUNE_FILE)
    result = read_schema_json(path, SCHEMA, "tune file")
    if not isinstance(result.get("optimizers"), dict) or not isinstance(result.get("settings"), dict):
        raise DataError(f"{path}: not a tune file (no optimizers and settings)")
    return result
