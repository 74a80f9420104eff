"""Figures of optimizer paths on a 2-D surface, drawn from paths.json alone (``schemas.paths``).

Left, a contour map with one path per optimizer (each in the colour it has in every other figure),
the start, the end points, the minima and saddles; right, f(x_t) - f* against the step on a log
scale. ``save_animation`` writes the same map as a GIF of the paths growing (matplotlib's animation
with its Pillow writer: no ffmpeg needed).
"""

import math

import matplotlib
import numpy as np
from matplotlib.animation import FuncAnimation
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from paddle_mnist.analysis.lang import check_lang, font_rc, localized, translator
from paddle_mnist.analysis.style import (DIVERGED, diverged_handle, new_figure, optimizer_colours, optimizer_markers,
                                         save_gif)
from paddle_mnist.core.surfaces import SURFACES, surface_values
from paddle_mnist.schemas.paths import load_paths  # noqa: F401  (read a paths file, then draw it)

GRID = 240          # contour resolution per axis
FLOOR = 1e-12       # f - f* below this is drawn at this (log axis)
LOG_RATIO = 10      # log-spaced levels when max(f - f*) exceeds 10x its median over the box
START = dict(marker="o", color="black", markersize=8, linestyle="none", zorder=5)
MINIMUM = dict(marker="*", color="gold", markeredgecolor="black", markersize=15, linestyle="none", zorder=6)
SADDLE = dict(marker="P", color="white", markeredgecolor="black", markersize=11, linestyle="none", zorder=6)


def _contour(ax, run):
    """Filled, lightly shaded contours of f - f*; log-spaced levels where the range is large."""
    x0, x1, y0, y1 = run["box"]
    xs, ys = np.linspace(x0, x1, GRID), np.linspace(y0, y1, GRID)
    gx, gy = np.meshgrid(xs, ys)
    gap = surface_values(SURFACES[run["surface"]], np.stack([gx, gy], axis=-1)) - run["f_star"]
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


def _label(entry, tr):
    """'adam, lr 0.886: minimum'; '(still moving)' when the end point is not a stationary point."""
    end = entry["end"]
    if entry["diverged"]:
        return f"{entry['name']}, lr {entry['lr']:.3g}: {tr('left_box')}"
    moving = "" if end["stationary"] else tr("still_moving")
    return f"{entry['name']}, lr {entry['lr']:.3g}: {tr('verdict_' + end['verdict'])}{moving}"


def _critical_points(ax, run, tr):
    """Minima (stars) and saddles (crosses), each saddle with its own Hessian eigenvalues."""
    for c in run["critical_points"]:
        x, y = c["point"]
        if c["kind"] == "minimum":
            ax.plot([x], [y], **MINIMUM)
        else:
            ax.plot([x], [y], **SADDLE)
            eig = ", ".join(f"{v:.3g}" for v in c["eigenvalues"])
            ax.annotate(f"{tr('verdict_saddle')}\nλ = {eig}", (x, y), xytext=(8, -22), textcoords="offset points", fontsize=8,
                        bbox=dict(boxstyle="round,pad=0.2", fc="white", ec="0.6", alpha=0.85))


def _key_handles(run, any_diverged, tr):
    handles = [Line2D([], [], label=tr("start"), **START), Line2D([], [], label=tr("verdict_minimum"), **MINIMUM)]
    if run["saddles"]:
        handles.append(Line2D([], [], label=tr("verdict_saddle"), **SADDLE))
    if any_diverged:
        handles.append(diverged_handle(tr("left_box_diverged")))
    return handles


def _caption(run, tr):
    """How each optimizer's lr was chosen (the rule, said on the figure), and what the picture is not."""
    if run["lr_rule"] == "auto":
        grid = run["lr_grid"]
        rule = "rule_" + (run.get("lr_score") or "final")  # files before lr_score: the final-f rule
        text = tr("caption_auto", n=len(grid), lo=grid[0], hi=grid[-1], rule=tr(rule, steps=run["steps"]))
    else:
        text = tr("caption_given", lr=run["optimizers"][0]["lr"])
    return text + "\n" + tr("caption_toy")


def _title(run, tr):
    x, y = run["start"]
    noise = tr("noise", sigma=run["noise"], seed=run["seed"]) if run["noise"] else tr("exact_gradients")
    return f"{run['surface']}: {run['formula']}\n" + tr("paths_from", x=x, y=y, steps=run["steps"]) + noise


