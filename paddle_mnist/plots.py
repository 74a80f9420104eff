"""Figures and a summary table drawn from run records alone: this module never trains.

``paddle-mnist plot DIR`` reads every ``DIR/**/record.json`` and writes into DIR:

- ``loss_by_optimizer.png``: training loss per step, one panel per optimizer, one line per learning rate
- ``loss_by_lr.png``: the same curves, one panel per learning rate, one line per optimizer
- ``lr_sensitivity.png``: final validation accuracy and loss against the learning rate
- ``epochs.png``: train/valid loss and accuracy per epoch (the four panels of DeepOBS)
- ``seeds.png``: mean ± 1 std over seeds (only when runs were repeated with several seeds)
- ``summary.md`` and ``summary.csv``: the best learning rate per optimizer, then every run

The figures are ``matplotlib.figure.Figure`` objects made without pyplot, so drawing them neither
needs a display nor changes a notebook's backend; a notebook shows a returned figure as it is.
Runs that differ only by their seed are averaged; every other config field that varies (batch
size, schedule, model, ...) goes into the line labels, so different runs are never merged silently.
"""

import csv
import io
import json
import math
import os
import sys
import warnings
from dataclasses import dataclass, field

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator, NullLocator

from paddle_mnist.errors import ConfigError, DataError
from paddle_mnist.files import atomic_path
from paddle_mnist.record import FINISHED, find_records

FORMATS = ("png", "svg", "pdf")
DPI = 120

# Config fields that do not change what a run computes (where it wrote, on which device, ...),
# plus the seed, which is averaged over rather than drawn as its own line.
NOT_AN_AXIS = {"data", "out", "resume", "device", "threads", "visualdl", "wandb", "seed"}
# Order of the other varying fields in labels, and their short names.
AXIS_ORDER = ["model", "batch_size", "epochs", "schedule", "warmup_steps", "schedule_args", "loss",
              "weight_decay", "grad_clip", "opt_args", "lr_groups", "patience"]
SHORT = {"batch_size": "bs", "weight_decay": "wd", "warmup_steps": "warmup", "grad_clip": "clip"}

# One fixed colour per optimizer, the same in every figure (and every sweep). Red is left out:
# it marks diverged runs.
OPTIMIZER_COLOURS = {
    "sgd": "#1f77b4", "momentum": "#ff7f0e", "nesterov": "#9467bd", "adagrad": "#8c564b",
    "rmsprop": "#e377c2", "adadelta": "#7f7f7f", "adam": "#2ca02c", "amsgrad": "#393b79",
    "adamax": "#17becf", "adamw": "#bcbd22", "radam": "#637939", "nadam": "#7b4173",
}
SPARE_COLOURS = ["#843c39", "#3182bd", "#e6550d", "#31a354", "#756bb1", "#636363"]
OPTIMIZER_ORDER = list(OPTIMIZER_COLOURS)
LINESTYLES = ["-", "--", ":", "-."]
LR_MARKERS = ["o", "s", "^", "D", "v", "P", "*", "<", ">", "h"]
DIVERGED = dict(marker="x", color="#d62728", markersize=10, markeredgewidth=2.5, linestyle="none")


class FairnessWarning(UserWarning):
    """Runs that should share initial weights or batch order (same seed) do not."""


@dataclass
class Group:
    """Runs that differ only by their seed: one line in the loss and sensitivity plots."""

    optimizer: str
    lr: float
    extras: tuple  # ((field, value), ...) for the other config fields that vary
    runs: list = field(default_factory=list)

    @property
    def line(self):
        """Which sensitivity-plot line the group is a point of (optimizer + other fields), hashable."""
        return (self.optimizer, _canon(self.extras))

    @property
    def diverged(self):
        return [r for r in self.runs if _is_diverged(r)]


# ---------------------------------------------------------------------------------------------
# reading and checking records


def _is_diverged(record):
    return record.get("status") == "diverged" or bool(record.get("divergence"))


