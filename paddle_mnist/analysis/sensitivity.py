"""Results against the learning rate, and the per-epoch curves (the four panels of DeepOBS).

``figure_lr_sensitivity``: final validation accuracy and loss against the learning rate, one line
per optimizer (+ other varying fields), ±1 std error bars over seeds, a × in a red band where a run
diverged (it has no final result to put on the curve).
``figure_epochs``: train/valid loss and accuracy per epoch, train and valid on one scale per row so
the gap between them shows.
"""

import math

import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator, NullLocator

from paddle_mnist.analysis.runs import (as_runs, by_line, canon, extras_label, final_results, group_label,
                                        lr_text, seeds_note, seeds_title)
from paddle_mnist.analysis.lang import localized, translator
from paddle_mnist.analysis.style import (DIVERGED, LR_MARKERS, dodge, figure_legend, line_styles, new_figure,
                                         optimizer_colours, optimizer_styles)


@localized
def figure_lr_sensitivity(runs, show=False, lang=None, extra_handles=()):
    """Final validation accuracy and loss against the lr: one line per optimizer (+ other fields),
    each in its own colour and marker, the lines shifted sideways a little so tied points all show.
    `extra_handles`: more legend entries (a caller's own marks)."""
    runs, tr = as_runs(runs), translator(lang)
    looks = optimizer_styles(g.optimizer for g in runs.groups)
    colours = {name: colour for name, (colour, _) in looks.items()}
    styles = line_styles([g.extras for g in runs.groups])
    lines = by_line(runs.groups)
    fig = new_figure((11.0, 5.1), show)
    ax_acc, ax_loss = fig.subplots(1, 2, sharex=True)
    fig.suptitle(tr("title_sensitivity"), fontsize=12)
    panels = ((ax_acc, "valid_acc", 100.0), (ax_loss, "valid_loss", 1.0))
    ax_loss.set_yscale("log")
    for i, groups in enumerate(lines.values()):
        colour, marker = looks[groups[0].optimizer]
        style = dict(color=colour, linestyle=styles[canon(groups[0].extras)], marker=marker, markersize=6,
                     markeredgecolor="white", markeredgewidth=0.6, linewidth=1.6)
        for ax, key, scale in panels:
            _draw_results(ax, groups, key, scale, group_label(groups[0], lr=False), style, (i, len(lines)))
    any_diverged = _mark_diverged(lines, [ax for ax, _, _ in panels], colours)
    ax_acc.set_ylabel(tr("final_valid_acc"))
    ax_acc.set_title(tr("acc_higher"), fontsize=11)
    ax_loss.set_ylabel(tr("final_valid_loss"))
    ax_loss.set_title(tr("loss_lower"), fontsize=11)
    lrs = sorted({g.lr for g in runs.groups})
    for ax in (ax_acc, ax_loss):
        ax.set_xscale("log")
        ax.set_xlabel(tr("lr_log"))
        ax.grid(True, which="major", alpha=0.3)
        if len(lrs) <= 8:  # ticks at the learning rates that were tried
            ax.set_xticks(lrs, [f"{lr:g}" for lr in lrs])
            ax.xaxis.set_minor_locator(NullLocator())
    handle = Line2D([], [], label=tr("diverged_band"), **{**DIVERGED, "color": "0.2"})
    figure_legend(fig, [ax_acc, ax_loss], ([handle] if any_diverged else []) + list(extra_handles),
                  title=tr("dodged") if len(lines) > 1 else None)
    return fig


def _draw_results(ax, groups, key, scale, label, style, place):
    """One line: the final `key` at each lr of the groups; error bars when there are several seeds.
    `place` = (i, n): line i of n, moved sideways by style.dodge so equal points do not hide each other."""
    points = [(g.lr,) + final_results(g)[key] for g in groups]
    points = [(lr, mean * scale, std * scale) for lr, mean, std in points if mean is not None]
    if not points:
        return
    xs, ys, errors = zip(*points)
    xs = dodge(xs, *place)
    if any(errors):  # several seeds: ±1 std error bars
        ax.errorbar(xs, ys, yerr=errors, label=label, capsize=3, **style)
    else:
        ax.plot(xs, ys, label=label, **style)


def _mark_diverged(lines, axes, colours):
    """Diverged runs have no final result: a × in a band above the data, one row per line."""
    diverged = [(line, g) for line, gs in lines.items() for g in gs if g.diverged]
    rows = {line: i for i, line in enumerate(dict.fromkeys(line for line, _ in diverged))}
    if not rows:
        return False
    band = 0.04 + 0.05 * len(rows)  # fraction of the axes height
    for ax in axes:
        _make_room_on_top(ax, band)
        ax.add_patch(Rectangle((0, 1 - band), 1, band, transform=ax.transAxes, color="#d62728",
                               alpha=0.07, linewidth=0))
        for line, g in diverged:
            ax.plot(dodge([g.lr], rows[line], len(rows)), [1 - 0.035 - 0.05 * rows[line]],
                    transform=ax.get_xaxis_transform(),
                    zorder=5, gid="diverged", **{**DIVERGED, "color": colours[line[0]]})
    return True


