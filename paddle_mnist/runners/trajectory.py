"""`paddle-mnist trajectory`: the runs of a sweep walking one plane of the real loss surface.

A fair sweep starts every run from the same weights w0 (the origin). Runs trained with
``--trajectory EVERY`` saved their weights along the way (``core/trajectory_log.py``). This module
picks a plane through w0, projects every saved point onto it, and measures the training loss (and
accuracy) on a grid over the plane, on the project's seeded image subset (``runpoint.load_subset``):

* ``pca`` (Li et al. 2018, section 7): the top two principal directions of all runs' saved weights
  relative to w0 (numpy's SVD, not centred: the paths start at the origin), with the share of the
  squared distances each explains;
* ``ends:RUN_A,RUN_B``: the plane through w0 and the two runs' final weights (exact for those three
  points), with orthonormal axes (Gram-Schmidt), so distances and angles on the figure are true.

A saved point is rarely on the plane: beside its projection the JSON keeps its own loss, the plane's
loss at its projection and its distance from the plane. Nothing is cached: every call recomputes
the plane from the files as they are now (a stale direction file cannot mislead).
"""

import hashlib
import os

import numpy as np
import paddle

from paddle_mnist.core.errors import ConfigError, DataError
from paddle_mnist.core.progress import tqdm
from paddle_mnist.core.trajectory_log import read_points
from paddle_mnist.core.weights import get_flat, trainable
from paddle_mnist.runners.landscape import parse_span, slice_values
from paddle_mnist.runners.runpoint import SUBSET_RULE, check_writable, initial_model, load_subset
from paddle_mnist.schemas.run import RECORD_FILE, load_record
from paddle_mnist.schemas.trajectory import SCHEMA, write_trajectory

MARGIN = 0.25  # the grid reaches this share of the paths' extent beyond them on every side


def parse_plane(text):
    """"pca" -> ("pca", None); "ends:A,B" -> ("ends", ["A", "B"])."""
    kind, _, names = str(text).partition(":")
    ends = [n.strip() for n in names.split(",")] if names else []
    if kind == "pca" and not names:
        return "pca", None
    if kind == "ends" and len(ends) == 2 and all(ends) and ends[0] != ends[1]:
        return "ends", ends
    raise ConfigError(f"--plane must be pca or ends:RUN_A,RUN_B (two different runs), not {text!r}")


def find_runs(path, names=None):
    """[(run folder, record)] of a run folder, or of a sweep folder's runs (all, or those `names`)."""
    if not os.path.isdir(path):
        raise DataError(f"{path}: no such directory")
    if os.path.isfile(os.path.join(path, RECORD_FILE)):
        found = {load_record(path)["name"]: path}
    else:
        runs_dir = os.path.join(path, "runs")
        found = {n: os.path.join(runs_dir, n) for n in sorted(os.listdir(runs_dir))
                 if os.path.isfile(os.path.join(runs_dir, n, RECORD_FILE))} if os.path.isdir(runs_dir) else {}
        if not found:
            raise DataError(f"{path}: neither a run folder nor a sweep folder with runs/")
    if names:
        unknown = [n for n in names if n not in found]
        if unknown:
            raise ConfigError(f"--runs: no run {', '.join(unknown)} in {path} (there: {', '.join(found)})")
        found = {n: found[n] for n in names}
    return [(d, load_record(d)) for d in found.values()]


def check_shared_origin(records):
    """Refuse runs that did not start from the same weights on the same data, or saved no path."""
    bare = [r["name"] for r in records if not r.get("trajectory")]
    if bare:
        raise DataError(f"run(s) {', '.join(bare)} saved no trajectory: train them with --trajectory EVERY "
                        "(a finished run is not retrained: use a new --out)")
    first = records[0]
    for r in records[1:]:
        for what, key in (("initial weights", ("fairness", "init_weights_sha256")), ("data", ("data", "sha256"))):
            a, b = ((x.get(key[0]) or {}).get(key[1]) for x in (first, r))
            if a != b or a is None:
                raise DataError(f"runs {first['name']} and {r['name']} do not share their {what} "
                                f"({str(a)[:12]} vs {str(b)[:12]}): one plane needs one origin")


def pca_plane(deltas):
    """The top two right singular vectors of the points relative to the origin (rows of `deltas`),
    as columns, and the share of the squared distances each explains. Signs: the mean point lies
    on the positive side of each axis (deterministic)."""
    _, s, vt = np.linalg.svd(deltas, full_matrices=False)
    if len(s) < 2 or s[1] <= 1e-12 * s[0]:
        raise DataError("the saved weights span less than two directions: no PCA plane (save more points, "
                        "or use --plane ends:RUN_A,RUN_B)")
    basis = vt[:2].T.copy()
    basis *= np.where(deltas.mean(axis=0) @ basis < 0, -1.0, 1.0)
    return basis, (s[:2] ** 2 / np.sum(s ** 2)).tolist()


def ends_plane(u, v, names):
    """Orthonormal axes of the plane through the origin, origin + u and origin + v (Gram-Schmidt):
    the first along u, the second towards v."""
    e1 = u / np.linalg.norm(u)
    rest = v - (v @ e1) * e1
    if np.linalg.norm(u) == 0 or np.linalg.norm(rest) <= 1e-9 * np.linalg.norm(v):
        raise DataError(f"--plane ends:{','.join(names)}: the two runs ended on one line through the start: "
                        "they span no plane")
    return np.stack([e1, rest / np.linalg.norm(rest)], axis=1)


def project(deltas, basis):
    """Each point's coordinates on the plane (orthonormal `basis` columns) and its distance from it."""
    coords = deltas @ basis
    return coords, np.linalg.norm(deltas - coords @ basis.T, axis=1)


