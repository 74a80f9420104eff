"""Figures of optimizer paths on a 2-D surface, drawn from paths.json alone (see paddle_mnist.runners.paths).

Left, a contour map with one path per optimizer (each in the colour it has in every other figure),
the start, the end points, the minima and saddles; right, f(x_t) - f* against the step on a log
scale. ``save_animation`` writes the same map as a GIF of the paths growing (matplotlib's animation
with its Pillow writer: no ffmpeg needed).
"""

import logging
import math
import os

import numpy as np
from matplotlib.animation import FuncAnimation, PillowWriter
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from paddle_mnist.analysis.style import DIVERGED, diverged_handle, new_figure, optimizer_colours
from paddle_mnist.core.errors import DataError
from paddle_mnist.core.files import atomic_path, read_json
from paddle_mnist.runners.paths import SCHEMA, SURFACES, evaluate

GRID = 240          # contour resolution per axis
FLOOR = 1e-12       # f - f* below this is drawn at this (log axis)
LOG_RATIO = 10      # log-spaced levels when max(f - f*) exceeds 10x its median over the box
START = dict(marker="o", color="black", markersize=8, linestyle="none", zorder=5)
MINIMUM = dict(marker="*", color="gold", markeredgecolor="black", markersize=15, linestyle="none", zorder=6)
SADDLE = dict(marker="P", color="white", markeredgecolor="black", markersize=11, linestyle="none", zorder=6)


def load_paths(path):
    """A paths.json file, checked enough to draw (DataError naming the file otherwise)."""
    try:
        run = read_json(path)
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: cannot read paths JSON ({e})") from None
    if not isinstance(run, dict) or run.get("schema") != SCHEMA or run.get("surface") not in SURFACES:
        raise DataError(f"{path}: not a paths file of this version "
                        f"(expected schema {SCHEMA!r} and a known surface)")
    return run


def _contour(ax, run):
    """Filled, lightly shaded contours of f - f*; log-spaced levels where the range is large."""
    x0, x1, y0, y1 = run["box"]
    xs, ys = np.linspace(x0, x1, GRID), np.linspace(y0, y1, GRID)
    gx, gy = np.meshgrid(xs, ys)
    gap = evaluate(SURFACES[run["surface"]], np.stack([gx, gy], axis=-1)) - run["f_star"]
    gap = np.maximum(gap, 0.0)
    if gap.max() > LOG_RATIO * np.median(gap):
        low = max(np.percentile(gap, 0.5), gap.max() * 1e-7, FLOOR)
        levels = np.geomspace(low, gap.max(), 18)
        kwargs = dict(norm=LogNorm(vmin=low, vmax=gap.max()))
        gap = np.maximum(gap, low)
    else:
        levels, kwargs = np.linspace(0.0, gap.max(), 18), {}
    ax.contourf(gx, gy, gap, levels=levels, cmap="Greys", alpha=0.45, extend="both", **kwargs)
    ax.contour(gx, gy, gap, levels=levels, colors="0.55", linewidths=0.5, **kwargs)
    ax.set(xlim=(x0, x1), ylim=(y0, y1), xlabel="x", ylabel="y", aspect="equal")


def _label(entry):
    """'adam, lr 0.886: minimum'; '(still moving)' when the end point is not a stationary point."""
    end = entry["end"]
    if entry["diverged"]:
        return f"{entry['name']}, lr {entry['lr']:.3g}: left the box"
    moving = "" if end["stationary"] else " (still moving)"
    return f"{entry['name']}, lr {entry['lr']:.3g}: {end['verdict']}{moving}"


def _critical_points(ax, run):
    """Minima (stars) and saddles (crosses), each saddle with its own Hessian eigenvalues."""
    for c in run["critical_points"]:
        x, y = c["point"]
        if c["kind"] == "minimum":
            ax.plot([x], [y], **MINIMUM)
        else:
            ax.plot([x], [y], **SADDLE)
            eig = ", ".join(f"{v:.3g}" for v in c["eigenvalues"])
            ax.annotate(f"saddle\nλ = {eig}", (x, y), xytext=(8, -22), textcoords="offset points", fontsize=8,
                        bbox=dict(boxstyle="round,pad=0.2", fc="white", ec="0.6", alpha=0.85))


