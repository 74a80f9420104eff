"""Figures of curvature and of loss-landscape slices, drawn only from the JSON files
``paddle_mnist.runners.hessian`` and ``paddle_mnist.runners.landscape`` write (or the dicts they return).

``figure_eigenvalues`` (both ends of the Hessian's spectrum, one panel per run), ``figure_sharpness_by_lr``
(a sweep: λmax against the learning rate, one line per optimizer), ``figure_landscape`` (a 1-D slice
with loss and accuracy, or a plane as two contour maps), ``figure_slices`` (several 1-D slices on one
axis), ``sweep_table`` (the sweep's numbers as text) and ``sweep_curvature`` (a sweep's λmax and
verdict per run, for the summary table).
"""

import numpy as np

from paddle_mnist.analysis.lang import localized, translator
from paddle_mnist.analysis.style import dodge, new_figure, optimizer_colours, optimizer_markers
from paddle_mnist.core.files import read_json
from paddle_mnist.core.numbers import is_zero, significant, value_text, with_error
from paddle_mnist.schemas.hessian import CRITICAL_TOL, read_sweep


def _load(result):
    return read_json(result) if isinstance(result, str) else result


@localized
def figure_eigenvalues(results, show=False, lang=None):
    """Top and bottom eigenvalues on a symmetric-log axis, with the verdict's threshold, the mean
    eigenvalue (trace / parameters) and each eigenvalue's residual as an error bar. A smallest
    eigenvalue within the solver's tolerance of 0 is drawn at 0, hollow, inside a grey band of that
    tolerance: it is 0 as far as the solver can tell. A list of results (or JSON paths) gives one
    panel each, side by side; the legend sits under each panel."""
    results = [_load(r) for r in (results if isinstance(results, (list, tuple)) else [results])]
    fig = new_figure((6.6 if len(results) == 1 else 4.8 * len(results), 4.9), show)
    axes = fig.subplots(1, len(results), squeeze=False)[0]
    for ax, r in zip(axes, results):
        _draw_eigenvalues(ax, r, translator(lang))
    return fig


def _draw_eigenvalues(ax, r, tr):
    top, bottom = r["top_eigenvalues"], r["bottom_eigenvalues"]
    zero_tol = r.get("zero_tolerance")
    ax.errorbar(range(1, len(top) + 1), top, yerr=r["residuals"]["top"], fmt="o", color="#0072B2",
                capsize=3, label=tr("largest"), zorder=4)
    x_bottom = list(range(len(top) + 2, len(top) + 2 + len(bottom)))
    zero = [is_zero(v, max(zero_tol or 0.0, e)) if zero_tol else False
            for v, e in zip(bottom, r["residuals"]["bottom"])]
    shown = [0.0 if z else v for v, z in zip(bottom, zero)]
    for hollow in (False, True):
        xs = [x for x, z in zip(x_bottom, zero) if z == hollow]
        if xs:
            ax.errorbar(xs, [v for v, z in zip(shown, zero) if z == hollow],
                        yerr=None if hollow else [e for e, z in zip(r["residuals"]["bottom"], zero) if not z],
                        fmt="s", color="#D55E00", markerfacecolor="white" if hollow else "#D55E00", capsize=3,
                        zorder=4, label=tr("smallest_zero", tol=significant(zero_tol)) if hollow else tr("smallest"))
    if zero_tol and any(zero):
        ax.axhspan(-zero_tol, zero_tol, color="0.85", zorder=1, linewidth=0)
    ax.axhline(-r["verdict_tol"] * abs(r["lambda_max"]), color="0.4", linestyle=":",
               label=tr("saddle_line", tol=r["verdict_tol"]))
    ax.axhline(0.0, color="0.7", linewidth=0.8)
    if r.get("trace") is not None:
        ax.axhline(r["trace"] / r["parameters"], color="#009E73", linestyle="--", linewidth=1,
                   label=tr("mean_eigenvalue", trace=with_error(r["trace"], r["trace_stderr"])))
    scale = max(abs(v) for v in top + bottom)
    linthresh = 10.0 ** np.floor(np.log10(max(scale * 1e-3, 1e-12)))  # a decade: ticks fall on decades
    ax.set_yscale("symlog", linthresh=linthresh, linscale=1.5)
    high = max(top) + max(r["residuals"]["top"])  # room above the largest marker and its error bar
    low = min(min(shown), -r["verdict_tol"] * abs(r["lambda_max"]))
    ax.set_ylim(low * 3 if low < -linthresh else -3 * linthresh, high * 3)
    ax.set_xlim(0.3, x_bottom[-1] + 0.7)
    labels = [f"λ{i}" for i in range(1, len(top) + 1)] + [f"λ(n−{i})" if i else "λn" for i in range(len(bottom))]
    ax.set_xticks(list(range(1, len(top) + 1)) + x_bottom, labels)
    critical = tr("critical") if r["at_critical_point"] else tr("not_critical")
    ax.set_title(tr("eig_title", run=r.get("run", ""), weights=r.get("weights", ""),
                    verdict=tr("verdict_" + r["verdict"]), critical=critical) + "\n"
                 + tr("eig_setup", images=r["images"], parameters=f"{r['parameters']:,}",
                      method=r["method"].replace("_", " ")), fontsize=9)
    ax.set_ylabel(tr("eigenvalue"))
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=2, frameon=False)


