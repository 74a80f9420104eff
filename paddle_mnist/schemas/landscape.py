"""Slices through the loss landscape of a trained run (``paddle-mnist landscape``).

``RUN_DIR/landscape-KIND.json`` (``landscape-KIND-last.json`` ... for other weights), schema
``paddle_mnist.landscape/1``::

    kind        "random" | "interpolate" | "plane"
    run, weights, config {model, optimizer, lr, epochs, seed}, loss_function
    images, subset, subset_sha256, data_sha256     which training images were measured
    centre      {loss, accuracy} at the run's weights
    alphas      [α]; for a plane also betas [β]
    loss, accuracy   [value per α] (a plane: rows per β, columns per α); a non-finite loss is null
    init        (interpolate) {loss, accuracy} at the initial weights
    seed, direction  (random, plane) how the directions were drawn and normalised
    paddle      the Paddle version that ran it
"""

import os

from paddle_mnist.core.files import read_schema_json, write_json
from paddle_mnist.schemas.run import output_name

SCHEMA = "paddle_mnist.landscape/1"
KINDS = ("random", "interpolate", "plane")


def result_name(kind, weights):
    return output_name(f"landscape-{kind}", weights)


def write_landscape(run_dir, result):
    """Write RUN_DIR/landscape-KIND(-WEIGHTS).json (without the list of files); returns its path."""
    path = os.path.join(run_dir, result_name(result["kind"], result["weights"]) + ".json")
    write_json(path, {k: v for k, v in result.items() if k != "files"})
    return path


def read_landscape(path):
    """A landscape JSON file; a missing, broken or foreign file is a DataError naming it."""
    return read_schema_json(path, SCHEMA, "landscape file")