def _key_handles(run, any_diverged):
    handles = [Line2D([], [], label="start", **START), Line2D([], [], label="minimum", **MINIMUM)]
    if run["saddles"]:
        handles.append(Line2D([], [], label="saddle", **SADDLE))
    if any_diverged:
        handles.append(diverged_handle("left the box (diverged)"))
    return handles


def _caption(run):
    if run["lr_rule"] == "auto":
        grid = run["lr_grid"]
        text = (f"lr: each optimizer keeps its best of the same {len(grid)} lrs ({grid[0]:g} … {grid[-1]:g}, "
                f"log grid) by f after {run['steps']} steps; paths that left the box were rejected.")
    else:
        text = f"lr: {run['optimizers'][0]['lr']:g} for every optimizer."
    return text + "\nA toy surface: it shows why optimizers differ, it is not a verdict on MNIST."


def _title(run):
    x, y = run["start"]
    noise = f", gradient noise σ = {run['noise']:g} (seed {run['seed']})" if run["noise"] else ", exact gradients"
    return f"{run['surface']}: {run['formula']}\nfrom ({x:g}, {y:g}), {run['steps']} steps{noise}"


def _draw_paths(ax, run, colours):
    every = max(1, run["steps"] // 25)
    for entry in run["optimizers"]:
        pts = np.array(entry["points"])
        colour = colours[entry["name"]]
        ax.plot(pts[:, 0], pts[:, 1], "-o", color=colour, lw=1.6, markersize=3, markevery=every,
                label=_label(entry), zorder=3)
        if entry["diverged"]:
            ax.plot(pts[-1:, 0], pts[-1:, 1], **DIVERGED, zorder=7)
        else:
            ax.plot(pts[-1:, 0], pts[-1:, 1], "s", color=colour, markeredgecolor="black", markersize=7, zorder=4)
    ax.plot([run["start"][0]], [run["start"][1]], **START)


def _gap_panel(ax, run, colours):
    """f(x_t) - f* per step, log scale; the 1e-3 line is what "reached" means in paths.json."""
    clipped = False
    for entry in run["optimizers"]:
        gap = np.array(entry["f"]) - run["f_star"]
        clipped |= bool((gap < FLOOR).any())
        steps = np.arange(len(gap))
        ax.plot(steps, np.maximum(gap, FLOOR), color=colours[entry["name"]], lw=1.6, label=_label(entry))
        if entry["diverged"]:
            ax.plot(steps[-1:], np.maximum(gap[-1:], FLOOR), **DIVERGED)
    ax.axhline(run["reached_threshold"], color="0.4", ls=":", lw=1)
    ax.annotate(f"{run['reached_threshold']:g}", (0, run["reached_threshold"]), xycoords=("axes fraction", "data"),
                xytext=(2, 2), textcoords="offset points", fontsize=8, color="0.35")
    ax.set_yscale("log")
    ax.set(xlabel="step", ylabel="f(x_t) − f*" + (f"  (below {FLOOR:g}: drawn at {FLOOR:g})" if clipped else ""),
           xlim=(0, run["steps"]))
    ax.grid(True, which="major", alpha=0.3)


def figure_paths(run, show=False):
    """The contour map with every path, and f - f* against the step, for one surface's run."""
    colours = optimizer_colours([e["name"] for e in run["optimizers"]])
    x0, x1, y0, y1 = run["box"]
    aspect = (x1 - x0) / (y1 - y0)  # the map keeps x and y to one scale: the ravine is wide
    width = min(6.5, 4.4 * aspect)
    height = width / aspect
    fig = new_figure((max(11.0, width + 5.6), height + 1.7), show)
    left, right = fig.subplots(1, 2, width_ratios=[width, 5.0])
    _contour(left, run)
    _draw_paths(left, run, colours)
    _critical_points(left, run)
    _gap_panel(right, run, colours)
    any_diverged = any(e["diverged"] for e in run["optimizers"])
    handles, labels = right.get_legend_handles_labels()
    extra = _key_handles(run, any_diverged)
    right.legend(handles + extra, labels + [h.get_label() for h in extra], fontsize=8, loc="best",
                 framealpha=0.9)
    fig.suptitle(_title(run), fontsize=11)
    fig.supxlabel(_caption(run), fontsize=8, color="0.3")
    return fig


def animation_steps(steps, max_frames=40):
    """The steps shown in the GIF: one frame every few steps, the last step always included."""
    every = max(1, math.ceil(steps / max_frames))
    shown = list(range(0, steps + 1, every))
    return shown if shown[-1] == steps else shown + [steps]


def _background(run, colours, figsize, dpi):
    """The still part of the animation (contours, marks, legend, title) as an RGBA picture, and
    where its axes landed: (picture, axes position in figure fractions, axes limits)."""
    fig = Figure(figsize=figsize, dpi=dpi, layout="constrained")
    canvas = FigureCanvasAgg(fig)
    ax = fig.subplots()
    _contour(ax, run)
    _critical_points(ax, run)
    ax.plot([run["start"][0]], [run["start"][1]], **START)
    handles = [Line2D([], [], color=colours[e["name"]], lw=1.6, label=_label(e)) for e in run["optimizers"]]
    ax.legend(handles=handles, fontsize=7, loc="upper right", framealpha=0.85)
    fig.suptitle(_title(run), fontsize=9)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba()).copy(), ax.get_position(original=False), (ax.get_xlim(), ax.get_ylim())