def grid_axes(coords, span, n):
    """The grid's a and b values: from --range, or the paths' extent plus a margin on every side."""
    if span:
        parts = str(span).split(",")
        if len(parts) > 2:
            raise ConfigError(f"--range must be START:STOP:N or two of them joined by a comma, not {span!r}")
        axes = [parse_span(p) for p in parts]
        return axes[0], axes[-1]
    if not isinstance(n, int) or not 2 <= n <= 1001:
        raise ConfigError(f"--grid must be a whole number between 2 and 1001, not {n!r}")
    lo, hi = coords.min(axis=0), coords.max(axis=0)
    pad = MARGIN * np.maximum(hi - lo, 1e-3 * np.max(hi - lo))
    return np.linspace(lo[0] - pad[0], hi[0] + pad[0], n), np.linspace(lo[1] - pad[1], hi[1] + pad[1], n)


def trajectory(path, *, runs=None, plane="pca", span=None, grid=21, images=1000, data=None, progress=True,
               write=True):
    """Project the saved paths of the runs in `path` (a sweep or a run folder) onto a plane and
    measure the loss over it; writes PATH/trajectory.json (``schemas.trajectory``) and returns its
    content, with ``files`` [that path]. `span`: the grid's "START:STOP:N" (or "A:B:N,C:D:M"),
    default the paths' extent plus a margin, `grid` × `grid` points."""
    kind, end_names = parse_plane(plane)
    if write:
        check_writable(path)
    found = find_runs(path, runs)
    records = [r for _, r in found]
    check_shared_origin(records)
    names = [r["name"] for r in records]
    if end_names and not set(end_names) <= set(names):
        raise ConfigError(f"--plane ends: no run {', '.join(n for n in end_names if n not in names)} among "
                          f"{', '.join(names)}")
    model = initial_model(records[0])  # the origin, rebuilt from the seed and checked by its hash
    params = trainable(model)
    origin = get_flat(params)
    paths = [_read_path(run_dir, r, origin) for run_dir, r in found]
    x, y, subset_sha = load_subset(records[0], data, images)  # checks the data and --images
    deltas = [w.astype(np.float64) - origin for _, w in paths]
    if kind == "pca":
        basis, explained = pca_plane(np.concatenate(deltas))
    else:
        ends = [deltas[names.index(n)][-1] for n in end_names]
        basis, explained = ends_plane(ends[0], ends[1], end_names), None
    projected = [project(d, basis) for d in deltas]
    alphas, betas = grid_axes(np.concatenate([c for c, _ in projected] + [np.zeros((1, 2))]), span, grid)
    loss_name = records[0]["config"]["loss"]
    n_points = sum(len(d) for d in deltas)
    bar = tqdm(total=len(alphas) * len(betas) + 2 * n_points + 1, desc="trajectory", unit="point",
               disable=not progress, leave=False)
    measure = lambda points: slice_values(model, x, y, loss_name, points, bar)  # noqa: E731
    try:
        (origin_loss,), (origin_acc,) = measure([origin])
        grid_loss, grid_acc = measure(origin + a * basis[:, 0] + b * basis[:, 1] for b in betas for a in alphas)
        run_results = []
        for (steps, weights), record, (coords, off) in zip(paths, records, projected):
            own = measure(w.astype(np.float64) for w in weights)
            shadow = measure(origin + basis @ c for c in coords)
            run_results.append(_run_result(record, steps, weights, coords, off, own, shadow))
    finally:
        bar.close()
    rows = lambda v: [v[i * len(alphas):(i + 1) * len(alphas)] for i in range(len(betas))]  # noqa: E731
    result = {"schema": SCHEMA, "plane": kind, "ends": end_names, "explained_variance": explained,
              "origin": {"loss": origin_loss, "accuracy": origin_acc},
              "grid": {"alphas": alphas.tolist(), "betas": betas.tolist(), "loss": rows(grid_loss),
                       "accuracy": rows(grid_acc)},
              "runs": run_results, "model": records[0]["config"]["model"], "loss_function": loss_name,
              "images": len(y), "subset": SUBSET_RULE, "subset_sha256": subset_sha,
              "data_sha256": records[0]["data"].get("sha256"),
              "init_weights_sha256": records[0]["fairness"]["init_weights_sha256"], "paddle": paddle.__version__}
    if write:
        result["files"] = [write_trajectory(path, result)]
    return result


def _read_path(run_dir, record, origin):
    """(steps, weights) a run saved; its first point must be the shared origin."""
    file = os.path.join(run_dir, record["trajectory"]["file"])
    steps, weights = read_points(file)
    if weights.shape[1] != origin.size or steps[0] != 0 or not np.array_equal(weights[0], origin.astype(np.float32)):
        raise DataError(f"{file}: its first point is not the run's initial weights (a file of another run?)")
    if not np.all(np.isfinite(weights)):
        raise DataError(f"{file}: holds non-finite weights")
    return steps, weights


def _run_result(record, steps, weights, coords, off, own, shadow):
    spe = record["steps_per_epoch"]
    config = record["config"]
    return {"name": record["name"], "optimizer": config["optimizer"], "lr": config["lr"],
            "config": {k: config.get(k) for k in ("model", "optimizer", "lr", "batch_size", "epochs", "seed")},
            "status": record.get("status"), "steps_per_epoch": spe,
            "trajectory_sha256": _sha256(weights), "steps": steps.tolist(),
            "epoch_ends": [i for i, s in enumerate(steps.tolist()) if s > 0 and s % spe == 0],
            "points": coords.tolist(), "own_loss": own[0], "own_accuracy": own[1],
            "plane_loss": shadow[0], "plane_accuracy": shadow[1], "off_plane": off.tolist()}


def _sha256(array):
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()
