"""Training loss against optimizer steps: by optimizer, by learning rate, and the spread over seeds.

The three figures share one frame (``_loss_figure``): a grid of log-scale panels on shared axes,
the y axis capped so one diverging run does not flatten every other curve, and steps on the x axis
(epochs when the runs' batch sizes differ, since their steps are then of different sizes). They
differ only in how one group is drawn: the mean over seeds, raw and smoothed (``_draw_mean``), or
the seeds' spread as a band (``_draw_band``).
"""

import math

import numpy as np
from matplotlib.ticker import MaxNLocator

from paddle_mnist.analysis.runs import (as_runs, canon, group_label, run_diverged, seeds_note, seeds_title,
                                        step_losses)
from paddle_mnist.analysis.lang import localized, translator
from paddle_mnist.analysis.style import (DIVERGED, LR_MARKERS, diverged_handle, figure_legend, grid, label_grid,
                                         line_styles, lr_colours, optimizer_styles)
from paddle_mnist.core.errors import DataError

MARKS_PER_LINE = 8  # markers along a loss line: tell lines apart where colours come close


def running_mean(values, window):
    """Centred running mean over `window` steps, skipping NaN; NaN stays NaN (a diverged tail)."""
    values = np.asarray(values, float)
    if window is None or window <= 1 or values.size == 0:
        return values.copy()
    ok = np.isfinite(values)
    sums = np.concatenate([[0.0], np.cumsum(np.where(ok, values, 0.0))])
    counts = np.concatenate([[0], np.cumsum(ok)])
    half = window // 2
    i = np.arange(values.size)
    lo, hi = np.clip(i - half, 0, values.size), np.clip(i - half + window, 0, values.size)
    n = counts[hi] - counts[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (sums[hi] - sums[lo]) / n
    out[~ok] = np.nan
    return out


def auto_window(runs):
    """The default smoothing: about 1/30 of the longest run."""
    longest = max((len(step_losses(r)) for r in runs.records), default=0)
    return max(1, round(longest / 30))


def _stack(curves):
    """Curves of different lengths as one [runs, steps] array padded with NaN."""
    length = max((len(c) for c in curves), default=0)
    out = np.full((len(curves), length), np.nan)
    for i, c in enumerate(curves):
        out[i, : len(c)] = c
    return out


def _nanmean_std(stacked):
    """Mean and std over runs, per step, of the finite values (NaN where none)."""
    ok = np.isfinite(stacked)
    n = ok.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(ok, stacked, 0.0).sum(axis=0) / n
        var = np.where(ok, (stacked - mean) ** 2, 0.0).sum(axis=0) / n
    return mean, np.sqrt(var), n


def _x_axis(runs, tr):
    """Steps, or epochs when runs have different steps per epoch (batch sizes): steps differ in size."""
    spes = {r.get("steps_per_epoch") for r in runs.records}
    if len(spes) > 1:
        for r in runs.records:
            if r.get("steps_per_epoch") is None:
                raise DataError(f"run {r['name']!r}: no steps_per_epoch, needed to put runs of "
                                f"different batch sizes on one epoch axis")
        return "epochs", tr("x_epochs")
    return "steps", tr("x_steps")


def _x_values(record, n, mode):
    steps = np.arange(1, n + 1, dtype=float)
    return steps / record["steps_per_epoch"] if mode == "epochs" else steps


def _by_optimizer(groups):
    panels = {}
    for g in groups:
        panels.setdefault(g.optimizer, []).append(g)
    return list(panels.items())


# ---------------------------------------------------------------------------------------------
# the figures


@localized
def figure_loss_by_optimizer(runs, window=None, show=False, lang=None):
    """One panel per optimizer, one line per learning rate (dark to light as the lr grows, a marker each)."""
    runs, tr = as_runs(runs), translator(lang)
    lrs = sorted({g.lr for g in runs.groups})
    lr_colour = lr_colours(lrs)
    lr_marker = {lr: LR_MARKERS[i % len(LR_MARKERS)] for i, lr in enumerate(lrs)}
    title = tr("title_by_optimizer") if len(runs.groups) > 1 else tr("title_one_run")
    look = lambda g: (lr_colour[g.lr], lr_marker[g.lr] if len(lrs) > 1 else None)  # noqa: E731
    return _step_loss_figure(runs, _by_optimizer(runs.groups), look, lambda g: group_label(g, optimizer=False),
                             title, window, show, lang)


@localized
def figure_loss_by_lr(runs, window=None, show=False, lang=None):
    """One panel per learning rate, one line per optimizer (its own colour and marker, see style.py)."""
    runs, tr = as_runs(runs), translator(lang)
    styles = optimizer_styles(g.optimizer for g in runs.groups)
    by_lr = {}
    for g in sorted(runs.groups, key=lambda g: g.lr):
        by_lr.setdefault(g.lr, []).append(g)
    panels = [(tr("panel_lr", lr=lr), gs) for lr, gs in by_lr.items()]
    return _step_loss_figure(runs, panels, lambda g: styles[g.optimizer], lambda g: group_label(g, lr=False),
                             tr("title_by_lr"), window, show, lang)


@localized
def figure_seeds(runs, window=None, show=False, lang=None):
    """Configurations run with several seeds: mean line and ±1 std band, each seed smoothed first."""
    runs, tr = as_runs(runs), translator(lang)
    window = auto_window(runs) if window is None else window
    groups = [g for g in runs.groups if len(g.runs) > 1]
    lr_colour = lr_colours([g.lr for g in groups])
    styles = line_styles([g.extras for g in groups])

    def draw(ax, g, mode):
        label = group_label(g, optimizer=False) + seeds_note(g, groups, lang=lang)
        return _draw_band(ax, g, mode, window, lr_colour[g.lr], styles[canon(g.extras)], label)

    fig, axes, _ = _loss_figure(runs, _by_optimizer(groups), draw, show, tr("title_seeds"), tr)
    counts = sorted({len(g.runs) for g in groups})
    seeds = f"{counts[0]}" if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"
    note = tr("note_seeds", seeds=seeds) + (tr("note_seeds_smoothed", window=window) if window > 1 else "")
    figure_legend(fig, axes, title=note)
    return fig


def _step_loss_figure(runs, panels, look, label, title, window, show, lang):
    """The mean over seeds of every group: light raw line under a smoothed one, × where a run diverged.
    `look(group)` is its (colour, marker or None)."""
    tr = translator(lang)
    window = auto_window(runs) if window is None else window
    styles = line_styles([g.extras for g in runs.groups])

    def draw(ax, g, mode):
        text = label(g) + seeds_note(g, runs.groups, lang=lang)
        return _draw_mean(ax, g, mode, window, look(g), styles[canon(g.extras)], text)

    fig, axes, mode = _loss_figure(runs, panels, draw, show, title, tr)
    for ax in axes:
        ax.grid(True, which="minor", alpha=0.1)
    if mode == "steps":
        _epochs_on_top(runs, axes, tr)
    diverged = any(line.get_gid() == "diverged" for ax in axes for line in ax.lines)
    note = tr("note_smoothed", window=window) if window > 1 else tr("note_every_step")
    figure_legend(fig, axes, [diverged_handle(tr("diverged"))] if diverged else [],
                  title=note + seeds_title(runs.groups, tr("each_line_mean")))
    return fig


def _loss_figure(runs, panels, draw, show, title, tr):
    """The frame: `panels` is [(panel title, [groups])]; `draw(ax, group, mode)` returns the curve drawn."""
    mode, xlabel = _x_axis(runs, tr)
    n_lines = max(len(gs) for _, gs in panels)
    fig, axes = grid(len(panels), show, title, legend_rows=math.ceil(n_lines / 4))
    curves = []
    for ax, (panel_title, groups) in zip(axes, panels):
        for g in groups:
            curve = draw(ax, g, mode)
            if curve is not None:
                curves.append(curve)
        ax.set_title(panel_title, fontsize=11)
        ax.set_yscale("log")
        ax.grid(True, which="major", alpha=0.3)
    _clip_loss_axis(axes, curves)
    label_grid(axes, xlabel, tr("loss_log"))
    return fig, axes, mode


# ---------------------------------------------------------------------------------------------
# drawing into one panel


def _draw_mean(ax, group, mode, window, look, style, label):
    """The mean loss of the group's seeds: raw (light, when smoothing) and smoothed; None if no steps.
    Markers (if any) sit at a few steps, each line's a little later than the one before, so they do
    not pile up where lines meet."""
    colour, marker = look
    curves = [step_losses(r) for r in group.runs]
    mean, _, _ = _nanmean_std(_stack(curves))
    if mean.size == 0:
        return None
    x = _x_values(group.runs[0], mean.size, mode)
    if window > 1:
        ax.plot(x, mean, color=colour, alpha=0.25, linewidth=0.8)
    every = max(1, mean.size // MARKS_PER_LINE)
    start = (len(ax.get_lines()) * every // 5) % every
    ax.plot(x, running_mean(mean, window), color=colour, linestyle=style, linewidth=1.8, label=label,
            marker=marker, markevery=(start, every), markersize=5, markerfacecolor="white")
    for r, curve in zip(group.runs, curves):
        ok = np.flatnonzero(np.isfinite(curve))
        if run_diverged(r) and ok.size:  # a × on the last finite loss
            xd = _x_values(r, curve.size, mode)[ok[-1]]
            ax.plot([xd], [curve[ok[-1]]], zorder=5, gid="diverged", **DIVERGED)
    return mean


def _draw_band(ax, group, mode, window, colour, style, label):
    """Mean of the smoothed seeds as a line, ±1 std as a band; None if no steps."""
    stacked = _stack([running_mean(step_losses(r), window) for r in group.runs])
    mean, std, n = _nanmean_std(stacked)
    if mean.size == 0:
        return None
    x = _x_values(group.runs[0], mean.size, mode)
    band = n > 1
    lower = np.where(band, np.maximum(mean - std, mean * 0.05), np.nan)  # log axis: stay > 0
    ax.fill_between(x, lower, np.where(band, mean + std, np.nan), color=colour, alpha=0.2, linewidth=0)
    ax.plot(x, mean, color=colour, linestyle=style, linewidth=1.8, label=label)
    return mean


def _epochs_on_top(runs, axes, tr):
    """Epochs above the steps of the top row, when every run has the same steps per epoch and two or more."""
    spes = {r.get("steps_per_epoch") for r in runs.records}
    longest = max(len(step_losses(r)) for r in runs.records)
    if None in spes or longest < 2 * min(spes):
        return
    spe = spes.pop()
    for ax in axes[: axes[0].get_gridspec().ncols]:
        top_axis = ax.secondary_xaxis("top", functions=(lambda s: s / spe, lambda e: e * spe))
        top_axis.set_xlabel(tr("epoch"), fontsize=8)
        top_axis.tick_params(labelsize=8)
        top_axis.xaxis.set_major_locator(MaxNLocator(integer=True))


def _clip_loss_axis(axes, curves):
    """Log-scale y limits from the curves, capped at 10x the largest starting loss.

    A diverging run would otherwise stretch the axis to 1e30 and flatten the curves a learner
    wants to read; its diverged marker is moved onto the top edge.
    """
    finite = [c[np.isfinite(c)] for c in curves]
    first_losses = [f[0] for f in finite if f.size]
    values = np.concatenate(finite) if finite else np.array([])
    values = values[values > 0]
    if not values.size:
        return
    top = min(values.max(), 10 * max(first_losses)) * 1.3
    axes[0].set_ylim(values.min() / 1.3, top)  # the panels share their y axis
    for ax in axes:
        for line in ax.lines:
            if line.get_gid() == "diverged":
                line.set_ydata(np.minimum(line.get_ydata(), top / 1.15))