def _is_number(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _check_record(record, where):
    """Fail with a DataError naming the run when a field the plots read is missing or mistyped."""
    name = record.get("name")
    who = f"{where}run {name!r}" if isinstance(name, str) else f"{where}a record without a name"

    def bad(what):
        return DataError(f"{who}: malformed record: {what}")

    if not isinstance(name, str):
        raise bad("'name' is not a string")
    config = record.get("config")
    if not isinstance(config, dict):
        raise bad("'config' is not an object")
    if not isinstance(config.get("optimizer"), str):
        raise bad("config.optimizer is not a string")
    if not _is_number(config.get("lr")):
        raise bad("config.lr is not a number")
    for key in ("data", "steps", "fairness", "eval", "timing"):
        if not (isinstance(record.get(key), dict) or (key != "data" and record.get(key) is None)):
            raise bad(f"{key!r} is not an object")
    losses = (record.get("steps") or {}).get("loss", [])
    if not isinstance(losses, list) or not all(x is None or _is_number(x) for x in losses):
        raise bad("steps.loss is not a list of numbers/nulls")
    epochs = record.get("epochs") or []
    if not isinstance(epochs, list) or not all(isinstance(e, dict) for e in epochs):
        raise bad("'epochs' is not a list of objects")
    for e in epochs:
        for key in ("train_loss", "train_acc", "valid_loss", "valid_acc"):
            if not (e.get(key) is None or _is_number(e.get(key))):
                raise bad(f"epochs[].{key} is not a number")
    spe = record.get("steps_per_epoch")
    if not (spe is None or (isinstance(spe, int) and spe > 0)):
        raise bad("steps_per_epoch is not a positive integer")


def _check_same_data(records):
    """Refuse to compare runs trained on different data files: their numbers are not comparable."""
    by_hash = {}
    for r in records:
        by_hash.setdefault(r["data"].get("sha256"), []).append(r)
    if len(by_hash) > 1:
        parts = []
        for sha, runs in by_hash.items():
            path = runs[0]["data"].get("path") or runs[0]["data"].get("source") or "?"
            names = ", ".join(r["name"] for r in runs[:3]) + (", ..." if len(runs) > 3 else "")
            parts.append(f"{path} (sha256 {str(sha)[:12]}) for {names}")
        raise DataError("runs were trained on different data files, their results are not comparable: "
                        + "; ".join(parts) + ". Plot the runs of one data file at a time.")


def _fairness_warnings(records):
    """One line per fairness hash that differs between runs that should share it (same seed)."""
    checks = [  # hash, what it covers, the config fields that decide it
        ("init_weights_sha256", "initial weights", ("model", "seed")),
        ("batch_order_sha256", "batch order", ("seed", "batch_size", "epochs")),
    ]
    lines = []
    for key, what, by in checks:
        groups = {}
        for r in records:
            value = (r.get("fairness") or {}).get(key)
            if value is not None:
                ident = tuple(_canon(r["config"].get(k)) for k in by)
                groups.setdefault(ident, {}).setdefault(value, []).append(r["name"])
        for ident, hashes in groups.items():
            if len(hashes) > 1:
                examples = " vs ".join(names[0] for names in hashes.values())
                seed = dict(zip(by, ident))["seed"]
                lines.append(f"runs with seed {seed} started from different {what} ({examples}): "
                             f"their comparison is not like-for-like")
                break  # one line per kind of hash is enough
    return lines


def _canon(value):
    """A hashable, comparable form of a config value (dicts and lists included)."""
    return json.dumps(value, sort_keys=True)


def _value_key(value):
    """Sort numbers by value (50 before 100), then None, then everything else by its JSON text."""
    if _is_number(value):
        return (0, float(value), "")
    return (1, 0.0, "") if value is None else (2, 0.0, _canon(value))


def _extras_key(extras):
    return tuple(_value_key(v) for _, v in extras)


def _varying_axes(records):
    """Config fields, other than optimizer, lr and seed, whose values differ between runs."""
    keys = set().union(*(r["config"] for r in records)) - NOT_AN_AXIS - {"optimizer", "lr"}
    varying = [k for k in keys if len({_canon(r["config"].get(k)) for r in records}) > 1]
    return sorted(varying, key=lambda k: (AXIS_ORDER.index(k) if k in AXIS_ORDER else len(AXIS_ORDER), k))


def _optimizer_key(name):
    return (OPTIMIZER_ORDER.index(name) if name in OPTIMIZER_ORDER else len(OPTIMIZER_ORDER), name)


def _group_runs(records, axes):
    """Group the runs that differ only by seed, sorted by optimizer, other fields, then lr."""
    groups = {}
    for r in records:
        c = r["config"]
        extras = tuple((k, c.get(k)) for k in axes)
        key = (c["optimizer"], float(c["lr"]), _canon(extras))
        if key not in groups:
            groups[key] = Group(c["optimizer"], float(c["lr"]), extras)
        groups[key].runs.append(r)
    for g in groups.values():
        g.runs.sort(key=lambda r: (_value_key(r["config"].get("seed")), r["name"]))
    return sorted(groups.values(), key=lambda g: (_optimizer_key(g.optimizer), _extras_key(g.extras), g.lr))


@dataclass
class Runs:
    """Checked records plus what the plots derive from them."""

    records: list
    axes: list       # varying config fields besides optimizer/lr/seed
    groups: list     # [Group]
    warnings: list   # fairness warnings (one line each)


def _prepare(records, where=""):
    if not records:
        raise DataError(f"{where}no run records to plot")
    for r in records:
        if not isinstance(r, dict):
            raise DataError(f"{where}a run record is not a JSON object")
        _check_record(r, where)
    _check_same_data(records)
    axes = _varying_axes(records)
    return Runs(records, axes, _group_runs(records, axes), _fairness_warnings(records))


def load_runs(directory):
    """Every record under `directory` (a sweep, a single run, or any folder of runs)."""
    records = find_records(directory)
    if not records:
        raise DataError(f"{directory}: no run records (record.json) found in it or below it")
    return records


# ---------------------------------------------------------------------------------------------
# numbers behind the figures


def _fmt(value):
    if isinstance(value, float):
        return f"{value:g}"
    if value is None:
        return "none"
    return str(value)


def _axis_label(key, value):
    if isinstance(value, dict):
        return ",".join(f"{k}={_fmt(v)}" for k, v in sorted(value.items())) if value else f"{key}=default"
    return f"{SHORT.get(key, key)}={_fmt(value)}"


def _extras_label(extras):
    return ", ".join(_axis_label(k, v) for k, v in extras)


def _join(*parts):
    return ", ".join(p for p in parts if p)


def _seeds_note(group, groups, divergence=False):
    """' (3 seeds)' when seed counts differ between lines (else the legend title says it once)."""
    n, bad = len(group.runs), len(group.diverged)
    notes = []
    if n > 1 and len({len(g.runs) for g in groups}) > 1:
        notes.append(f"{n} seeds")
    if divergence and bad:
        notes.append("diverged" if bad == n else f"{bad}/{n} diverged")
    return f" ({', '.join(notes)})" if notes else ""


def _seeds_title(groups, text="; each line: mean of {n} seeds"):
    """The seed count, said once in the legend title, when every line has the same number (> 1)."""
    counts = {len(g.runs) for g in groups}
    n = counts.pop() if len(counts) == 1 else 1
    return text.format(n=n) if n > 1 else ""


def step_losses(record):
    """The per-step training loss as floats; null (non-finite) becomes NaN."""
    losses = (record.get("steps") or {}).get("loss", [])
    return np.array([np.nan if x is None else x for x in losses], float)


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


def _auto_window(runs):
    longest = max((len(step_losses(r)) for r in runs.records), default=0)
    return max(1, round(longest / 30))


def _last_epoch(record):
    epochs = record.get("epochs") or []
    return epochs[-1] if epochs else {}


def _x_axis(runs):
    """Steps, or epochs when runs have different steps per epoch (batch sizes): steps differ in size."""
    spes = {r.get("steps_per_epoch") for r in runs.records}
    if len(spes) > 1:
        for r in runs.records:
            if r.get("steps_per_epoch") is None:
                raise DataError(f"run {r['name']!r}: no steps_per_epoch, needed to put runs of "
                                f"different batch sizes on one epoch axis")
        return "epochs", "Epoch (optimizer steps / steps per epoch)"
    return "steps", "Optimizer step"


def _x_values(record, n, mode):
    steps = np.arange(1, n + 1, dtype=float)
    return steps / record["steps_per_epoch"] if mode == "epochs" else steps


# ---------------------------------------------------------------------------------------------
# colours


def optimizer_colours(names):
    """The fixed colour of each optimizer; unknown names get spare colours in order."""
    spare = iter(SPARE_COLOURS * 4)
    return {n: OPTIMIZER_COLOURS.get(n) or next(spare) for n in sorted(set(names), key=_optimizer_key)}


def _lr_colours(lrs):
    """A dark-to-light colour per learning rate (small lr dark), on a log scale."""
    lrs = sorted(set(lrs))
    cmap = colormaps["plasma"]
    if len(lrs) == 1:
        return {lrs[0]: cmap(0.3)}
    logs = np.log10(lrs)
    return {lr: cmap(0.85 * (v - logs[0]) / (logs[-1] - logs[0])) for lr, v in zip(lrs, logs)}


def _styles(extras_list):
    """A line style per combination of the other varying fields (solid for the first)."""
    order = sorted({_canon(e): e for e in extras_list}.items(), key=lambda item: _extras_key(item[1]))
    return {key: LINESTYLES[i % len(LINESTYLES)] for i, (key, _) in enumerate(order)}


# ---------------------------------------------------------------------------------------------
# figures


class NotebookFigure(Figure):
    """A Figure that Jupyter shows as a PNG by itself, even when pyplot was never imported."""

    def _repr_png_(self):
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", dpi=DPI)
        return buffer.getvalue()


def _new_figure(figsize, show):
    if show:  # pyplot only when asked to show: it owns windows and the notebook's inline output
        import matplotlib.pyplot as plt

        return plt.figure(figsize=figsize, layout="constrained", FigureClass=NotebookFigure)
    return NotebookFigure(figsize=figsize, layout="constrained")


def _grid(n, show, title, panel=(4.6, 3.3), ncols_max=3, legend_rows=1):
    """A figure with n panels on a grid (shared axes), at least 640×440 pixels."""
    ncols = min(n, ncols_max)
    nrows = math.ceil(n / ncols)
    width = max(6.4, panel[0] * ncols)
    height = max(4.4, panel[1] * nrows + 0.9 + 0.25 * legend_rows)
    fig = _new_figure((width, height), show)
    axs = fig.subplots(nrows, ncols, sharex=True, sharey=True, squeeze=False).ravel()
    for ax in axs[n:]:
        ax.set_visible(False)
    fig.suptitle(title, fontsize=12)
    return fig, list(axs[:n])


def _figure_legend(fig, axes, extra_handles=(), title=None):
    """One legend for the whole figure (below it), each label once."""
    handles, labels = [], []
    for ax in axes:
        for h, label in zip(*ax.get_legend_handles_labels()):
            if label not in labels:
                handles.append(h)
                labels.append(label)
    for h in extra_handles:
        handles.append(h)
        labels.append(h.get_label())
    if handles:
        ncol = _legend_columns(labels, fig.get_figwidth())
        legend = fig.legend(handles, labels, loc="outside lower center", ncol=ncol, fontsize=9,
                            frameon=False, title=title, title_fontsize=9, handlelength=3)
        legend.get_title().set_color("0.35")


def _legend_columns(labels, width_inches, most=4):
    """As many columns (filled top to bottom) as fit: about 13 characters of 9-point text per inch."""
    for ncol in range(min(most, len(labels)), 1, -1):
        rows = math.ceil(len(labels) / ncol)
        columns = [labels[i:i + rows] for i in range(0, len(labels), rows)]
        if sum(max(map(len, c)) + 6 for c in columns) <= width_inches * 13:
            return ncol
    return 1


def _diverged_handle(text="diverged (loss became NaN/inf)"):
    return Line2D([], [], label=text, **DIVERGED)


def _loss_panels(runs, panels, colour, label, title, window, show):
    """Loss vs step: `panels` is [(panel title, [groups])]; a light raw line under a smoothed one."""
    mode, xlabel = _x_axis(runs)
    styles = _styles([g.extras for g in runs.groups])
    n_lines = max(len(gs) for _, gs in panels)
    fig, axes = _grid(len(panels), show, title, legend_rows=math.ceil(n_lines / 4))
    any_diverged = False
    first_losses, all_values = [], []
    for ax, (panel_title, groups) in zip(axes, panels):
        for g in groups:
            curves = [step_losses(r) for r in g.runs]
            mean, _, _ = _nanmean_std(_stack(curves))
            if mean.size == 0:
                continue
            x = _x_values(g.runs[0], mean.size, mode)
            smooth = running_mean(mean, window)
            c, ls = colour(g), styles[_canon(g.extras)]
            if window > 1:
                ax.plot(x, mean, color=c, alpha=0.25, linewidth=0.8)
            ax.plot(x, smooth, color=c, linestyle=ls, linewidth=1.8,
                    label=label(g) + _seeds_note(g, runs.groups))
            finite = mean[np.isfinite(mean)]
            if finite.size:
                first_losses.append(finite[0])
                all_values.append(finite)
            for r, curve in zip(g.runs, curves):
                if _is_diverged(r):
                    ok = np.flatnonzero(np.isfinite(curve))
                    if ok.size:
                        xd = _x_values(r, curve.size, mode)[ok[-1]]
                        ax.plot([xd], [curve[ok[-1]]], zorder=5, gid="diverged", **DIVERGED)
                        any_diverged = True
        ax.set_title(panel_title, fontsize=11)
        ax.set_yscale("log")
        ax.grid(True, which="major", alpha=0.3)
        ax.grid(True, which="minor", alpha=0.1)
    _clip_loss_axis(axes, all_values, first_losses)
    _label_grid(fig, axes, xlabel, "Training loss (log scale)")
    spes = {r.get("steps_per_epoch") for r in runs.records}
    longest = max(len(step_losses(r)) for r in runs.records)
    if mode == "steps" and None not in spes and longest >= 2 * min(spes):  # two epochs or more
        spe = spes.pop()
        for ax in axes[: axes[0].get_gridspec().ncols]:  # top row: epochs above the steps
            top_axis = ax.secondary_xaxis("top", functions=(lambda s: s / spe, lambda e: e * spe))
            top_axis.set_xlabel("Epoch", fontsize=8)
            top_axis.tick_params(labelsize=8)
            top_axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    note = f"light: every step, dark: running mean over {window} steps" if window > 1 else "every step"
    _figure_legend(fig, axes, [_diverged_handle()] if any_diverged else [],
                   title=note + _seeds_title(runs.groups))
    return fig


def _clip_loss_axis(axes, curves, first_losses):
    """Log-scale y limits from the curves, capped at 10x the largest starting loss.

    A diverging run would otherwise stretch the axis to 1e30 and flatten the curves a learner
    wants to read; its diverged marker is moved onto the top edge.
    """
    values = np.concatenate(curves) if curves else np.array([])
    values = values[np.isfinite(values) & (values > 0)]
    if not values.size:
        return
    top = min(values.max(), 10 * max(first_losses)) * 1.3
    axes[0].set_ylim(values.min() / 1.3, top)  # the panels share their y axis
    for ax in axes:
        for line in ax.lines:
            if line.get_gid() == "diverged":
                line.set_ydata(np.minimum(line.get_ydata(), top / 1.15))


def _label_grid(fig, axes, xlabel, ylabel):
    ncols = axes[0].get_gridspec().ncols
    n = len(axes)
    for i, ax in enumerate(axes):
        if i % ncols == 0:
            ax.set_ylabel(ylabel)
        if i + ncols >= n:  # bottom of its column
            ax.set_xlabel(xlabel)
            ax.xaxis.set_tick_params(labelbottom=True)


def _lr_text(lr):
    return f"lr={lr:g}"


def figure_loss_by_optimizer(runs, window, show=False):
    lr_colour = _lr_colours([g.lr for g in runs.groups])
    by_opt = {}
    for g in runs.groups:
        by_opt.setdefault(g.optimizer, []).append(g)
    panels = [(name, gs) for name, gs in by_opt.items()]
    title = ("Training loss of each optimizer at each learning rate" if len(runs.groups) > 1
             else "Training loss at every optimizer step")
    return _loss_panels(runs, panels, lambda g: lr_colour[g.lr],
                        lambda g: _join(_lr_text(g.lr), _extras_label(g.extras)), title, window, show)


def figure_loss_by_lr(runs, window, show=False):
    colours = optimizer_colours(g.optimizer for g in runs.groups)
    by_lr = {}
    for g in sorted(runs.groups, key=lambda g: g.lr):
        by_lr.setdefault(g.lr, []).append(g)
    panels = [(f"Learning rate {lr:g}", gs) for lr, gs in by_lr.items()]
    return _loss_panels(runs, panels, lambda g: colours[g.optimizer],
                        lambda g: _join(g.optimizer, _extras_label(g.extras)),
                        "Training loss of the optimizers at each learning rate", window, show)


def sensitivity_points(group):
    """(mean, std) of the final valid accuracy and loss over the group's runs that did not diverge."""
    finals = [_last_epoch(r) for r in group.runs if not _is_diverged(r)]
    accs = [e["valid_acc"] for e in finals if e.get("valid_acc") is not None]
    losses = [e["valid_loss"] for e in finals if e.get("valid_loss") is not None]

    def stats(xs):
        return (float(np.mean(xs)), float(np.std(xs))) if xs else (None, None)

    return {"valid_acc": stats(accs), "valid_loss": stats(losses)}


def figure_lr_sensitivity(runs, show=False):
    colours = optimizer_colours(g.optimizer for g in runs.groups)
    styles = _styles([g.extras for g in runs.groups])
    lines = {}
    for g in runs.groups:
        lines.setdefault(g.line, []).append(g)
    fig = _new_figure((11.0, 4.9), show)
    ax_acc, ax_loss = fig.subplots(1, 2, sharex=True)
    fig.suptitle("How the learning rate decides the result (final epoch, validation split)", fontsize=12)
    panels = ((ax_acc, "valid_acc", 100.0), (ax_loss, "valid_loss", 1.0))
    ax_loss.set_yscale("log")
    for groups in lines.values():
        opt, extras = groups[0].optimizer, groups[0].extras
        label = _join(opt, _extras_label(extras))
        style = dict(color=colours[opt], linestyle=styles[_canon(extras)], marker="o", markersize=5,
                     linewidth=1.8)
        for ax, key, scale in panels:
            points = [(g.lr,) + sensitivity_points(g)[key] for g in groups]
            points = [(lr, mean * scale, std * scale) for lr, mean, std in points if mean is not None]
            if not points:
                continue
            xs, ys, errors = zip(*points)
            if any(errors):  # several seeds: ±1 std error bars
                ax.errorbar(xs, ys, yerr=errors, label=label, capsize=3, **style)
            else:
                ax.plot(xs, ys, label=label, **style)
    # Diverged runs have no final result: a × in a band above the data, one row per line.
    diverged = [(line, g) for line, gs in lines.items() for g in gs if g.diverged]
    rows = {line: i for i, line in enumerate(dict.fromkeys(line for line, _ in diverged))}
    if rows:
        band = 0.04 + 0.05 * len(rows)  # fraction of the axes height
        for ax, _, _ in panels:
            _make_room_on_top(ax, band)
            ax.add_patch(Rectangle((0, 1 - band), 1, band, transform=ax.transAxes, color="#d62728",
                                   alpha=0.07, linewidth=0))
            for line, g in diverged:
                ax.plot([g.lr], [1 - 0.035 - 0.05 * rows[line]], transform=ax.get_xaxis_transform(),
                        zorder=5, gid="diverged", **{**DIVERGED, "color": colours[line[0]]})
    ax_acc.set_ylabel("Final validation accuracy (%)")
    ax_acc.set_title("Accuracy (higher is better)", fontsize=11)
    ax_loss.set_ylabel("Final validation loss (log scale)")
    ax_loss.set_title("Loss (lower is better)", fontsize=11)
    lrs = sorted({g.lr for g in runs.groups})
    for ax in (ax_acc, ax_loss):
        ax.set_xscale("log")
        ax.set_xlabel("Learning rate (log scale)")
        ax.grid(True, which="major", alpha=0.3)
        if len(lrs) <= 8:  # ticks at the learning rates that were tried
            ax.set_xticks(lrs, [f"{lr:g}" for lr in lrs])
            ax.xaxis.set_minor_locator(NullLocator())
    handle = Line2D([], [], label="diverged: no final result (× in the red band)",
                    **{**DIVERGED, "color": "0.2"})
    _figure_legend(fig, [ax_acc, ax_loss], [handle] if rows else [])
    return fig


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


def figure_epochs(runs, show=False):
    colours = optimizer_colours(g.optimizer for g in runs.groups)
    styles = _styles([g.extras for g in runs.groups])
    lrs = sorted({g.lr for g in runs.groups})
    markers = {lr: LR_MARKERS[i % len(LR_MARKERS)] for i, lr in enumerate(lrs)}
    # Up to 8 lines: one legend entry per line. More: colour = optimizer, marker = lr, explained once.
    compact = len(runs.groups) > 8
    n_entries = len(colours) + len(lrs) + len(styles) if compact else len(runs.groups)
    fig = _new_figure((11.0, 7.4 + 0.25 * math.ceil(n_entries / 4)), show)
    axs = fig.subplots(2, 2, sharex=True, sharey="row")  # train and valid on one scale: see the gap
    fig.suptitle("Per epoch: loss and accuracy on the training and validation splits", fontsize=12)
    panels = [(axs[0, 0], "train_loss", "Training loss (log scale)", 1.0),
              (axs[0, 1], "valid_loss", "Validation loss (log scale)", 1.0),
              (axs[1, 0], "train_acc", "Training accuracy (%)", 100.0),
              (axs[1, 1], "valid_acc", "Validation accuracy (%)", 100.0)]
    for g in runs.groups:
        label = _join(g.optimizer, _lr_text(g.lr), _extras_label(g.extras))
        label += _seeds_note(g, runs.groups, divergence=True)
        for i, r in enumerate(g.runs):
            epochs = r.get("epochs") or []
            x = [e.get("epoch", k + 1) for k, e in enumerate(epochs)]
            for ax, key, _, scale in panels:
                y = [np.nan if e.get(key) is None else e[key] * scale for e in epochs]
                ax.plot(x, y, color=colours[g.optimizer], linestyle=styles[_canon(g.extras)],
                        marker=markers[g.lr], markersize=5, linewidth=1.5,
                        alpha=0.9 if len(g.runs) == 1 else 0.6,
                        label=label if i == 0 and not compact else None)
    for ax, key, ylabel, _ in panels:
        ax.set_ylabel(ylabel)
        ax.yaxis.set_tick_params(labelleft=True)
        ax.grid(True, alpha=0.3)
        if "loss" in key:
            ax.set_yscale("log")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    last = max((len(r.get("epochs") or []) for r in runs.records), default=1)
    axs[1, 0].set_xlim(0.7, last + 0.3)  # also sensible for a single epoch
    for ax in axs[1]:
        ax.set_xlabel("Epoch")
    title = _seeds_title(runs.groups, "one line per seed ({n} seeds)") or None
    if not compact:
        _figure_legend(fig, [axs[0, 0]], title=title)
        return fig
    handles = [Line2D([], [], color=c, linewidth=2, label=name) for name, c in colours.items()]
    handles += [Line2D([], [], color="0.4", marker=markers[lr], linestyle="none", label=_lr_text(lr))
                for lr in lrs]
    if len(styles) > 1:
        extras = {_canon(g.extras): g.extras for g in runs.groups}
        handles += [Line2D([], [], color="0.4", linestyle=ls, label=_extras_label(extras[key]))
                    for key, ls in styles.items()]
    _figure_legend(fig, [], handles, title="colour: optimizer, marker: learning rate"
                   + (", line style: other settings" if len(styles) > 1 else "")
                   + (f"; {title}" if title else ""))
    return fig


def figure_seeds(runs, window, show=False):
    groups = [g for g in runs.groups if len(g.runs) > 1]
    mode, xlabel = _x_axis(runs)
    lr_colour = _lr_colours([g.lr for g in groups])
    styles = _styles([g.extras for g in groups])
    by_opt = {}
    for g in groups:
        by_opt.setdefault(g.optimizer, []).append(g)
    n_lines = max(len(gs) for gs in by_opt.values())
    fig, axes = _grid(len(by_opt), show, "Training loss over seeds: mean line, ±1 standard deviation band",
                      legend_rows=math.ceil(n_lines / 4))
    means, first_losses = [], []
    for ax, (opt, gs) in zip(axes, by_opt.items()):
        for g in gs:
            stacked = _stack([running_mean(step_losses(r), window) for r in g.runs])
            mean, std, n = _nanmean_std(stacked)
            if mean.size == 0:
                continue
            x = _x_values(g.runs[0], mean.size, mode)
            c = lr_colour[g.lr]
            band = n > 1
            lower = np.where(band, np.maximum(mean - std, mean * 0.05), np.nan)  # log axis: stay > 0
            ax.fill_between(x, lower, np.where(band, mean + std, np.nan), color=c, alpha=0.2, linewidth=0)
            ax.plot(x, mean, color=c, linestyle=styles[_canon(g.extras)], linewidth=1.8,
                    label=_join(_lr_text(g.lr), _extras_label(g.extras)) + _seeds_note(g, groups))
            means.append(mean)
            finite = mean[np.isfinite(mean)]
            if finite.size:
                first_losses.append(finite[0])
        ax.set_title(opt, fontsize=11)
        ax.set_yscale("log")
        ax.grid(True, which="major", alpha=0.3)
    _clip_loss_axis(axes, means, first_losses)
    _label_grid(fig, axes, xlabel, "Training loss (log scale)")
    counts = sorted({len(g.runs) for g in groups})
    seeds = f"{counts[0]}" if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"
    note = f"line: mean of {seeds} seeds, band: ±1 std" + (
        f"; each seed smoothed over {window} steps first" if window > 1 else "")
    _figure_legend(fig, axes, title=note)
    return fig


# ---------------------------------------------------------------------------------------------
# summary table


RUN_COLUMNS = ["name", "optimizer", "lr"]
RESULT_COLUMNS = ["seed", "status", "epochs_done", "train_loss", "valid_loss", "valid_acc", "eval_acc",
                  "seconds", "best"]


def _rank(group):
    """Sort key: finished runs first (not one still running), higher mean valid accuracy, lower loss."""
    unfinished = any(r.get("status") not in FINISHED for r in group.runs)
    points = sensitivity_points(group)
    loss = points["valid_loss"][0]
    return (unfinished, -points["valid_acc"][0], math.inf if loss is None else loss, group.lr)


def summary_rows(records):
    """One row per run (a dict, ready for CSV): its config axes and final numbers, exactly as recorded.

    ``best`` is "yes" for the runs of the best learning rate of their optimizer (per combination of the
    other varying fields): the highest final validation accuracy (mean over seeds), ties going to the
    lower validation loss; a learning rate where a run diverged is never the best.
    """
    runs = records if isinstance(records, Runs) else _prepare(list(records))
    best = set()
    lines = {}
    for g in runs.groups:
        lines.setdefault(g.line, []).append(g)
    for groups in lines.values():
        candidates = [g for g in groups if sensitivity_points(g)["valid_acc"][0] is not None
                      and not g.diverged]
        if candidates:
            best.add(id(min(candidates, key=_rank)))
    rows = []
    for g in runs.groups:
        for r in g.runs:
            last = _last_epoch(r)
            row = {"name": r["name"], "optimizer": g.optimizer, "lr": r["config"]["lr"]}
            for k, v in g.extras:
                row[k] = json.dumps(v, sort_keys=True) if isinstance(v, (dict, list)) else v
            row.update({
                "seed": r["config"].get("seed"),
                "status": r.get("status"),
                "epochs_done": len(r.get("epochs") or []),
                "train_loss": last.get("train_loss"),
                "valid_loss": last.get("valid_loss"),
                "valid_acc": last.get("valid_acc"),
                "eval_acc": (r.get("eval") or {}).get("acc"),
                "seconds": (r.get("timing") or {}).get("wall_seconds"),
                "best": "yes" if id(g) in best else "",
            })
            rows.append(row)
    return rows


def _extra_keys(rows):
    keys = []
    for row in rows:
        keys += [k for k in row if k not in RUN_COLUMNS + RESULT_COLUMNS and k not in keys]
    return keys


def _pct(x):
    return "–" if x is None else f"{100 * x:.2f}%"


def _num(x):
    if x is None:
        return "–"
    return f"{x:.4g}" if abs(x) >= 1e4 or abs(x) < 1e-3 else f"{x:.4f}"


def _secs(x):
    return "–" if x is None else f"{x:.1f}"


def _mean_text(values, fmt):
    """One value as it is; several (seeds) as mean ± std."""
    values = [v for v in values if v is not None]
    if len(values) <= 1:
        return fmt(values[0] if values else None)
    return f"{fmt(float(np.mean(values)))} ± {fmt(float(np.std(values))).rstrip('%')}"


def _table(header, body):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in body]
    return "\n".join(lines)


