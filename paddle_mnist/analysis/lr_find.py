"""The figure of a learning-rate range test, drawn from its result (``OUT/lr_find.json``, ``schemas.lr_find``)."""

import os

import numpy as np

from paddle_mnist.analysis.lang import localized, translator
from paddle_mnist.analysis.style import new_figure
from paddle_mnist.core.files import atomic_path

PNG_DPI = 100  # 7 x 4.5 inches: a 700 x 450 picture


@localized
def figure_lr_find(result, show=False, lang=None):
    """Loss (each step, light; smoothed, dark) against the learning rate on a log axis, suggestions marked."""
    tr = translator(lang)
    lrs, losses, smoothed = result["lrs"], result["losses"], result["smoothed"]
    fig = new_figure((7, 4.5), show)
    ax = fig.subplots()
    ax.plot(lrs, losses, color="tab:blue", alpha=0.3, lw=1, label=tr("lrf_each_batch"))
    ax.plot(lrs, smoothed, color="tab:blue", lw=2, label=tr("lrf_smoothed"))
    s = result["suggestions"]
    if s["steepest"]:
        i = lrs.index(s["steepest"])
        ax.plot([s["steepest"]], [smoothed[i]], "o", color="tab:red", ms=8,
                label=tr("lrf_steepest", lr=s["steepest"]))
    if s["minimum_div10"]:
        ax.axvline(s["minimum_div10"], color="tab:green", ls="--", label=tr("lrf_min10", lr=s["minimum_div10"]))
        ax.axvline(s["minimum"], color="tab:gray", ls=":", lw=1, label=tr("lrf_min", lr=s["minimum"]))
    ax.set_xscale("log")
    if smoothed:  # show the way down in full; the blow-up may leave the top of the plot
        best = int(np.argmin(smoothed))
        finite = [v for v in losses if v is not None]
        ax.set_ylim(max(0.0, min(finite) * 0.9), 1.25 * max(smoothed[: best + 1]))
    ax.set_xlabel(tr("lr_log"))
    ax.set_ylabel(tr("train_loss"))
    title = tr("lrf_title", optimizer=result["optimizer"], model=result["model"], batch=result["batch_size"])
    if result["stopped"]:
        title += "\n" + tr("lrf_stopped", lr=result["stopped"]["lr"])
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def save_lr_find(fig, out):
    """Write OUT/lr_find.png (atomically); returns its path."""
    path = os.path.join(out, "lr_find.png")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=PNG_DPI)
    return path
