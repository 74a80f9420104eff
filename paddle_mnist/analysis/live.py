"""The live view of training: one loss figure (and the same numbers as text) drawn while runs train.

``curves`` is what the runners hand a live view: {run name: {"losses": step losses so far (None
where not finite), "total": the run's steps, "lr": the last lr, "valid_acc": the last epoch's or
None, "done": finished or not}}. ``curve_of(record)`` makes one from a run record. The figure is
small and quick to draw: a live view redraws it about once a second while training goes on.
"""

import numpy as np
from matplotlib.lines import Line2D
from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

from paddle_mnist.analysis.lang import localized, translator
from paddle_mnist.analysis.style import LINESTYLES, NotebookFigure, optimizer_styles

WINDOW = 20  # steps in the running mean, the dark line
NUDGE = 0.025  # of the x range: how far an end marker moves right of another one it would cover


def curve_of(record):
    """A run record as one entry of ``curves``."""
    steps, epochs = record["steps"], record["epochs"]
    return {"losses": steps["loss"], "total": record["steps_per_epoch"] * record["config"]["epochs"],
            "lr": steps["lr"][-1] if steps["lr"] else None,
            "valid_acc": epochs[-1]["valid_acc"] if epochs else None,
            "done": record.get("status") not in (None, "running")}


def recent_loss(curve, window=WINDOW):
    """The mean loss of the last `window` finite steps, or None."""
    recent = [x for x in curve["losses"][-window:] if x is not None]
    return sum(recent) / len(recent) if recent else None


def live_text(curves):
    """The same numbers as the figure, one line per run (what a display without images shows)."""
    if not curves:
        return "training loss: waiting for the first steps"
    lines = []
    for name, curve in curves.items():
        loss, step = recent_loss(curve), len(curve["losses"])
        parts = [f"{name}: step {step}/{curve['total']}" + (" (done)" if curve["done"] else "")]
        if loss is not None:
            parts.append(f"loss {loss:.4g}")
        if curve.get("lr") is not None:
            parts.append(f"lr {curve['lr']:.3g}")
        if curve.get("valid_acc") is not None:
            parts.append(f"valid acc {curve['valid_acc']:.1%}")
        lines.append(", ".join(parts))
    return "\n".join(lines)


@localized
def figure_live(curves, *, lang=None):
    """Every run's step losses so far (light) and their running mean (dark), on the x range of the
    longest run, so the axes stay put while the lines grow. The legend sits beside the axes."""
    tr = translator(lang)
    fig = NotebookFigure(figsize=(7.2, 3.6))  # a fixed layout: constrained layout would double a redraw's cost
    fig.subplots_adjust(left=0.12, right=0.66, bottom=0.22, top=0.9)  # the legend goes right of the axes
    ax = fig.subplots()
    styles = optimizer_styles({name.split("-")[0] for name in curves})
    seen = {}  # optimizer -> how many of its runs are drawn: each gets the next line style
    handles, ends = [], []
    for name, curve in curves.items():
        losses = np.array([np.nan if x is None else x for x in curve["losses"]], dtype=float)
        optimizer = name.split("-")[0]
        style = LINESTYLES[seen.get(optimizer, 0) % len(LINESTYLES)]
        seen[optimizer] = seen.get(optimizer, 0) + 1
        colour, marker = styles[optimizer]
        steps = np.arange(1, len(losses) + 1)
        ax.plot(steps, losses, color=colour, alpha=0.25, linewidth=0.8)
        loss = recent_loss(curve)
        share = len(losses) / max(curve["total"], 1)
        label = f"{name}: {loss:.3g}, {share:.0%}" if loss is not None else name
        handles.append(Line2D([], [], color=colour, linestyle=style, linewidth=1.8, marker=marker, label=label))
        if len(losses):
            window = min(WINDOW, len(losses))
            mean = np.convolve(losses, np.ones(window) / window, "valid")  # NaN only where a window holds one
            ax.plot(steps[window - 1:], mean, color=colour, linestyle=style, linewidth=1.8)
            ends.append((len(losses), mean[-1], colour, marker))
    longest = max([c["total"] for c in curves.values()] + [1])
    _draw_ends(ax, ends, longest)
    ax.set_xlim(0, 1.03 * longest + max(0, _most_tied(ends, longest) - 1) * NUDGE * longest)  # room for the ends
    if any(np.isfinite([x for c in curves.values() for x in c["losses"] if x is not None])):
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(subs=(1, 2, 5)))  # labels at 0.1, 0.2, 0.5, 1, 2, 5
        ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))  # 0.5, not 5 × 10⁻¹
        ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(tr("x_steps"))
    ax.set_ylabel(tr("loss_log"))
    done = sum(c["done"] for c in curves.values())
    if not curves:  # the first frame, drawn before training starts
        ax.set_title(tr("live_wait"), fontsize=10)
    elif len(curves) == 1 and not done:
        ((name, curve),) = curves.items()
        ax.set_title(tr("live_one", step=len(curve["losses"]), total=curve["total"]), fontsize=10)
    elif done == len(curves):
        ax.set_title(tr("live_done", n=len(curves)), fontsize=10)
    else:
        ax.set_title(tr("live_runs", done=done, n=len(curves)), fontsize=10)
    if handles:
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    fig.text(0.01, 0.015, tr("live_note", window=WINDOW), fontsize=7, color="#555555")  # below the x label
    return fig


def _covers(a, b, longest):
    """Would end marker a sit on end marker b (near in steps, and within 5 % in loss)?"""
    return abs(a[0] - b[0]) < NUDGE * longest and np.isfinite(a[1]) and np.isfinite(b[1]) \
        and abs(np.log(a[1] / b[1])) < 0.05


def _tied(ends, longest):
    """For each end marker, how many earlier ones it would cover: it moves right by that many nudges."""
    return [sum(_covers(end, other, longest) for other in ends[:i]) for i, end in enumerate(ends)]


def _most_tied(ends, longest):
    return max([t + 1 for t in _tied(ends, longest)] + [1])


def _draw_ends(ax, ends, longest):
    """Each run's marker where it is now; markers that would cover one another sit side by side."""
    for (step, loss, colour, marker), moved in zip(ends, _tied(ends, longest)):
        if np.isfinite(loss):
            ax.plot([step + moved * NUDGE * longest], [loss], marker=marker, color=colour, markersize=7,
                    markeredgecolor="white", linestyle="none", zorder=3)
