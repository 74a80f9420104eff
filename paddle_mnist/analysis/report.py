"""``plot``: every figure and the summary of a set of runs, in one call (what ``paddle-mnist plot`` does).

Reading a folder ``DIR`` (its ``**/record.json``), it writes into DIR (or ``out``):

- ``loss_by_optimizer``: training loss per step, one panel per optimizer, one line per learning rate
- ``loss_by_lr``: the same curves, one panel per learning rate, one line per optimizer
- ``lr_sensitivity``: final validation accuracy and loss against the learning rate
- ``epochs``: train/valid loss and accuracy per epoch (the four panels of DeepOBS)
- ``seeds``: mean ± 1 std over seeds (only when runs were repeated with several seeds)
- ``sharpness``: λmax over the steps against its stability line, and the loss (runs trained with
  ``--sharpness-every N``)
- ``summary.md`` and ``summary.csv``: the best learning rate per optimizer, then every run (with λmax
  and the verdict when DIR holds a hessian sweep table, ``hessian.json``)
- with a ``target``: ``time_to_target`` (steps, images, seconds until each optimizer at its best lr
  first reached it) and a column of it in the summary (``analysis.target``)

A figure with nothing to show is skipped with a reason (and an older file of it removed).
"""

import os
import warnings

from paddle_mnist.analysis.hessian import sweep_curvature
from paddle_mnist.analysis.curves import (auto_window, figure_loss_by_lr, figure_loss_by_optimizer,
                                          figure_seeds)
from paddle_mnist.analysis.lang import check_lang
from paddle_mnist.analysis.runs import FairnessWarning, as_runs, step_losses
from paddle_mnist.analysis.sensitivity import figure_epochs, figure_lr_sensitivity
from paddle_mnist.analysis.sharpness import figure_sharpness, has_sharpness
from paddle_mnist.analysis.style import FORMATS, parse_formats, save_figure, show_figures, write_text
from paddle_mnist.analysis.summary import summary_csv, summary_markdown, summary_rows
from paddle_mnist.analysis.target import figure_time_to_target, parse_target
from paddle_mnist.core.errors import ConfigError
from paddle_mnist.schemas.hessian import SWEEP_FILE

NO_STEPS = "no run has a recorded step loss"
WARNING = "warning: "  # how report_lines marks a fairness warning


def plot(directory_or_records, *, out=None, formats=("png",), smooth=None, show=False, curvature=None,
         lang=None, target=None):
    """Draw the comparison figures and the summary from run records.

    `directory_or_records`: a directory (its record.json files, at any depth; figures go there unless
    `out` says otherwise) or a list of record dicts (written only when `out` is given).
    `smooth`: running-mean window in optimizer steps for the dark loss lines (None: about 1/30 of
    the run; 1: none). `show`: also display the figures (pyplot; in a notebook they appear inline).
    `curvature`: a hessian sweep table (``paddle-mnist hessian DIR`` writes DIR/hessian.json) whose
    λmax and verdict join the summary; by default DIR/hessian.json when reading a directory.
    `lang`: "en" or "zh", the language of the figures' words (None: $PADDLE_MNIST_LANG, else English).
    `target`: e.g. "valid_acc=0.97" or "train_loss=0.1" (``analysis.target.DEFAULT_TARGET``): adds the
    time_to_target figure and the time to it in the summary.

    Returns ``{"figures": {name: Figure}, "files": [paths], "summary": rows, "skipped": {name: why},
    "warnings": [lines]}``.
    """
    formats = parse_formats(formats)
    lang = check_lang(lang, option="lang")
    target = parse_target(target) if target is not None else None
    if smooth is not None and (not isinstance(smooth, int) or isinstance(smooth, bool) or smooth < 0):
        raise ConfigError(f"--smooth must be a whole number of steps >= 0 (0 or 1: no smoothing), "
                          f"not {smooth!r}")
    if isinstance(directory_or_records, (str, os.PathLike)) and out is None:
        out = os.fspath(directory_or_records)
    runs = as_runs(directory_or_records)
    for line in runs.warnings:
        warnings.warn(line, FairnessWarning, stacklevel=2)
    window = auto_window(runs) if smooth is None else max(1, smooth)
    figures, skipped = _figures(runs, window, show, lang)
    if curvature is None and isinstance(directory_or_records, (str, os.PathLike)):
        curvature = os.path.join(directory_or_records, SWEEP_FILE)
    rows = summary_rows(runs, sweep_curvature(curvature, runs.records) if curvature else None, target=target)
    if target:
        figures["time_to_target"] = figure_time_to_target(rows, target, show, lang=lang)
    elif out is not None and any(os.path.exists(os.path.join(out, f"time_to_target.{f}")) for f in FORMATS):
        skipped["time_to_target"] = "no target given (--target)"  # its older file is removed below
    files = [] if out is None else _write(out, figures, skipped, rows, formats)
    if show:
        show_figures()
    return {"figures": figures, "files": files, "summary": rows, "skipped": skipped,
            "warnings": list(runs.warnings)}