def save_animation(run, path, max_frames=40, fps=8, dpi=72, figsize=(6.4, 5.2)):
    """A GIF of the paths growing on the contour map; returns its path (written atomically).

    The contour map is drawn once, as a picture; each frame draws only the paths over it (redrawing
    the contours 40 times takes ten times as long and gives the same pixels).
    """
    colours = optimizer_colours([e["name"] for e in run["optimizers"]])
    picture, position, (xlim, ylim) = _background(run, colours, figsize, dpi)
    fig = Figure(figsize=figsize, dpi=dpi)
    fig.figimage(picture, 0, 0, origin="upper", zorder=-1)  # under the axes of the paths
    ax = fig.add_axes(position)
    ax.set(xlim=xlim, ylim=ylim)
    ax.set_axis_off()
    lines, ends = [], []
    for entry in run["optimizers"]:
        colour = colours[entry["name"]]
        lines.append(ax.plot([], [], "-", color=colour, lw=1.6)[0])
        ends.append(ax.plot([], [], "o", color=colour, markeredgecolor="black", markersize=6)[0])
    clock = ax.text(0.02, 0.03, "", transform=ax.transAxes, fontsize=9,
                    bbox=dict(boxstyle="round,pad=0.2", fc="white", ec="0.6"))
    paths = [np.array(e["points"]) for e in run["optimizers"]]

    def draw(t):
        for line, end, pts in zip(lines, ends, paths):
            shown = pts[: t + 1]
            line.set_data(shown[:, 0], shown[:, 1])
            end.set_data(shown[-1:, 0], shown[-1:, 1])
        clock.set_text(f"step {t}")  # also keeps every frame distinct (GIF writers merge equal ones)
        return lines + ends + [clock]

    anim = FuncAnimation(fig, draw, frames=animation_steps(run["steps"], max_frames), blit=False)
    with atomic_path(path) as tmp:
        gif = tmp + ".gif"  # Pillow picks the format from the name's ending
        try:
            logging.getLogger("matplotlib.animation").setLevel(logging.WARNING)  # no "using PillowWriter" line
            anim.save(gif, writer=PillowWriter(fps=fps), dpi=dpi)
            os.replace(gif, tmp)
        finally:
            if os.path.exists(gif):
                os.remove(gif)
    return path
