"""Figures of curvature and of loss-landscape slices, drawn only from the JSON files
``paddle_mnist.runners.hessian`` and ``paddle_mnist.runners.landscape`` write (or the dicts they return).

``figure_eigenvalues`` (both ends of the Hessian's spectrum, one panel per run), ``figure_sharpness``
(a sweep: λmax against the learning rate, one line per optimizer), ``figure_landscape`` (a 1-D slice
with loss and accuracy, or a plane as two contour maps), ``figure_slices`` (several 1-D slices on one
axis), ``sweep_table`` (the sweep's numbers as text) and ``sweep_curvature`` (a sweep's λmax and
verdict per run, for the summary table).
"""

import json
import os

import numpy as np

from paddle_mnist.analysis.style import new_figure, optimizer_colours
from paddle_mnist.core.errors import DataError
from paddle_mnist.core.files import read_json

SWEEP_SCHEMA = "paddle_mnist.hessian_sweep/1"
SWEEP_FILE = "hessian.json"  # SWEEP_DIR/hessian.json: the table `hessian SWEEP_DIR` writes


def _load(result):
    return read_json(result) if isinstance(result, str) else result


def figure_eigenvalues(results, show=False):
    """Top and bottom eigenvalues on a symmetric-log axis, with the verdict's threshold, the mean
    eigenvalue (trace / parameters) and each eigenvalue's residual as an error bar. A list of
    results (or JSON paths) gives one panel each, side by side."""
    results = [_load(r) for r in (results if isinstance(results, (list, tuple)) else [results])]
    fig = new_figure((6.4 if len(results) == 1 else 4.6 * len(results), 3.6), show)
    axes = fig.subplots(1, len(results), squeeze=False)[0]
    for ax, r in zip(axes, results):
        _draw_eigenvalues(ax, r)
    return fig


def _draw_eigenvalues(ax, r):
    top, bottom = r["top_eigenvalues"], r["bottom_eigenvalues"]
    ax.errorbar(range(1, len(top) + 1), top, yerr=r["residuals"]["top"], fmt="o", color="#1f77b4",
                capsize=3, label="largest")
    x_bottom = range(len(top) + 2, len(top) + 2 + len(bottom))
    ax.errorbar(x_bottom, bottom, yerr=r["residuals"]["bottom"], fmt="s", color="#d62728", capsize=3,
                label="smallest")
    ax.axhline(-r["verdict_tol"] * abs(r["lambda_max"]), color="0.4", linestyle=":",
               label=f"−{r['verdict_tol']:g}·λmax (below: saddle)")
    ax.axhline(0.0, color="0.7", linewidth=0.8)
    if r.get("trace") is not None:
        ax.axhline(r["trace"] / r["parameters"], color="#2ca02c", linestyle="--", linewidth=1,
                   label=f"mean eigenvalue (trace {r['trace']:.3g} ± {r['trace_stderr'] or 0:.2g})")
    scale = max(abs(v) for v in top + bottom)
    linthresh = 10.0 ** np.floor(np.log10(max(scale * 1e-3, 1e-12)))  # a decade: ticks fall on decades
    ax.set_yscale("symlog", linthresh=linthresh, linscale=1.5)
    labels = [f"λ{i}" for i in range(1, len(top) + 1)] + [f"λ(n−{i})" if i else "λn" for i in range(len(bottom))]
    ax.set_xticks(list(range(1, len(top) + 1)) + list(x_bottom), labels)
    critical = "at a critical point" if r["at_critical_point"] else "not at a critical point"
    ax.set_title(f"{r.get('run', '')} ({r.get('weights', '')}): {r['verdict']}, {critical}\n"
                 f"{r['images']} images, {r['parameters']:,} parameters, {r['method'].replace('_', ' ')}",
                 fontsize=9)
    ax.set_ylabel("eigenvalue of the Hessian")
    ax.legend(fontsize=7, loc="best")


def figure_sharpness(table, show=False):
    """λmax against the learning rate (log scale), one line per optimizer; a hollow marker for a
    run not at a critical point, a cross for a saddle."""
    t = _load(table)
    fig = new_figure((6.4, 4.0), show)
    ax = fig.add_subplot()
    rows = [r for r in t["rows"] if r.get("lambda_max") is not None]
    optimizers = sorted({r["optimizer"] for r in rows})
    colours = optimizer_colours(optimizers)
    for name in optimizers:
        mine = sorted((r for r in rows if r["optimizer"] == name), key=lambda r: r["lr"])
        lrs, lam = [r["lr"] for r in mine], [r["lambda_max"] for r in mine]
        ax.plot(lrs, lam, "-", color=colours[name], label=name)
        for r in mine:
            face = colours[name] if r["at_critical_point"] else "white"
            ax.plot(r["lr"], r["lambda_max"], "X" if r["verdict"] == "saddle" else "o", color=colours[name],
                    markerfacecolor=face, markersize=8)
    if rows:  # plain gradient descent is stable only while λmax < 2/lr (Cohen et al. 2021)
        lrs = np.geomspace(min(r["lr"] for r in rows), max(r["lr"] for r in rows), 50)
        ax.plot(lrs, 2 / lrs, ":", color="0.5", label="2/lr: gradient descent's stability limit")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("λmax of the Hessian (sharpness)")
    ax.set_title(f"Sharpness at the end of training, on {t['images']} training images\n"
                 "hollow: not at a critical point; X: saddle", fontsize=9)
    if optimizers:
        ax.legend(fontsize=8)
    return fig


