"""Sharpness during training: λmax over the steps against its stability line, and the loss below it.

Reads the ``sharpness`` series that ``train --sharpness-every N`` writes into run records (see
``runners/sharpness.py`` for what each number is). One column per optimizer, the learning rates as
lines of one colour each: in the top panel the measured value (solid, a dot per measurement) and
its stability line (dashed: 2/lr for SGD, (2+2β)/lr for heavy-ball momentum, (2+2β1)/((1−β1)·lr),
i.e. 38/lr, for Adam's preconditioned value); below it the training loss of every step. A value
above its dashed line means the step at that lr overshoots along the sharpest direction.
"""

import numpy as np
from matplotlib.lines import Line2D

from paddle_mnist.analysis.lang import localized, translator
from paddle_mnist.analysis.runs import OPTIMIZER_ORDER, step_losses
from paddle_mnist.analysis.style import DIVERGED, diverged_handle, figure_legend, lr_colours, new_figure
from paddle_mnist.core.errors import DataError

VALUE_LABEL = {"lambda_max": "lambda_max_h", "preconditioned": "lambda_max_ph"}  # phrases (analysis/lang.py)
LOG_RATIO = 30  # a λ axis spanning more than this factor is drawn on a log scale


def has_sharpness(record):
    return bool((record.get("sharpness") or {}).get("points"))


def shown_value(record):
    """Which series the panel shows: the one the stability line is about (λmax when there is none)."""
    return (record["sharpness"].get("stability") or {}).get("of") or "lambda_max"


def series(record, key):
    """(steps, values) of one value of the sharpness series, missing measurements left out."""
    points = [p for p in record["sharpness"]["points"] if p.get(key) is not None]
    return np.array([p["step"] for p in points], float), np.array([p[key] for p in points], float)


@localized
def figure_sharpness(records, show=False, lang=None):
    """One column per optimizer: λmax (or Adam's preconditioned λmax) and its stability line over the
    steps, the training loss under it; every learning rate a colour. `records`: run records (dicts)."""
    tr = translator(lang)
    records = [r for r in records if has_sharpness(r)]
    if not records:
        raise DataError("no run record has a sharpness series (train with --sharpness-every N)")
    names = sorted({r["config"]["optimizer"] for r in records},
                   key=lambda n: OPTIMIZER_ORDER.index(n) if n in OPTIMIZER_ORDER else len(OPTIMIZER_ORDER))
    colours = lr_colours([r["config"]["lr"] for r in records])
    fig = new_figure((max(7.2, 4.8 * len(names)), 6.8), show)
    axes = fig.subplots(2, len(names), sharex="col", squeeze=False, height_ratios=[3, 2])
    for col, name in enumerate(names):
        runs = sorted((r for r in records if r["config"]["optimizer"] == name), key=lambda r: r["config"]["lr"])
        _draw_column(axes[0, col], axes[1, col], runs, colours, tr)
        axes[0, col].set_title(name, fontsize=11)
    fig.suptitle(tr("sharp_title"), fontsize=12)
    extra = [Line2D([], [], color="0.3", marker="o", markersize=3, label=tr("measured_lmax")),
             Line2D([], [], color="0.3", linestyle="--", label=tr("stability_line"))]
    if any(r.get("divergence") for r in records):
        extra.append(diverged_handle(tr("diverged_record_ends")))
    figure_legend(fig, list(axes.ravel()), extra, title=_subset_note(records, tr))
    return fig


def _draw_column(top, bottom, runs, colours, tr):
    lows, highs = [], []
    for r in runs:
        lr, colour, key = r["config"]["lr"], colours[r["config"]["lr"]], shown_value(r)
        steps, values = series(r, key)
        top.plot(steps, values, color=colour, marker="o", markersize=3, linewidth=1.6, label=f"lr {lr:g}")
        at, line = series(r, "threshold")
        if at.size:  # held to the run's last step
            last = max(len(r["steps"]["loss"]), at[-1])
            top.plot(np.r_[at, last], np.r_[line, line[-1]], color=colour, linestyle="--", linewidth=1.2,
                     drawstyle="steps-post")
            lows.append(line.min())
            highs.append(line.max())
        if values.size:
            lows.append(values[values > 0].min() if (values > 0).any() else 1.0)
            highs.append(values.max())
        losses = step_losses(r)
        bottom.plot(np.arange(losses.size), losses, color=colour, linewidth=1.2)
        if r.get("divergence"):
            at = r["divergence"]["step"] - 1
            finite = losses[:at][np.isfinite(losses[:at])]
            bottom.plot([at], [finite[-1] if finite.size else 1.0], **DIVERGED)
    if lows and min(lows) > 0 and max(highs) / min(lows) > LOG_RATIO:
        top.set_yscale("log")
    top.set_ylabel(tr(VALUE_LABEL[shown_value(runs[0])]))
    top.grid(True, alpha=0.3)
    finite = np.concatenate([step_losses(r) for r in runs])
    finite = finite[np.isfinite(finite) & (finite > 0)]
    if finite.size and finite.max() / finite.min() > 10:  # log only when it spans a decade
        bottom.set_yscale("log")
    bottom.set_ylabel(tr("train_loss") + (tr("log_scale") if bottom.get_yscale() == "log" else ""))
    bottom.set_xlabel(tr("sharp_step"))
    bottom.grid(True, alpha=0.3)


def _subset_note(records, tr):
    s = records[0]["sharpness"]
    batch = records[0]["config"]["batch_size"]
    n_train = records[0]["data"]["sizes"]["train"]
    kind = tr("full_batch") if batch >= n_train else tr("batch_n", batch=batch)
    tolerance = s.get("tolerance", 0.01)  # records from before the tolerance ran a fixed number of steps
    return tr("sharp_note", kind=kind, n=n_train, every=s["every"], images=s["images"], tol=100 * tolerance)
