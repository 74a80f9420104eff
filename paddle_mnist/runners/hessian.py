"""Minimum or saddle? The Hessian of the training loss at a trained network.

A point where the gradient vanishes is a local minimum when every eigenvalue of the Hessian is
positive and a saddle when some are negative; the largest eigenvalue ("sharpness") says how sharp
the minimum is. The network has tens of thousands of parameters, so the Hessian is never formed:
``scipy.sparse.linalg.eigsh`` (Lanczos) only needs Hessian-vector products, and Hutchinson's
estimator turns such products of random sign vectors into the trace.

Hessian-vector products come from ``paddle_mnist.runners.hvp``: exact (double backward) for ``linear`` and
``mlp``, central differences of gradients for the course's CNN (see that module for why and how).

The runner writes JSON only (``schemas.hessian``); ``analysis.hessian`` draws from it.
Everything is measured on one fixed subset of the training images (``runners.runpoint.subset_indices``), so
every run of a sweep is measured on the same images.
"""

import math
import time
from dataclasses import asdict, dataclass, replace
from functools import partial
from typing import Optional

import numpy as np
import paddle
from scipy.sparse.linalg import ArpackNoConvergence, eigsh
from paddle_mnist.core.progress import tqdm

from paddle_mnist.core import checks
from paddle_mnist.core.errors import DataError, PaddleMnistError
from paddle_mnist.core.options import Options, option
from paddle_mnist.runners.hvp import FD_FLOOR, FD_STEP, METHODS, VERSION, HessianOperator
from paddle_mnist.schemas.hessian import (CRITICAL_TOL, SCHEMA, VERDICT_TOL, read_result, sweep_row, write_result,
                                          write_sweep)
from paddle_mnist.schemas.run import load_record
from paddle_mnist.schemas.sweep import run_dirs
from paddle_mnist.runners.runpoint import SUBSET_RULE, WEIGHTS, check_writable, load_run, subset_size

LANCZOS_TOL = 1e-3      # eigsh's relative tolerance on each eigenvalue
MAX_EIGENVALUES = 100  # --top, --bottom: more is a typo, or a full solve of hours
MAX_PROBES = 10_000     # --probes: the trace's standard error falls as 1/sqrt(probes)
MAX_WORKERS = 256       # --workers
LANCZOS_RESTARTS = 25   # at most ~25·ncv products per end: a bound on the time, never reached here



def _count(high, low=1):
    return partial(checks.whole, low=low, high=high)


@dataclass(frozen=True)
class HessianOptions(Options):
    """What `hessian` measures, on what. The bounds keep a typo from starting hours of work: each
    eigenvalue costs tens of Hessian-vector products, each probe one. The fields marked echo are the
    JSON's "settings" (with the images and the hvp version): a run measured with the same is reused."""

    images: Optional[int] = option(None, "measure on N training images, a fixed draw, the same for every run "
                                   "(default: 1000, or the whole train split when it is smaller)")
    weights: str = option("best", "best.pdparams (default), last.pdckpt, or the run's initial weights from its seed",
                          choices=WEIGHTS, check=partial(checks.one_of, choices=WEIGHTS))
    data: Optional[str] = option(None, "the run's data file if it moved (default: the path in the record; "
                                 "checked by hash)")
    top: int = option(3, "largest eigenvalues (default: 3)", check=_count(MAX_EIGENVALUES), echo=True)
    bottom: int = option(3, "smallest eigenvalues (default: 3)", check=_count(MAX_EIGENVALUES), echo=True)
    probes: int = option(50, "Hutchinson probes for the trace (default: 50; 0: no trace)",
                         check=_count(MAX_PROBES, low=0), echo=True)
    method: str = option("auto", "Hessian-vector products (default: auto, exact double backward where Paddle can)",
                         choices=METHODS, check=partial(checks.one_of, choices=METHODS), echo=True)
    seed: int = option(0, "seed of the Lanczos start vector and the probes", check=checks.seed, echo=True)
    workers: Optional[int] = option(None, "processes sharing the images for finite differences (default: one per "
                                    "core; the results do not depend on it)", check=_count(MAX_WORKERS))


# ---------------------------------------------------------------------------------------------
# Eigenvalues (Lanczos), trace (Hutchinson), verdict
# ---------------------------------------------------------------------------------------------