def sweep_table(table):
    """The sweep's curvature numbers as an aligned text table (one line per run)."""
    t = _load(table)
    head = f"{'run':24} {'optimizer':10} {'lr':>8} {'λmax':>10} {'λmin':>10} {'trace':>16} {'verdict':8} critical"
    lines = [head]
    for r in t["rows"]:
        trace = "-" if r["trace"] is None else f"{r['trace']:.4g}±{r['trace_stderr'] or 0:.2g}"
        lines.append(f"{r['run'][:24]:24} {r['optimizer']:10} {r['lr']:>8.3g} {r['lambda_max']:>10.4g} "
                     f"{r['lambda_min']:>10.3g} {trace:>16} {r['verdict']:8} "
                     f"{'yes' if r['at_critical_point'] else 'no'}")
    for s in t.get("skipped", []):
        lines.append(f"{s['run'][:24]:24} skipped: {s['status']}")
    return "\n".join(lines)


def sweep_curvature(path, records):
    """{run name: its row of the sweep table at `path`} for the runs of `records` it measured as they
    are now ({} when `path` is not a sweep table, e.g. a single run's own hessian.json). A row whose
    config differs from the run's record (the run was trained further since) is left out: it would
    describe other weights."""
    if not os.path.isfile(path):
        return {}
    try:
        table = read_json(path)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: not a hessian sweep table (not valid JSON: {e})") from None
    if not isinstance(table, dict) or table.get("schema") != SWEEP_SCHEMA:
        return {}
    configs = {r["name"]: r.get("config") or {} for r in records}
    return {row["run"]: row for row in table.get("rows", [])
            if row.get("run") in configs
            and all(row[k] == v for k, v in configs[row["run"]].items() if k in row)}


def _masked(values):
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def figure_landscape(result, show=False):
    """A 1-D slice (loss on a log axis, accuracy on a second axis) or a plane (loss and accuracy
    as two contour maps), with the trained weights (and, for interpolate, the initial ones) marked."""
    r = _load(result)
    title = f"{r['run']}: {r['kind']} slice, {r['images']} training images"
    if r["kind"] == "plane":
        return _plane(r, title, show)
    fig = new_figure((6.4, 3.8), show)
    ax = fig.add_subplot()
    alphas = np.asarray(r["alphas"])
    ax.plot(alphas, _masked(r["loss"]), color="#1f77b4", label="loss")
    ax.set_yscale("log")
    ax.set_ylabel(f"training loss ({r['loss_function']})", color="#1f77b4")
    acc_ax = ax.twinx()
    acc_ax.plot(alphas, r["accuracy"], color="#ff7f0e", linestyle="--", label="accuracy")
    acc_ax.set_ylim(0, 1)
    acc_ax.set_ylabel("accuracy", color="#ff7f0e")
    if r["kind"] == "interpolate":
        ax.axvline(0, color="0.5", linestyle=":")
        ax.axvline(1, color="0.3", linestyle=":")
        ax.set_xlabel("α: (1 − α)·w_init + α·w_trained  (0: initial weights, 1: trained)")
    else:
        ax.axvline(0, color="0.3", linestyle=":")
        ax.set_xlabel(f"α: w + α·d (d: random, filter-normalised, seed {r['seed']}; biases fixed)")
    ax.set_title(title, fontsize=9)
    return fig


def figure_slices(results, labels=None, show=False):
    """Several 1-D slices of the same kind on one axis (loss, log scale): e.g. SGD against Adam."""
    results = [_load(r) for r in results]
    fig = new_figure((6.4, 3.8), show)
    ax = fig.add_subplot()
    kind = results[0]["kind"]
    trained_at = 1 if kind == "interpolate" else 0  # where the trained weights are on the slice
    for i, r in enumerate(results):
        label = labels[i] if labels else r["run"]
        ax.plot(r["alphas"], _masked(r["loss"]), label=f"{label} (trained: {r['centre']['loss']:.3g})")
    ax.set_yscale("log")
    ax.axvline(trained_at, color="0.3", linestyle=":")
    if kind == "interpolate":
        ax.axvline(0, color="0.5", linestyle=":")
    ax.set_xlabel("α: (1 − α)·w_init + α·w" if kind == "interpolate" else "α: w + α·d (filter-normalised d)")
    ax.set_ylabel("training loss")
    ax.set_title(f"{kind} slices, {results[0]['images']} training images", fontsize=9)
    ax.legend(fontsize=8)
    return fig


def _plane(r, title, show):
    fig = new_figure((9.6, 4.0), show)
    alphas, betas = np.asarray(r["alphas"]), np.asarray(r["betas"])
    loss = np.array([_masked(row) for row in r["loss"]])
    panels = [(np.log10(loss), "log10 training loss", "viridis"),
              (np.array(r["accuracy"], dtype=float), "accuracy", "magma")]
    for i, (values, label, cmap) in enumerate(panels):
        ax = fig.add_subplot(1, 2, i + 1)
        filled = ax.contourf(alphas, betas, values, levels=20, cmap=cmap)
        ax.contour(alphas, betas, values, levels=10, colors="k", linewidths=0.4)
        fig.colorbar(filled, ax=ax, label=label)
        ax.plot(0, 0, "w*", markersize=12, markeredgecolor="k")
        ax.set_xlabel("α (direction d1)")
        ax.set_ylabel("β (direction d2)")
        ax.set_aspect("equal")
    fig.suptitle(f"{title}; w + α·d1 + β·d2, filter-normalised random directions (seed {r['seed']})",
                 fontsize=9)
    return fig
