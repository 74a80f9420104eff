"""What every figure of the project shares: a figure a notebook shows by itself, colours, saving.

Figures are ``matplotlib.figure.Figure`` objects made without pyplot, so drawing them neither needs a
display nor changes a notebook's backend; pyplot is used only when a caller asks to ``show``.
"""

import io
import logging
import math
import os

import numpy as np
from matplotlib import colormaps
from matplotlib.animation import PillowWriter
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from paddle_mnist.analysis.runs import canon, extras_key
from paddle_mnist.core.errors import ConfigError
from paddle_mnist.core.files import atomic_path

FORMATS = ("png", "svg", "pdf")
DPI = 120
DIVERGED = dict(marker="x", color="#d62728", markersize=10, markeredgewidth=2.5, linestyle="none")
LINESTYLES = ["-", "--", ":", "-."]
LR_MARKERS = ["o", "s", "^", "D", "v", "P", "*", "<", ">", "h"]

# Each optimizer's look in every figure: a colour and a marker of its own, so that any two of the
# twelve are told apart, by colour-blind readers too (Okabe & Ito's and Paul Tol's colour-blind-safe
# colours; where two colours come close, for some forms of colour blindness, their markers differ).
# Red is left out (it marks divergence), and so are the x, X and * markers (diverged, saddle, chosen).
# A display fact, so it lives here and not in core.optim (tests check every optimizer there has one).
OPTIMIZER_STYLES = {
    "sgd": ("#000000", "o"),        # black
    "momentum": ("#E69F00", "s"),   # orange
    "nesterov": ("#882255", "^"),   # wine
    "adagrad": ("#009E73", "D"),    # bluish green
    "rmsprop": ("#CC79A7", "v"),    # reddish purple
    "adadelta": ("#999933", "P"),   # olive
    "adam": ("#0072B2", "<"),       # blue
    "amsgrad": ("#332288", ">"),    # indigo
    "adamax": ("#56B4E9", "h"),     # sky blue
    "adamw": ("#661100", "p"),      # brown
    "radam": ("#CC6677", "d"),      # rose
    "nadam": ("#777777", "8"),      # grey
}
# for names outside the table (e.g. a record from a newer version of this project)
SPARE_STYLES = [("#44AA99", "o"), ("#DDAA33", "H"), ("#AA4499", "d"), ("#117733", "s"), ("#88CCEE", "^")]


def optimizer_styles(names):
    """{name: (colour, marker)} in the table's order; names outside the table get spare styles in order."""
    order = list(OPTIMIZER_STYLES)
    spare = iter(SPARE_STYLES * 4)
    ordered = sorted(set(names), key=lambda n: (order.index(n) if n in order else len(order), n))
    return {n: OPTIMIZER_STYLES[n] if n in OPTIMIZER_STYLES else next(spare) for n in ordered}


def optimizer_colours(names):
    """{name: colour}: each optimizer's fixed colour (see OPTIMIZER_STYLES)."""
    return {n: colour for n, (colour, _) in optimizer_styles(names).items()}


def optimizer_markers(names):
    """{name: marker}: each optimizer's fixed marker (see OPTIMIZER_STYLES)."""
    return {n: marker for n, (_, marker) in optimizer_styles(names).items()}


def dodge(values, i, n, decades=0.025):
    """`values` (learning rates, log axis) moved sideways for line i of n, so equal points of
    different lines sit side by side instead of on top of each other (the exact values are in the table)."""
    shift = (i - (n - 1) / 2) * decades
    return [v * 10 ** shift for v in values]


class NotebookFigure(Figure):
    """A Figure that Jupyter shows as a PNG by itself, even when pyplot was never imported."""

    def _repr_png_(self):
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", dpi=DPI)
        return buffer.getvalue()