def _best_cells(line_rows):
    """best lr, valid acc, eval acc, seconds, status of one optimizer (+ other fields), over seeds."""
    chosen = [r for r in line_rows if r["best"] == "yes"]
    if not chosen:
        all_diverged = all(r["status"] == "diverged" for r in line_rows)
        why = "every run diverged" if all_diverged else "no run finished an epoch"
        return ["–", "–", "–", "–", why]
    status = ", ".join(sorted({str(r["status"]) for r in chosen}))
    if len(chosen) > 1:
        status += f" ({len(chosen)} seeds)"
    return [_fmt(chosen[0]["lr"]),
            _mean_text([r["valid_acc"] for r in chosen], _pct),
            _mean_text([r["eval_acc"] for r in chosen], _pct),
            _mean_text([r["seconds"] for r in chosen], _secs),
            status]


def _run_cells(r):
    status = f"**{r['status']}**" if r["status"] == "diverged" else r["status"]
    return [status, r["epochs_done"], _num(r["train_loss"]), _num(r["valid_loss"]), _pct(r["valid_acc"]),
            _pct(r["eval_acc"]), _secs(r["seconds"]), "✓" if r["best"] else ""]


def summary_markdown(rows):
    """The summary as Markdown: the best learning rate per optimizer, then every run."""
    extras = _extra_keys(rows)
    seed = ["seed"] if len({_canon(r.get("seed")) for r in rows}) > 1 else []
    lines = {}
    for row in rows:
        lines.setdefault((row["optimizer"],) + tuple(_canon(row.get(k)) for k in extras), []).append(row)
    best_body = [[group[0]["optimizer"]] + [_fmt(group[0].get(k)) for k in extras] + _best_cells(group)
                 for group in lines.values()]
    run_body = [[r["name"], r["optimizer"], _fmt(r["lr"])] + [_fmt(r.get(k)) for k in extras + seed]
                + _run_cells(r) for r in rows]
    text = [
        "## Best learning rate per optimizer",
        "",
        "Chosen by final validation accuracy (mean ± std over seeds), ties to the lower validation "
        "loss; a learning rate where a run diverged is never chosen. Eval = the held-out eval split.",
        "",
        _table(["optimizer"] + extras + ["best lr", "valid acc", "eval acc", "seconds", "status"], best_body),
        "",
        "## All runs",
        "",
        _table(["run", "optimizer", "lr"] + extras + seed + ["status", "epochs done", "train loss",
                                                           "valid loss", "valid acc", "eval acc",
                                                           "seconds", "best"], run_body),
    ]
    return "\n".join(text) + "\n"


