"""Optimizer paths on a 2-D surface: ``OUT/paths_<surface>.json``, one per surface (``paddle-mnist paths``).

Layout (schema ``paddle_mnist.paths/1``)::

    schema, surface, formula, lesson     which surface (``core.surfaces``) and what it teaches
    box [xmin, xmax, ymin, ymax], minima [[x, y]], saddles [[x, y]], f_star
    start [x, y], steps, noise, seed     the request
    lr_rule "auto" | "given", lr_grid [lrs] or null, reached_threshold (f - f* below it: reached)
    critical_points  [{point, kind, hessian, eigenvalues, verdict, grad_norm, stationary}]
    optimizers  [{name, lr, overrides, points [[x, y]], f [...], left_box_at, diverged, reached_at,
                  end {point, f, verdict, (hessian, eigenvalues, grad_norm, stationary)},
                  trials [{lr, final_f, left_box_at}]}]
    paddle      the Paddle version that ran it

A path is written up to where it left the box (a non-finite point is not written).
"""

import os

from paddle_mnist.core.errors import DataError
from paddle_mnist.core.files import read_json, write_json
from paddle_mnist.core.surfaces import SURFACES

SCHEMA = "paddle_mnist.paths/1"


def paths_file(out, surface):
    return os.path.join(out, f"paths_{surface}.json")


def write_paths(out, run):
    """Write OUT/paths_<surface>.json (atomically); returns its path."""
    path = paths_file(out, run["surface"])
    write_json(path, run)
    return path


def load_paths(path):
    """A paths.json file, checked enough to draw (DataError naming the file otherwise)."""
    try:
        run = read_json(path)
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: cannot read paths JSON ({e})") from None
    if not isinstance(run, dict) or run.get("schema") != SCHEMA or run.get("surface") not in SURFACES:
        raise DataError(f"{path}: not a paths file of this version "
                        f"(expected schema {SCHEMA!r} and a known surface)")
    return run