def new_figure(figsize, show=False):
    """A NotebookFigure with constrained layout; through pyplot only when asked to show."""
    if show:  # pyplot only when asked to show: it owns windows and the notebook's inline output
        import matplotlib.pyplot as plt

        return plt.figure(figsize=figsize, layout="constrained", FigureClass=NotebookFigure)
    return NotebookFigure(figsize=figsize, layout="constrained")


def show_figures():
    """Display the figures made with show=True (pyplot is imported here only, as in new_figure)."""
    import matplotlib.pyplot as plt

    plt.show()


def grid(n, show, title, panel=(4.6, 3.3), ncols_max=3, legend_rows=1):
    """A figure with n panels on a grid (shared axes), at least 640×440 pixels."""
    ncols = min(n, ncols_max)
    nrows = math.ceil(n / ncols)
    width = max(6.4, panel[0] * ncols)
    height = max(4.4, panel[1] * nrows + 0.9 + 0.25 * legend_rows)
    fig = new_figure((width, height), show)
    axs = fig.subplots(nrows, ncols, sharex=True, sharey=True, squeeze=False).ravel()
    for ax in axs[n:]:
        ax.set_visible(False)
    fig.suptitle(title, fontsize=12)
    return fig, list(axs[:n])


def label_grid(axes, xlabel, ylabel):
    """y label on the left column, x label and tick labels under the bottom panel of each column."""
    ncols = axes[0].get_gridspec().ncols
    n = len(axes)
    for i, ax in enumerate(axes):
        if i % ncols == 0:
            ax.set_ylabel(ylabel)
        if i + ncols >= n:  # bottom of its column
            ax.set_xlabel(xlabel)
            ax.xaxis.set_tick_params(labelbottom=True)


def figure_legend(fig, axes, extra_handles=(), title=None):
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


def lr_colours(lrs):
    """A dark-to-light colour per learning rate (small lr dark), on a log scale."""
    lrs = sorted(set(lrs))
    cmap = colormaps["plasma"]
    if len(lrs) == 1:
        return {lrs[0]: cmap(0.3)}
    logs = np.log10(lrs)
    return {lr: cmap(0.85 * (v - logs[0]) / (logs[-1] - logs[0])) for lr, v in zip(lrs, logs)}


def line_styles(extras_list):
    """A line style per combination of the other varying fields of a sweep (solid for the first)."""
    order = sorted({canon(e): e for e in extras_list}.items(), key=lambda item: extras_key(item[1]))
    return {key: LINESTYLES[i % len(LINESTYLES)] for i, (key, _) in enumerate(order)}


def diverged_handle(text="diverged (loss became NaN/inf)"):
    """A legend entry for the red cross that marks where a run diverged."""
    return Line2D([], [], label=text, **DIVERGED)


def parse_formats(formats):
    """["png", "svg"] or "png,svg" -> checked list; an unknown format names the --format flag."""
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


def write_text(path, text):
    """A text file, atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            f.write(text)


def save_figure(fig, out, name, formats=("png",)):
    """Write `fig` as OUT/NAME.<format> for each format, atomically; returns the paths."""
    paths = []
    for fmt in formats:
        path = os.path.join(out, f"{name}.{fmt}")
        with atomic_path(path) as tmp:  # the temp name ends in .tmp: say the format explicitly
            fig.savefig(tmp, format=fmt, dpi=DPI)
        paths.append(path)
    return paths


def save_gif(animation, path, fps=8, dpi=None):
    """Write a matplotlib animation as a GIF (Pillow through matplotlib), atomically; returns path."""
    with atomic_path(path) as tmp:
        gif = tmp + ".gif"  # Pillow picks the format from the name's ending
        try:
            logging.getLogger("matplotlib.animation").setLevel(logging.WARNING)  # no "using PillowWriter" line
            animation.save(gif, writer=PillowWriter(fps=fps), dpi=dpi)
            os.replace(gif, tmp)
        finally:
            if os.path.exists(gif):
                os.remove(gif)
    return path