@localized
def figure_sharpness_by_lr(table, show=False, lang=None):
    """λmax against the learning rate (log scale), one line per optimizer in its own colour and
    marker; a hollow marker for a run not at a critical point, a cross for a saddle."""
    t, tr = _load(table), translator(lang)
    fig = new_figure((6.4, 4.0), show)
    ax = fig.add_subplot()
    rows = [r for r in t["rows"] if r.get("lambda_max") is not None]
    optimizers = sorted({r["optimizer"] for r in rows})
    colours, markers = optimizer_colours(optimizers), optimizer_markers(optimizers)
    for i, name in enumerate(optimizers):  # each line shifted sideways a little (style.dodge): none hidden
        mine = sorted((r for r in rows if r["optimizer"] == name), key=lambda r: r["lr"])
        lrs, lam = dodge([r["lr"] for r in mine], i, len(optimizers)), [r["lambda_max"] for r in mine]
        ax.plot(lrs, lam, "-", color=colours[name], marker=markers[name], markersize=8, label=name)
        for x, r in zip(lrs, mine):  # over the run's marker: a cross for a saddle, white when not at a critical point
            if r["verdict"] == "saddle":
                ax.plot(x, r["lambda_max"], "X", color=colours[name], markeredgecolor="black", markersize=9)
            elif not r["at_critical_point"]:
                ax.plot(x, r["lambda_max"], markers[name], color=colours[name], markerfacecolor="white", markersize=8)
    if rows:  # plain gradient descent is stable only while λmax < 2/lr (Cohen et al. 2021)
        lrs = np.geomspace(min(r["lr"] for r in rows), max(r["lr"] for r in rows), 50)
        ax.plot(lrs, 2 / lrs, ":", color="0.5", label=tr("stability_limit"))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.margins(0.08)
    ax.set_xlabel(tr("lr"))
    ax.set_ylabel(tr("sharpness"))
    ax.set_title(tr("sharpness_title", images=t["images"]), fontsize=9)
    if optimizers:
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    return fig


def hessian_summary(result):
    """One line: the eigenvalues (each to the digit its residual allows; a smallest one within the
    solver's tolerance of 0 as '0 (within tolerance T)'), the verdict, and whether it applies."""
    lam_max, lam_min = result["lambda_max"], result["lambda_min"]
    zero = result.get("zero_tolerance", result["lanczos"]["tol"] * abs(lam_max))
    res = result["residuals"]
    bottom_error = res["bottom"][0] if lam_min == result["bottom_eigenvalues"][0] else res["top"][-1]
    parts = [f"{result.get('run', 'model')}: λmax {with_error(lam_max, res['top'][0])}, "
             f"λmin {value_text(lam_min, bottom_error, zero)}",
             f"{result['verdict']} (tol {result['verdict_tol']:g}·λmax)"]
    if result["trace"] is not None:
        parts.append(f"trace {with_error(result['trace'], result['trace_stderr'])} (Hutchinson, ± 1 standard error "
                     f"over {result['probes']} probes)")
    step = result["gradient_norm"] / max(abs(lam_max), 1e-300) / max(result["weight_norm"], 1e-300)
    if result["at_critical_point"]:
        parts.append(f"at a critical point (‖g‖ {result['gradient_norm']:.2g})")
    else:
        parts.append(f"NOT at a critical point: ‖g‖ {result['gradient_norm']:.2g}, a 1/λmax step moves w by "
                     f"{step:.2%} of ‖w‖ (rule ≤ {CRITICAL_TOL:.1%}), so the Hessian describes a slope")
    parts.append(f"{result['hvp_count']} Hessian-vector products ({result['method'].replace('_', ' ')}, "
                 f"{result['hvp_seconds']:.2g} s each)")
    return "; ".join(parts)


def sweep_table(table):
    """The sweep's curvature numbers as an aligned text table (one line per run)."""
    t = _load(table)
    head = f"{'run':24} {'optimizer':10} {'lr':>8} {'λmax':>10} {'λmin':>26} {'trace':>16} {'verdict':8} critical"
    lines = [head]
    for r in t["rows"]:
        trace = "-" if r["trace"] is None else with_error(r["trace"], r["trace_stderr"])
        lam_min = value_text(r["lambda_min"], None, r.get("zero_tolerance"))
        lines.append(f"{r['run'][:24]:24} {r['optimizer']:10} {r['lr']:>8.3g} {r['lambda_max']:>10.4g} "
                     f"{lam_min:>26} {trace:>16} {r['verdict']:8} "
                     f"{'yes' if r['at_critical_point'] else 'no'}")
    for s in t.get("skipped", []):
        lines.append(f"{s['run'][:24]:24} skipped: {s['status']}")
    return "\n".join(lines)