def summary_csv(rows):
    """The per-run rows as CSV text: full-precision numbers, empty cells for missing values."""
    columns = RUN_COLUMNS + _extra_keys(rows) + RESULT_COLUMNS
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if row.get(k) is None else row.get(k) for k in columns})
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------------
# the whole job


def _parse_formats(formats):
    if isinstance(formats, str):
        formats = formats.split(",")
    chosen = []
    for f in formats:
        f = f.strip().lower().lstrip(".")
        if f not in FORMATS:
            raise ConfigError(f"--format: unknown image format {f!r} (choose from {', '.join(FORMATS)})")
        if f not in chosen:
            chosen.append(f)
    if not chosen:
        raise ConfigError(f"--format: no image format given (choose from {', '.join(FORMATS)})")
    return chosen


def _write_text(path, text):
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            f.write(text)


def _save(fig, out, name, formats):
    paths = []
    for fmt in formats:
        path = os.path.join(out, f"{name}.{fmt}")
        with atomic_path(path) as tmp:  # the temp name ends in .tmp: say the format explicitly
            fig.savefig(tmp, format=fmt, dpi=DPI)
        paths.append(path)
    return paths


def plot(directory_or_records, *, out=None, formats=("png",), smooth=None, show=False):
    """Draw the comparison figures and the summary from run records.

    `directory_or_records`: a directory (its record.json files, at any depth; figures go there unless
    `out` says otherwise) or a list of record dicts (written only when `out` is given).
    `smooth`: running-mean window in optimizer steps for the dark loss lines (None: about 1/30 of
    the run; 1: none). `show`: also display the figures (pyplot; in a notebook they appear inline).

    Returns ``{"figures": {name: Figure}, "files": [paths], "summary": rows, "skipped": {name: why},
    "warnings": [lines]}``.
    """
    formats = _parse_formats(formats)
    if smooth is not None and (not isinstance(smooth, int) or isinstance(smooth, bool) or smooth < 0):
        raise ConfigError(f"--smooth must be a whole number of steps >= 0 (0 or 1: no smoothing), "
                          f"not {smooth!r}")
    if isinstance(directory_or_records, (str, os.PathLike)):
        directory = os.fspath(directory_or_records)
        runs = _prepare(load_runs(directory), where=f"{directory}: ")
        out = directory if out is None else out
    else:
        runs = _prepare(list(directory_or_records))
    for line in runs.warnings:
        warnings.warn(line, FairnessWarning, stacklevel=2)
    window = _auto_window(runs) if smooth is None else max(1, smooth)

    figures, skipped = {}, {}
    has_steps = any(step_losses(r).size for r in runs.records)
    has_epochs = any(r.get("epochs") for r in runs.records)
    lrs = {g.lr for g in runs.groups}
    shared_lr = any(sum(g.lr == lr for g in runs.groups) > 1 for lr in lrs)
    if has_steps:
        figures["loss_by_optimizer"] = figure_loss_by_optimizer(runs, window, show)
    else:
        skipped["loss_by_optimizer"] = "no run has a recorded step loss"
    if has_steps and shared_lr:
        figures["loss_by_lr"] = figure_loss_by_lr(runs, window, show)
    else:
        skipped["loss_by_lr"] = ("no two runs share a learning rate (loss_by_optimizer shows every line)"
                                 if has_steps else "no run has a recorded step loss")
    if len(lrs) > 1:
        figures["lr_sensitivity"] = figure_lr_sensitivity(runs, show)
    else:
        skipped["lr_sensitivity"] = f"only one learning rate ({min(lrs):g}): nothing to compare across"
    if has_epochs:
        figures["epochs"] = figure_epochs(runs, show)
    else:
        skipped["epochs"] = "no run finished an epoch"
    if has_steps and any(len(g.runs) > 1 for g in runs.groups):
        figures["seeds"] = figure_seeds(runs, window, show)
    else:
        skipped["seeds"] = "each configuration was run with a single seed"

    rows = summary_rows(runs)
    files = []
    if out is not None:
        os.makedirs(out, exist_ok=True)
        for name, fig in figures.items():
            files += _save(fig, out, name, formats)
        for name in skipped:  # an older plot of these runs must not pass for a current one
            for fmt in FORMATS:
                stale = os.path.join(out, f"{name}.{fmt}")
                if os.path.exists(stale):
                    os.remove(stale)
                    skipped[name] += f"; removed the out-of-date {name}.{fmt}"
        for name, text in (("summary.md", summary_markdown(rows)), ("summary.csv", summary_csv(rows))):
            _write_text(os.path.join(out, name), text)
            files.append(os.path.join(out, name))
    if show:
        import matplotlib.pyplot as plt

        plt.show()
    return {"figures": figures, "files": files, "summary": rows, "skipped": skipped,
            "warnings": list(runs.warnings)}