def _make_room_on_top(ax, fraction):
    """Raise the top of the y axis so the data keeps the lower (1 - fraction) of the panel."""
    lo, hi = ax.get_ylim()
    ticks = [t for t in ax.get_yticks() if lo <= t <= hi]
    if ax.get_yscale() == "log":
        lo_, hi_ = np.log10(lo), np.log10(hi)
        ax.set_ylim(lo, 10 ** (lo_ + (hi_ - lo_) / (1 - fraction)))
    else:
        ax.set_ylim(lo, lo + (hi - lo) / (1 - fraction))
        ax.set_yticks(ticks)  # no tick labels (e.g. 110%) inside the band


# ---------------------------------------------------------------------------------------------
# per epoch

EPOCH_PANELS = [("train_loss", "train_loss_log", 1.0),  # (record key, phrase of its label, scale)
                ("valid_loss", "valid_loss_log", 1.0),
                ("train_acc", "train_acc", 100.0),
                ("valid_acc", "valid_acc", 100.0)]


@localized
def figure_epochs(runs, show=False, lang=None):
    """Train/valid loss and accuracy per epoch: colour = optimizer, marker = learning rate."""
    runs, tr = as_runs(runs), translator(lang)
    colours = optimizer_colours(g.optimizer for g in runs.groups)
    styles = line_styles([g.extras for g in runs.groups])
    lrs = sorted({g.lr for g in runs.groups})
    markers = {lr: LR_MARKERS[i % len(LR_MARKERS)] for i, lr in enumerate(lrs)}
    # Up to 8 lines: one legend entry per line. More: colour = optimizer, marker = lr, explained once.
    compact = len(runs.groups) > 8
    n_entries = len(colours) + len(lrs) + len(styles) if compact else len(runs.groups)
    fig = new_figure((11.0, 7.4 + 0.25 * math.ceil(n_entries / 4)), show)
    axs = fig.subplots(2, 2, sharex=True, sharey="row")  # train and valid on one scale: see the gap
    fig.suptitle(tr("title_epochs"), fontsize=12)
    panels = [(ax, key, scale) for ax, (key, _, scale) in zip(axs.ravel(), EPOCH_PANELS)]
    n = len(runs.groups)
    for j, g in enumerate(runs.groups):
        label = group_label(g) + seeds_note(g, runs.groups, divergence=True, lang=lang)
        style = dict(color=colours[g.optimizer], linestyle=styles[canon(g.extras)], marker=markers[g.lr],
                     markersize=5, linewidth=1.5, alpha=0.9 if len(g.runs) == 1 else 0.6)
        shift = 0.3 * ((j + 0.5) / n - 0.5) if n > 1 else 0.0  # side by side within ±0.15 epoch: none hidden
        for i, r in enumerate(g.runs):
            epochs = r.get("epochs") or []
            x = [e.get("epoch", k + 1) + shift for k, e in enumerate(epochs)]
            for ax, key, scale in panels:
                y = [np.nan if e.get(key) is None else e[key] * scale for e in epochs]
                ax.plot(x, y, label=label if i == 0 and not compact else None, **style)
    for ax, (key, ylabel, _) in zip(axs.ravel(), EPOCH_PANELS):
        ax.set_ylabel(tr(ylabel))
        ax.yaxis.set_tick_params(labelleft=True)
        ax.grid(True, alpha=0.3)
        if "loss" in key:
            ax.set_yscale("log")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    last = max((len(r.get("epochs") or []) for r in runs.records), default=1)
    axs[1, 0].set_xlim(0.7, last + 0.3)  # also sensible for a single epoch
    for ax in axs[1]:
        ax.set_xlabel(tr("epoch"))
    title = seeds_title(runs.groups, tr("one_line_per_seed")) or None
    if compact:
        _compact_legend(fig, runs, colours, markers, styles, title, tr)
    else:
        figure_legend(fig, [axs[0, 0]], title=title)
    return fig


def _compact_legend(fig, runs, colours, markers, styles, title, tr):
    """Colour = optimizer, marker = learning rate, line style = other settings, each explained once."""
    handles = [Line2D([], [], color=c, linewidth=2, label=name) for name, c in colours.items()]
    handles += [Line2D([], [], color="0.4", marker=m, linestyle="none", label=lr_text(lr))
                for lr, m in markers.items()]
    if len(styles) > 1:
        extras = {canon(g.extras): g.extras for g in runs.groups}
        handles += [Line2D([], [], color="0.4", linestyle=ls, label=extras_label(extras[key]))
                    for key, ls in styles.items()]
    figure_legend(fig, [], handles, title=tr("compact_legend")
                  + (tr("compact_legend_style") if len(styles) > 1 else "")
                  + (f"; {title}" if title else ""))