def sweep_curvature(path, records):
    """{run name: its row of the sweep table at `path`} for the runs of `records` it measured as they
    are now ({} when `path` is not a sweep table, e.g. a single run's own hessian.json). A row whose
    config differs from the run's record (the run was trained further since) is left out: it would
    describe other weights."""
    table = read_sweep(path)
    if table is None:
        return {}
    configs = {r["name"]: r.get("config") or {} for r in records}
    return {row["run"]: row for row in table.get("rows", [])
            if row.get("run") in configs
            and all(row[k] == v for k, v in configs[row["run"]].items() if k in row)}


def _masked(values):
    return np.array([np.nan if v is None else v for v in values], dtype=float)


@localized
def figure_landscape(result, show=False, lang=None):
    """A 1-D slice (loss on a log axis, accuracy on a second axis) or a plane (loss and accuracy
    as two contour maps), with the trained weights (and, for interpolate, the initial ones) marked."""
    r, tr = _load(result), translator(lang)
    title = tr("slice_title", run=r["run"], kind=tr("kind_" + r["kind"]), images=r["images"])
    if r["kind"] == "plane":
        return _plane(r, title, show, tr)
    fig = new_figure((6.4, 3.8), show)
    ax = fig.add_subplot()
    alphas = np.asarray(r["alphas"])
    ax.plot(alphas, _masked(r["loss"]), color="#0072B2", label=tr("loss"))
    ax.set_yscale("log")
    ax.set_ylabel(tr("train_loss_of", loss=r["loss_function"]), color="#0072B2")
    acc_ax = ax.twinx()
    acc_ax.plot(alphas, r["accuracy"], color="#E69F00", linestyle="--", label=tr("accuracy"))
    acc_ax.set_ylim(0, 1.02)
    acc_ax.set_ylabel(tr("accuracy"), color="#E69F00")
    if r["kind"] == "interpolate":
        ax.axvline(0, color="0.5", linestyle=":")
        ax.axvline(1, color="0.3", linestyle=":")
        ax.set_xlabel(tr("alpha_interpolate"))
    else:
        ax.axvline(0, color="0.3", linestyle=":")
        ax.set_xlabel(tr("alpha_random", seed=r["seed"]))
    ax.set_title(title, fontsize=9)
    return fig


@localized
def figure_slices(results, labels=None, show=False, lang=None):
    """Several 1-D slices of the same kind on one axis (loss, log scale): e.g. SGD against Adam."""
    results, tr = [_load(r) for r in results], translator(lang)
    fig = new_figure((6.4, 3.8), show)
    ax = fig.add_subplot()
    kind = results[0]["kind"]
    trained_at = 1 if kind == "interpolate" else 0  # where the trained weights are on the slice
    for i, r in enumerate(results):
        label = labels[i] if labels else r["run"]
        ax.plot(r["alphas"], _masked(r["loss"]), label=tr("slice_label", label=label, loss=r["centre"]["loss"]))
    ax.set_yscale("log")
    ax.axvline(trained_at, color="0.3", linestyle=":")
    if kind == "interpolate":
        ax.axvline(0, color="0.5", linestyle=":")
    ax.set_xlabel("α: (1 − α)·w_init + α·w" if kind == "interpolate" else tr("alpha_d"))
    ax.set_ylabel(tr("train_loss"))
    ax.set_title(tr("slices_title", kind=tr("kind_" + kind), images=results[0]["images"]), fontsize=9)
    ax.legend(fontsize=8)
    return fig


def _plane(r, title, show, tr):
    fig = new_figure((9.6, 4.0), show)
    alphas, betas = np.asarray(r["alphas"]), np.asarray(r["betas"])
    loss = np.array([_masked(row) for row in r["loss"]])
    panels = [(np.log10(loss), tr("log10_loss"), "viridis"),
              (np.array(r["accuracy"], dtype=float), tr("accuracy"), "magma")]
    for i, (values, label, cmap) in enumerate(panels):
        ax = fig.add_subplot(1, 2, i + 1)
        filled = ax.contourf(alphas, betas, values, levels=20, cmap=cmap)
        ax.contour(alphas, betas, values, levels=10, colors="k", linewidths=0.4)
        fig.colorbar(filled, ax=ax, label=label)
        ax.plot(0, 0, "w*", markersize=12, markeredgecolor="k")
        ax.set_xlabel(tr("direction", greek="α", d="d1"))
        ax.set_ylabel(tr("direction", greek="β", d="d2"))
        ax.set_aspect("equal")
    fig.suptitle(title + tr("plane_title", seed=r["seed"]), fontsize=9)
    return fig