# ---------------------------------------------------------------------------------------------
# command line


def run_plot(args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FairnessWarning)  # printed below as one line each
        result = plot(args.directory, out=args.out, formats=args.format, smooth=args.smooth)
    print_report(result)
    return 0


def print_report(result):
    """What `plot` (and `compare`) print: the summary table, fairness warnings, files, skipped figures."""
    print(summary_markdown(result["summary"]))
    for line in result["warnings"]:
        print(f"paddle-mnist: warning: {line}", file=sys.stderr)
    for path in result["files"]:
        print(f"wrote {path}")
    for name, why in result["skipped"].items():
        print(f"skipped {name}: {why}")


def add_parser(subparsers):
    p = subparsers.add_parser(
        "plot", help="draw loss/accuracy figures and a summary table from run records",
        description="Read every record.json under DIR (a `compare --out` sweep, one run, or any folder of "
                    "runs) and write into DIR: loss_by_optimizer, loss_by_lr, lr_sensitivity, epochs and "
                    "(with several seeds) seeds figures, plus summary.md and summary.csv. Nothing is "
                    "trained.")
    p.add_argument("directory", metavar="DIR", help="folder holding the runs' record.json files (any depth)")
    p.add_argument("--format", default="png", metavar="FMT[,FMT]",
                   help="image formats to write, comma-separated from png, svg, pdf (default: png)")
    p.add_argument("--smooth", type=int, default=None, metavar="N",
                   help="running mean over N optimizer steps for the dark loss lines "
                        "(default: about 1/30 of the run; 1 = no smoothing)")
    p.add_argument("--out", default=None, metavar="OUT", help="write figures and summary here instead of DIR")
    p.set_defaults(func=run_plot)
