"""What every figure of the project shares: a figure a notebook shows by itself, colours, saving.

Figures are ``matplotlib.figure.Figure`` objects made without pyplot, so drawing them neither needs a
display nor changes a notebook's backend; pyplot is used only when a caller asks to ``show``.
"""

import io
import os

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from paddle_mnist.errors import ConfigError
from paddle_mnist.files import atomic_path
from paddle_mnist.optim import optimizer_colours  # noqa: F401  (one colour per optimizer, everywhere)

FORMATS = ("png", "svg", "pdf")
DPI = 120
DIVERGED = dict(marker="x", color="#d62728", markersize=10, markeredgewidth=2.5, linestyle="none")


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


def lr_colours(lrs):
    """A dark-to-light colour per learning rate (small lr dark), on a log scale."""
    lrs = sorted(set(lrs))
    cmap = colormaps["plasma"]
    if len(lrs) == 1:
        return {lrs[0]: cmap(0.3)}
    logs = np.log10(lrs)
    return {lr: cmap(0.85 * (v - logs[0]) / (logs[-1] - logs[0])) for lr, v in zip(lrs, logs)}


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
