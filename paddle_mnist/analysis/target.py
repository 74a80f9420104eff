"""Time to target: when a run first reached a target, in steps, images seen and seconds.

"Which optimizer gets me a usable network fastest?" is what learners ask first, and final
accuracies do not answer it. MLCommons AlgoPerf scores optimizers this way: the time each needs to
reach a fixed target. Here everything is read from the run record (nothing is trained):

* ``train_loss=X``: the first step at which the mean loss of the last ``SMOOTH_STEPS`` steps (or of
  one epoch, if that is shorter) is at most X. One batch's loss is noisy (a lucky batch of 100
  images dips far below the network's true loss), so one step alone never counts.
* ``valid_acc=X`` (at least X) or ``valid_loss=X`` (at most X): the first epoch whose validation
  result reached it. Validation runs once per epoch, so these times fall on epoch ends.

The default target, ``train_loss=0.1``, is known to the step (every step's loss is recorded, the
validation result only once an epoch), and a mean cross-entropy of 0.1 means the network gives the
right digit about 90 % probability on average (e^-0.1): a usable network, reached within a few
epochs by every course optimizer at a working learning rate on the course's data.

Seconds are training seconds (the steps, not the validation): the record's per-epoch
``train_seconds``, shared evenly among that epoch's steps (older records: the epoch's ``seconds``).
"""

import math

import numpy as np

from paddle_mnist.analysis.lang import localized, translator
from paddle_mnist.analysis.style import new_figure, optimizer_colours
from paddle_mnist.core.errors import ConfigError

METRICS = {"train_loss": "<=", "valid_loss": "<=", "valid_acc": ">="}
DEFAULT_TARGET = "train_loss=0.1"
SMOOTH_STEPS = 50  # the train loss is averaged over this many steps (5,000 images at batch 100)
NEVER = "never"


def parse_target(text, option="--target"):
    """"valid_acc=0.97" -> {"metric": "valid_acc", "value": 0.97, "text": "valid_acc ≥ 0.97"}."""
    if isinstance(text, dict):
        return text
    metric, sep, value = str(text).partition("=")
    metric = metric.strip()
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not sep or metric not in METRICS or not math.isfinite(number) or number < 0:
        raise ConfigError(f"{option} expects METRIC=VALUE with a metric from {', '.join(METRICS)} and a "
                          f"number >= 0, e.g. {DEFAULT_TARGET} or valid_acc=0.97; not {text!r}")
    if metric.endswith("_acc") and number > 1:
        raise ConfigError(f"{option} {text}: an accuracy is a fraction from 0 to 1 (0.97 for 97 %)")
    sign = "≥" if METRICS[metric] == ">=" else "≤"
    return {"metric": metric, "value": number, "text": f"{metric} {sign} {number:g}"}


def time_to_target(record, target):
    """{"step", "images", "seconds"} when `record` first reached `target`, or None when it never did.
    "seconds" is None when the step lies in an epoch that did not finish (its time is unknown)."""
    target = parse_target(target)
    step = _first_step(record, target)
    if step is None:
        return None
    return {"step": step, "images": images_at(record, step), "seconds": seconds_at(record, step)}


def _first_step(record, target):
    metric, value = target["metric"], target["value"]
    spe = record["steps_per_epoch"]
    if metric == "train_loss":
        losses = np.array([math.inf if v is None else v for v in record["steps"]["loss"]], dtype=float)
        window = max(1, min(SMOOTH_STEPS, spe))
        if losses.size < window:
            return None
        means = np.convolve(losses, np.ones(window) / window, mode="valid")  # means[i]: steps i+1 .. i+window
        hits = np.nonzero(means <= value)[0]
        return int(hits[0]) + window if hits.size else None
    for epoch in record.get("epochs") or []:
        got = epoch.get(metric)
        if got is not None and (got >= value if METRICS[metric] == ">=" else got <= value):
            return epoch["epoch"] * spe
    return None


def images_at(record, step):
    """Training images seen after `step` steps (the last batch of an epoch may be smaller)."""
    spe, batch = record["steps_per_epoch"], record["config"]["batch_size"]
    return (step // spe) * record["data"]["sizes"]["train"] + (step % spe) * batch


def seconds_at(record, step):
    """Training seconds after `step` steps: whole epochs' train_seconds, plus the share of the
    epoch the step lies in (its steps taken as equally long)."""
    spe = record["steps_per_epoch"]
    epochs = record.get("epochs") or []
    whole, part = divmod(step, spe)
    if whole + (part > 0) > len(epochs):
        return None
    times = [e.get("train_seconds", e.get("seconds")) for e in epochs[:whole + (part > 0)]]
    if any(t is None for t in times):
        return None
    return float(sum(times[:whole]) + (times[whole] * part / spe if part else 0.0))


# ----------------------------------------------------------------------------- the figure


@localized
def figure_time_to_target(rows, target, show=False, lang=None):
    """Bars per optimizer at its best lr (the summary's "best"): images seen and training seconds
    until the target, mean over seeds (a whisker: ± std); "never" written where no seed reached it.
    `rows`: ``summary.summary_rows`` with a target."""
    target, tr = parse_target(target), translator(lang)
    best = {}
    for row in rows:
        if row.get("best") == "yes":
            best.setdefault(row["optimizer"], []).append(row)
    names = list(best) or sorted({r["optimizer"] for r in rows})
    colours = optimizer_colours(names)
    fig = new_figure((9.0, 1.2 + 0.55 * max(len(names), 2)), show=show)
    axes = fig.subplots(1, 2, sharey=True)
    for ax, key, label in ((axes[0], "target_images", tr("images_seen")),
                           (axes[1], "target_seconds", tr("train_seconds"))):
        _bars(ax, names, best, key, colours, tr)
        ax.set_xlabel(label)
    axes[0].set_yticks(range(len(names)))
    axes[0].set_yticklabels([_name_label(n, best.get(n)) for n in names])
    axes[0].set_ylim(len(names) - 0.5, -0.5)  # the first optimizer on top, every row whole
    fig.suptitle(tr("target_title", target=target["text"]), fontsize=11)
    return fig


def _bars(ax, names, best, key, colours, tr):
    """One bar per optimizer; "never" in text where no seed reached the target."""
    values = {n: [r[key] for r in best.get(n, []) if r.get(key) is not None] for n in names}
    top = max([np.mean(v) + np.std(v) for v in values.values() if v] or [1.0])
    ax.set_xlim(0, top * 1.45)  # room for the labels right of the longest bar
    for i, name in enumerate(names):
        v, runs = values[name], len(best.get(name, []))
        if not v:
            ax.text(top * 0.02, i, tr("never") + (tr("no_run_finished") if not runs else ""), va="center",
                    fontsize=9, fontstyle="italic", color="0.3")
            continue
        mean, std = float(np.mean(v)), float(np.std(v))
        ax.barh(i, mean, color=colours[name], height=0.6, xerr=std if len(v) > 1 else None, capsize=3)
        label = _short(mean) + (tr("some_seeds_never", k=len(v), n=runs) if len(v) < runs else "")
        ax.text(mean + std + top * 0.02, i, label, va="center", fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)


def _name_label(name, rows):
    return f"{name}\nlr {rows[0]['lr']:g}" if rows else name


def _short(x):
    if x >= 1e6:
        return f"{x / 1e6:.2f}M"
    return f"{x:.1f}" if x < 100 else f"{x:,.0f}"