def _figures(runs, window, show, lang):
    """The figures the runs can fill, and for each other one why it was skipped."""
    figures, skipped = {}, {}
    has_steps = any(step_losses(r).size for r in runs.records)
    lrs = {g.lr for g in runs.groups}
    shared_lr = any(sum(g.lr == lr for g in runs.groups) > 1 for lr in lrs)
    if has_steps:
        figures["loss_by_optimizer"] = figure_loss_by_optimizer(runs, window, show, lang=lang)
    else:
        skipped["loss_by_optimizer"] = NO_STEPS
    if has_steps and shared_lr:
        figures["loss_by_lr"] = figure_loss_by_lr(runs, window, show, lang=lang)
    else:
        skipped["loss_by_lr"] = ("no two runs share a learning rate (loss_by_optimizer shows every line)"
                                 if has_steps else NO_STEPS)
    if len(lrs) > 1:
        figures["lr_sensitivity"] = figure_lr_sensitivity(runs, show, lang=lang)
    else:
        skipped["lr_sensitivity"] = f"only one learning rate ({min(lrs):g}): nothing to compare across"
    if any(r.get("epochs") for r in runs.records):
        figures["epochs"] = figure_epochs(runs, show, lang=lang)
    else:
        skipped["epochs"] = "no run finished an epoch"
    if has_steps and any(len(g.runs) > 1 for g in runs.groups):
        figures["seeds"] = figure_seeds(runs, window, show, lang=lang)
    else:
        skipped["seeds"] = "each configuration was run with a single seed"
    if any(has_sharpness(r) for r in runs.records):
        figures["sharpness"] = figure_sharpness(runs.records, show, lang=lang)
    else:
        skipped["sharpness"] = "no run measured its sharpness (train --sharpness-every N)"
    return figures, skipped


def _write(out, figures, skipped, rows, formats):
    """Save the figures and both summary files into `out`; remove older files of skipped figures."""
    os.makedirs(out, exist_ok=True)
    files = []
    for name, fig in figures.items():
        files += save_figure(fig, out, name, formats)
    for name in skipped:  # an older plot of these runs must not pass for a current one
        for fmt in FORMATS:
            stale = os.path.join(out, f"{name}.{fmt}")
            if os.path.exists(stale):
                os.remove(stale)
                skipped[name] += f"; removed the out-of-date {name}.{fmt}"
    for name, text in (("summary.md", summary_markdown(rows)), ("summary.csv", summary_csv(rows))):
        write_text(os.path.join(out, name), text)
        files.append(os.path.join(out, name))
    return files


def report_lines(result):
    """What to tell a reader after `plot`, in order: the summary table, fairness warnings (starting
    with WARNING), the files written and the figures skipped."""
    lines = [summary_markdown(result["summary"])]
    lines += [WARNING + line for line in result["warnings"]]
    lines += [f"wrote {path}" for path in result["files"]]
    lines += [f"skipped {name}: {why}" for name, why in result["skipped"].items()]
    return lines