def extreme_eigenvalues(op, k, which, shift=0.0, seed=0, bar=None, ncv=None):
    """k eigenvalues of H from one end ("LA": largest, "SA": smallest) by scipy's Lanczos (ARPACK),
    each with its residual ‖Hv − λv‖ (one more product each).

    ARPACK stops when each residual is below LANCZOS_TOL·|eigenvalue of the operator|: for the
    smallest eigenvalues (often near 0) run on H − λmax·I, so the bar is LANCZOS_TOL·λmax instead."""
    k = min(k, op.dim - 1)
    before = op.count
    v0 = np.random.default_rng(seed).standard_normal(op.dim)
    try:
        values, vectors = eigsh(op.as_linear_operator(shift, bar), k=k, which=which, tol=LANCZOS_TOL,
                                v0=v0, ncv=min(op.dim, ncv) if ncv else None, maxiter=LANCZOS_RESTARTS)
        converged = k
    except ArpackNoConvergence as e:  # keep what did converge, and say so
        values, vectors, converged = e.eigenvalues, e.eigenvectors, len(e.eigenvalues)
    products = op.count - before
    if converged == 0:
        raise PaddleMnistError(f"Lanczos found no {'largest' if which == 'LA' else 'smallest'} eigenvalue "
                               f"to a relative {LANCZOS_TOL:g} in {products} Hessian-vector products")
    order = np.argsort(-values if which == "LA" else values)
    values, vectors = values[order] + shift, vectors[:, order]
    residuals = [float(np.linalg.norm(op(vectors[:, i]) - values[i] * vectors[:, i]))
                 for i in range(len(values))]
    if bar is not None:
        bar.update(len(values))
    return {"values": [float(v) for v in values], "residuals": residuals,
            "lanczos_products": products, "converged": converged, "asked": k}


def hutchinson_trace(op, probes, seed=0, bar=None):
    """tr(H) ≈ mean of zᵀHz over Rademacher vectors z (E[zzᵀ] = I), with its standard error."""
    if probes < 1:
        return None, None
    rng = np.random.default_rng([seed, 1])
    samples = []
    for _ in range(probes):
        z = rng.choice([-1.0, 1.0], size=op.dim)
        samples.append(float(z @ op(z)))
        if bar is not None:
            bar.update(1)
    stderr = float(np.std(samples, ddof=1) / math.sqrt(probes)) if probes > 1 else None
    return float(np.mean(samples)), stderr


def verdict(lambda_min, lambda_max, tol=VERDICT_TOL):
    """"minimum" when no eigenvalue is below −tol·λmax (smaller negative values are within the
    accuracy of the estimate and the subset's noise), else "saddle"."""
    return "minimum" if lambda_min >= -tol * abs(lambda_max) else "saddle"


def at_critical_point(gradient_norm, lambda_max, weight_norm, tol=CRITICAL_TOL):
    """True when a gradient-descent step at the sharpest stable scale, lr = 1/λmax, would move the
    weights by at most tol·‖w‖ (step length ‖g‖/λmax). A network stopped after a few epochs often
    fails this: its Hessian then describes a slope, and "minimum" means "curved upwards" only."""
    return bool(gradient_norm <= tol * abs(lambda_max) * weight_norm)


def measure(model, images, labels, loss="cross_entropy", *, top=3, bottom=3, probes=50,
            method="auto", seed=0, tol=VERDICT_TOL, progress=False, workers=None):
    """Curvature of `model`'s mean loss on (images, labels): eigenvalues at both ends, trace,
    gradient norm and the verdicts, as a JSON-ready dict. Nothing is written. `workers`: see
    ``HessianOperator`` (the numbers do not depend on it beyond float64 rounding)."""
    o = HessianOptions(top=top, bottom=bottom, probes=probes, method=method, seed=seed, workers=workers)
    start = time.perf_counter()
    with HessianOperator(model, images, labels, loss, o.method, workers=o.workers) as op:
        return _measure(op, o.top, o.bottom, o.probes, o.seed, tol, progress, start)


def _measure(op, top, bottom, probes, seed, tol, progress, start):
    loss_value, grad = op.loss_and_gradient()
    bar = tqdm(desc="Hessian-vector products", unit="Hv", disable=not progress, leave=False)
    try:
        hi = extreme_eigenvalues(op, top, "LA", seed=seed, bar=bar)
        # the smallest end is crowded (many eigenvalues near 0): a larger Krylov space (measured:
        # 41 products with ncv 40 against 38-68 with the default 20) and no restarts to lose it
        lo = extreme_eigenvalues(op, bottom, "SA", shift=hi["values"][0], seed=seed, bar=bar,
                                 ncv=max(2 * bottom + 1, 40))
        trace, trace_stderr = hutchinson_trace(op, probes, seed, bar=bar)
    finally:
        bar.close()
    lam_max, lam_min = hi["values"][0], min(lo["values"][0], hi["values"][-1])
    g_norm, w_norm = float(np.linalg.norm(grad)), float(np.linalg.norm(op.w0))
    return {
        "top_eigenvalues": hi["values"], "bottom_eigenvalues": lo["values"],
        "residuals": {"top": hi["residuals"], "bottom": lo["residuals"]},
        "lambda_max": lam_max, "lambda_min": lam_min,
        # the smallest eigenvalues come from H - λmax·I, solved to LANCZOS_TOL of λmax: values closer
        # to 0 than this cannot be told from 0 (a linear model's bottom is exactly 0, shown as noise)
        "zero_tolerance": LANCZOS_TOL * abs(lam_max),
        "trace": trace, "trace_stderr": trace_stderr, "probes": probes,
        "loss": loss_value, "gradient_norm": g_norm, "weight_norm": w_norm,
        "at_critical_point": at_critical_point(g_norm, lam_max, w_norm),
        "critical_rule": f"gradient_norm <= {CRITICAL_TOL:g} * |lambda_max| * weight_norm "
                         "(a step at lr 1/lambda_max moves w by at most 0.1% of its norm)",
        "verdict": verdict(lam_min, lam_max, tol), "verdict_tol": tol,
        "verdict_rule": f"minimum when lambda_min >= -{tol:g} * lambda_max, else saddle",
        "parameters": op.dim, "images": len(op.labels), "loss_function": op.loss_name,
        "workers": op.workers,
        "method": op.method, "method_reason": op.reason,
        "epsilon": FD_STEP if op.method == "finite_difference" else None,
        "epsilon_rule": (f"eps = {FD_STEP:g} / max over parameter tensors g of ||v_g|| / max(||w_g||, "
                         f"{FD_FLOOR:g}*||w||): no tensor moves by more than {FD_STEP:g} of its norm"
                         if op.method == "finite_difference" else None),
        "pattern": "ReLU and max-pool pattern of the base weights held fixed" if op.holds_pattern else None,
        "lanczos": {"tol": LANCZOS_TOL,
                    "top": {k: hi[k] for k in ("lanczos_products", "converged", "asked")},
                    "bottom": {**{k: lo[k] for k in ("lanczos_products", "converged", "asked")},
                               "shift": hi["values"][0]}},
        "hvp_count": op.count, "hvp_seconds": op.seconds / max(op.count, 1),
        "seconds": time.perf_counter() - start, "seed": seed, "paddle": paddle.__version__,
    }


