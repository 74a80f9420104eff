"""The Hessian at a trained run (``paddle-mnist hessian``): one file per run, one table per sweep.

``RUN_DIR/hessian.json`` (``hessian-last.json``, ``hessian-init.json`` for other weights), schema
``paddle_mnist.hessian/1``::

    run, weights, status, config_id, config {model, optimizer, lr, epochs, seed, loss}
    settings            {images, hvp, top, bottom, probes, method, seed}: what a reuse must match
    subset, subset_sha256, data_sha256     which training images were measured
    top_eigenvalues, bottom_eigenvalues    [..]; residuals {top, bottom}: ‖Hv − λv‖ of each
    lambda_max, lambda_min, trace, trace_stderr, probes
    zero_tolerance      LANCZOS_TOL·|λmax|: a smallest eigenvalue closer to 0 than this is 0 as far as known
    loss, gradient_norm, weight_norm, at_critical_point, critical_rule
    verdict "minimum" | "saddle", verdict_tol, verdict_rule
    parameters, images, loss_function, workers, method, method_reason, epsilon, epsilon_rule, pattern
    lanczos {tol, top, bottom}, hvp_count, hvp_seconds, seconds, seed, paddle

``SWEEP_DIR/hessian.json``, schema ``paddle_mnist.hessian_sweep/1``: the settings above, ``weights``,
``rows`` (per finished run: SWEEP_COLUMNS and its config fields) and ``skipped`` ([{run, status}]).
"""

import json
import os

from paddle_mnist.core.errors import DataError
from paddle_mnist.core.files import read_json, write_json
from paddle_mnist.schemas.run import output_name

SCHEMA = "paddle_mnist.hessian/1"
VERDICT_TOL = 1e-2      # "minimum" when λmin ≥ −VERDICT_TOL·λmax: smaller negative values are noise
CRITICAL_TOL = 1e-3     # "at a critical point" when ‖g‖/λmax ≤ CRITICAL_TOL·‖w‖ (runners.hessian.at_critical_point)
SWEEP_SCHEMA = "paddle_mnist.hessian_sweep/1"
SWEEP_FILE = "hessian.json"  # SWEEP_DIR/hessian.json: the table `hessian SWEEP_DIR` writes
SWEEP_COLUMNS = ("run", "lambda_max", "lambda_min", "zero_tolerance", "trace", "trace_stderr", "verdict",
                 "at_critical_point", "gradient_norm", "loss", "method", "hvp_count", "subset_sha256")


def result_name(weights):
    """hessian, hessian-last or hessian-init: the run folder's file name without extension."""
    return output_name("hessian", weights)


def write_result(run_dir, result):
    """Write RUN_DIR/hessian(-WEIGHTS).json (without the list of files); returns its path."""
    path = os.path.join(run_dir, result_name(result["weights"]) + ".json")
    write_json(path, {k: v for k, v in result.items() if k != "files"})
    return path


def read_result(run_dir, weights="best"):
    """A run's earlier measurement at `weights`, or None when there is none (or not of this schema)."""
    try:
        old = read_json(os.path.join(run_dir, result_name(weights) + ".json"))
    except (OSError, ValueError):
        return None
    return old if isinstance(old, dict) and old.get("schema") == SCHEMA else None


def sweep_row(result):
    """A run's row of the sweep table: the columns and its config fields."""
    return {k: result.get(k) for k in SWEEP_COLUMNS} | result["config"]


def write_sweep(sweep_dir, table):
    """Write SWEEP_DIR/hessian.json; `table` holds weights, the settings, rows and skipped."""
    path = os.path.join(sweep_dir, SWEEP_FILE)
    write_json(path, {"schema": SWEEP_SCHEMA, **table})
    return path


def read_sweep(path):
    """The sweep table at `path`, or None when it is absent or another kind of file (e.g. a single
    run's own hessian.json); broken JSON is a DataError naming the file."""
    if not os.path.isfile(path):
        return None
    try:
        table = read_json(path)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: not a hessian sweep table (not valid JSON: {e})") from None
    return table if isinstance(table, dict) and table.get("schema") == SWEEP_SCHEMA else None