def _draw_paths(ax, run, colours, tr):
    """Each path in its optimizer's colour with its marker every few steps; its end a larger marker."""
    every = max(1, run["steps"] // 25)
    markers = optimizer_markers(colours)
    for i, entry in enumerate(run["optimizers"]):
        pts = np.array(entry["points"])
        colour, marker = colours[entry["name"]], markers[entry["name"]]
        ax.plot(pts[:, 0], pts[:, 1], "-", marker=marker, color=colour, lw=1.6, markersize=4,
                markevery=(i * every // max(1, len(run["optimizers"])), every), label=_label(entry, tr), zorder=3)
        if entry["diverged"]:
            ax.plot(pts[-1:, 0], pts[-1:, 1], **DIVERGED, zorder=7)
        else:
            ax.plot(pts[-1:, 0], pts[-1:, 1], marker, color=colour, markeredgecolor="black", markersize=9, zorder=4)
    ax.plot([run["start"][0]], [run["start"][1]], **START)


def _gap_panel(ax, run, colours, tr):
    """f(x_t) - f* per step, log scale; the 1e-3 line is what "reached" means in paths.json."""
    clipped = False
    for entry in run["optimizers"]:
        gap = np.array(entry["f"]) - run["f_star"]
        clipped |= bool((gap < FLOOR).any())
        steps = np.arange(len(gap))
        ax.plot(steps, np.maximum(gap, FLOOR), color=colours[entry["name"]], lw=1.6, label=_label(entry, tr),
                marker=optimizer_markers(colours)[entry["name"]], markersize=4, markevery=max(1, run["steps"] // 10))
        if entry["diverged"]:
            ax.plot(steps[-1:], np.maximum(gap[-1:], FLOOR), **DIVERGED)
    ax.axhline(run["reached_threshold"], color="0.4", ls=":", lw=1)
    ax.annotate(f"{run['reached_threshold']:g}", (0, run["reached_threshold"]), xycoords=("axes fraction", "data"),
                xytext=(2, 2), textcoords="offset points", fontsize=8, color="0.35")
    ax.set_yscale("log")
    ax.set(xlabel=tr("step"), ylabel="f(x_t) − f*" + (tr("floor", floor=FLOOR) if clipped else ""),
           xlim=(0, run["steps"]))
    ax.grid(True, which="major", alpha=0.3)


@localized
def figure_paths(run, show=False, lang=None):
    """The contour map with every path, and f - f* against the step, for one surface's run; the
    legend right of both panels (over neither), the lr rule in the caption."""
    tr = translator(lang)
    colours = optimizer_colours([e["name"] for e in run["optimizers"]])
    x0, x1, y0, y1 = run["box"]
    aspect = (x1 - x0) / (y1 - y0)  # the map keeps x and y to one scale: the ravine is wide
    width = min(6.5, 4.4 * aspect)
    height = max(width / aspect, 3.6)
    fig = new_figure((max(13.5, width + 8.6), height + 1.9), show)
    left, right = fig.subplots(1, 2, width_ratios=[width, 4.6])
    _contour(left, run)
    _draw_paths(left, run, colours, tr)
    _critical_points(left, run, tr)
    _gap_panel(right, run, colours, tr)
    any_diverged = any(e["diverged"] for e in run["optimizers"])
    handles, labels = right.get_legend_handles_labels()
    extra = _key_handles(run, any_diverged, tr)
    fig.legend(handles + extra, labels + [h.get_label() for h in extra], fontsize=8, loc="outside right upper",
               frameon=False)
    fig.suptitle(_title(run, tr), fontsize=11)
    fig.supxlabel(_caption(run, tr), fontsize=8, color="0.3")
    return fig


def animation_steps(steps, max_frames=40):
    """The steps shown in the GIF: one frame every few steps, the last step always included."""
    every = max(1, math.ceil(steps / max_frames))
    shown = list(range(0, steps + 1, every))
    return shown if shown[-1] == steps else shown + [steps]


def _background(run, colours, figsize, dpi, tr):
    """The still part of the animation (contours, marks, legend, title) as an RGBA picture, and
    where its axes landed: (picture, axes position in figure fractions, axes limits)."""
    fig = Figure(figsize=figsize, dpi=dpi, layout="constrained")
    canvas = FigureCanvasAgg(fig)
    ax = fig.subplots()
    _contour(ax, run)
    _critical_points(ax, run, tr)
    ax.plot([run["start"][0]], [run["start"][1]], **START)
    handles = [Line2D([], [], color=colours[e["name"]], lw=1.6, label=_label(e, tr)) for e in run["optimizers"]]
    ax.legend(handles=handles, fontsize=7, loc="upper right", framealpha=0.85)
    fig.suptitle(_title(run, tr), fontsize=9)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba()).copy(), ax.get_position(original=False), (ax.get_xlim(), ax.get_ylim())


def save_animation(run, path, max_frames=40, fps=8, dpi=72, figsize=(6.4, 5.2), lang=None):
    """A GIF of the paths growing on the contour map; returns its path (written atomically).

    The contour map is drawn once, as a picture; each frame draws only the paths over it (redrawing
    the contours 40 times takes ten times as long and gives the same pixels).
    """
    lang = check_lang(lang, option="lang")
    tr = translator(lang)
    colours = optimizer_colours([e["name"] for e in run["optimizers"]])
    with matplotlib.rc_context(font_rc(lang)):
        picture, position, (xlim, ylim) = _background(run, colours, figsize, dpi, tr)
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
        clock.set_text(f"{tr('step')} {t}")  # also keeps every frame distinct (GIF writers merge equal ones)
        return lines + ends + [clock]

    anim = FuncAnimation(fig, draw, frames=animation_steps(run["steps"], max_frames), blit=False)
    return save_gif(anim, path, fps=fps, dpi=dpi)