# ---------------------------------------------------------------------------------------------
# A run folder, a sweep folder
# ---------------------------------------------------------------------------------------------

def hessian(run_dir, *, weights="best", images=None, top=3, bottom=3, probes=50, data=None,
            method="auto", seed=0, progress=True, write=True, workers=None):
    """Measure one run folder at its `weights` on `images` training images (a fixed draw); writes
    RUN_DIR/hessian.json (hessian-last.json, hessian-init.json; ``schemas.hessian``) and returns
    its content, with ``files`` [that path]."""
    o = HessianOptions(images=images, weights=weights, data=data, top=top, bottom=bottom, probes=probes,
                       method=method, seed=seed, workers=workers)  # bad options before loading anything
    if write:
        check_writable(run_dir)
    run = load_run(run_dir, o.weights, o.data, o.images)
    record = run.record
    result = {"schema": SCHEMA, "run": record["name"], "weights": o.weights, "status": record.get("status"),
              "config_id": record.get("config_id"), "settings": dict(images=len(run.labels), hvp=VERSION, **o.echo()),
              "config": {k: record["config"].get(k) for k in ("model", "optimizer", "lr", "epochs", "seed", "loss")},
              "subset": SUBSET_RULE, "subset_sha256": run.subset_sha256, "data_sha256": record["data"].get("sha256")}
    result.update(measure(run.model, run.images, run.labels, record["config"]["loss"],
                          progress=progress, workers=o.workers, **o.echo()))
    if write:
        result["files"] = [write_result(run_dir, result)]
    return result


def _reusable(run_dir, record, settings, weights):
    """A hessian JSON already in `run_dir` measured with the same settings on the same run."""
    old = read_result(run_dir, weights)
    same = old is not None and old.get("settings") == settings
    return old if same and old.get("config_id") == record.get("config_id") else None


def hessian_sweep(sweep_dir, *, images=None, top=3, bottom=3, probes=50, weights="best", data=None,
                  method="auto", seed=0, progress=True, reuse=True, workers=None):
    """Measure every finished run of a sweep on the same subset (a run measured before with the same
    settings is reused); writes each run's hessian.json and SWEEP_DIR/hessian.json (the table).
    Returns {"table", "rows", "skipped", "by_name", "measured": {run_dir: result measured now},
    "files"}."""
    o = HessianOptions(images=images, weights=weights, data=data, top=top, bottom=bottom, probes=probes,
                       method=method, seed=seed, workers=workers)
    dirs = run_dirs(sweep_dir)
    if not dirs:
        raise DataError(f"{sweep_dir}: no runs (neither a run folder nor a sweep with run records)")
    check_writable(sweep_dir)
    o = replace(o, images=subset_size(load_record(dirs[0]), o.images))  # the runs of a sweep share their data
    settings = dict(images=o.images, hvp=VERSION, **o.echo())
    rows, skipped, measured = [], [], {}
    for run_dir in tqdm(dirs, desc="hessian", unit="run", disable=not progress):
        record = load_record(run_dir)
        if record.get("status") not in ("completed", "stopped_early"):
            skipped.append({"run": record["name"], "status": record.get("status")})
            continue
        result = reuse and _reusable(run_dir, record, settings, o.weights)
        if not result:
            result = measured[run_dir] = hessian(run_dir, progress=False, **asdict(o))
        rows.append(sweep_row(result))
    if len({r["subset_sha256"] for r in rows}) > 1:
        raise DataError(f"{sweep_dir}: its runs were trained on different data; measure them one by one")
    table = {"weights": o.weights, **settings, "rows": rows, "skipped": skipped}
    files = [write_sweep(sweep_dir, table)]
    return {"table": table, "rows": rows, "skipped": skipped, "by_name": {r["run"]: r for r in rows},
            "measured": measured, "files": files}
