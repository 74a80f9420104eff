"""Optimizer trajectories on one plane of the real network's loss surface (``paddle-mnist trajectory``).

``SWEEP_DIR/trajectory.json`` (or ``RUN_DIR/trajectory.json`` for one run), schema
``paddle_mnist.trajectory/1``. Every coordinate is in weight units (the plane's two directions are
orthonormal), measured from the origin, the runs' shared initial weights::

    plane              "pca" | "ends"
    ends               (ends) [RUN_A, RUN_B]: the plane holds the origin and these runs' final weights
    explained_variance (pca) [v1, v2]: the share of the squared distances from the origin (all
                       runs' saved weights) along each direction; v1 + v2 <= 1
    origin             {loss, accuracy} at the initial weights
    grid               {alphas: [a], betas: [b], loss: [[...]], accuracy: [[...]]}: rows per b,
                       columns per a; a non-finite loss is null
    runs               [{name, optimizer, lr, config, steps_per_epoch, trajectory_sha256,
                         steps:  [the optimizer step of each saved point, 0 first],
                         epoch_ends: [indices of the points at the end of an epoch],
                         points: [[a, b], ...] each saved weight vector's projection, from the origin on,
                         own_loss, own_accuracy: [...] each saved weight vector's own values,
                         plane_loss, plane_accuracy: [...] the values at its projection on the plane,
                         off_plane: [...] its distance from the plane}]
    model, loss_function, images, subset, subset_sha256, data_sha256: what was measured, on which images
    init_weights_sha256  the shared origin's fingerprint (the runs' record.fairness)
    paddle             the Paddle version that measured it

``own_loss`` and ``plane_loss`` differ where a point lies off the plane: the contour under a path is a
shadow of the surface the run walked, true only where ``off_plane`` is 0.
"""

import os

from paddle_mnist.core.errors import DataError
from paddle_mnist.core.files import read_schema_json, write_json

SCHEMA = "paddle_mnist.trajectory/1"
FILE = "trajectory.json"
PLANES = ("pca", "ends")
RUN_FIELDS = ("name", "optimizer", "steps", "epoch_ends", "points", "own_loss", "plane_loss", "off_plane")


def write_trajectory(directory, result):
    """Write DIRECTORY/trajectory.json (without the list of files); returns its path."""
    path = os.path.join(directory, FILE)
    write_json(path, {k: v for k, v in result.items() if k != "files"})
    return path


def read_trajectory(path):
    """A trajectory JSON file (or the folder holding it); a missing, broken or foreign one is a
    DataError naming it."""
    if os.path.isdir(path):
        path = os.path.join(path, FILE)
    result = read_schema_json(path, SCHEMA, "trajectory file")
    missing = [k for k in ("plane", "origin", "grid", "runs") if k not in result]
    missing += [f"runs[{i}].{k}" for i, run in enumerate(result.get("runs") or []) for k in RUN_FIELDS
                if k not in run]
    if missing or result["plane"] not in PLANES:
        raise DataError(f"{path}: not a complete trajectory file (missing or wrong: {', '.join(missing) or 'plane'})")
    return result
