"""The figure of ``paddle-mnist trajectory``, from its JSON alone (``schemas/trajectory.py``).

Left: the training loss on the plane (filled contours, log scale) and one path per run in its
optimizer's colour, from the shared start (a star at the origin) to its end (labelled), with a mark
at every epoch's end. Right: each saved point's own loss against the plane's loss at its projection:
on the diagonal the contour under the path is the loss the run really had; off it, the plane is only
a shadow of where the run went. ``save_animation`` writes the paths advancing together as a GIF.
Both take ``lang`` ("en" or "zh", see ``lang.py``).
"""


import matplotlib
import numpy as np
from matplotlib.animation import FuncAnimation
from matplotlib import colormaps
from matplotlib.colors import ListedColormap, LogNorm
from matplotlib.lines import Line2D
from matplotlib.patheffects import withStroke
from matplotlib.ticker import LogLocator, NullFormatter

from paddle_mnist.analysis.lang import check_lang, font_rc, localized, translator
from paddle_mnist.analysis.style import (LINESTYLES, figure_legend, lr_colours, new_figure, optimizer_colours,
                                         optimizer_markers, save_gif)

HALO = [withStroke(linewidth=3.5, foreground="white")]  # a path stays visible on any shade
SURFACE = ListedColormap(colormaps["Greys_r"](np.linspace(0.45, 1.0, 256)))  # grey valleys, white heights
START = dict(marker="*", color="white", markeredgecolor="black", markersize=16, linestyle="none", zorder=6)


def run_styles(runs):
    """{run name: (colour, line style, marker)}: the optimizer's colour and marker; runs sharing an
    optimizer differ by line style, and when all runs share one, by an lr colour too."""
    optimizers = [r["optimizer"] for r in runs]
    colours, markers = optimizer_colours(optimizers), optimizer_markers(optimizers)
    by_lr = lr_colours([r["lr"] for r in runs]) if len(set(optimizers)) == 1 and len(runs) > 1 else None
    styles, seen = {}, {}
    for r in runs:
        k = seen[r["optimizer"]] = seen.get(r["optimizer"], -1) + 1
        colour = by_lr[r["lr"]] if by_lr else colours[r["optimizer"]]
        styles[r["name"]] = (colour, LINESTYLES[k % len(LINESTYLES)], markers[r["optimizer"]])
    return styles


def axis_labels(result, tr):
    if result["plane"] == "pca":
        return [tr("traj_pc", i=i + 1, share=v) for i, v in enumerate(result["explained_variance"])]
    a, b = result["ends"]
    return [tr("traj_direction_1", a=a), tr("traj_direction_2", b=b)]


def draw_surface(ax, result, tr):
    """The plane's loss as filled contours (log scale) with thin lines; returns the contour set."""
    grid = result["grid"]
    loss = np.array([[np.nan if v is None else v for v in row] for row in grid["loss"]], dtype=float)
    finite = loss[np.isfinite(loss)]
    low, high = max(finite.min(), 1e-4), finite.max()
    levels = np.geomspace(low, high * 1.0001, 14)
    a, b = np.meshgrid(grid["alphas"], grid["betas"])
    filled = ax.contourf(a, b, np.clip(loss, low, high), levels=levels, norm=LogNorm(low, high), cmap=SURFACE)
    ax.contour(a, b, loss, levels=levels, colors="white", linewidths=0.5, alpha=0.7)
    x_label, y_label = axis_labels(result, tr)
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    ax.set_xlim(grid["alphas"][0], grid["alphas"][-1])
    ax.set_ylim(grid["betas"][0], grid["betas"][-1])
    return filled


def draw_paths(ax, result, styles, tr, marks=True):
    """Each run's path and the start; with `marks`, the epoch marks and the labelled start and ends
    (an animation adds them as it goes). Returns {name: Line2D}."""
    lines, labels = {}, []
    lengths = {run["name"]: np.abs(np.diff(run["points"], axis=0)).sum() for run in result["runs"]}
    for run in result["runs"]:
        colour, style, marker = styles[run["name"]]
        p = np.array(run["points"])
        above = sum(lengths[run["name"]] < other for other in lengths.values()) / len(lengths)  # short paths on top
        lines[run["name"]], = ax.plot(p[:, 0], p[:, 1], linestyle=style, color=colour, lw=1.8, zorder=4 + above,
                                      label=run["name"], path_effects=HALO)
        if marks:
            ends = p[run["epoch_ends"]]
            ax.plot(ends[:, 0], ends[:, 1], marker=marker, color=colour, markeredgecolor="white", markersize=7,
                    linestyle="none", zorder=5.5)
            labels.append((p[-1], tr("traj_end_label", name=run["name"], loss=run["own_loss"][-1]), colour))
    ax.plot([0], [0], **START)
    if marks:
        labels.append((np.zeros(2), tr("traj_start_label", loss=result["origin"]["loss"]), "black"))
        place_labels(ax, labels, [np.array(run["points"]) for run in result["runs"]])
    return lines


# label offsets tried in turn (points): beside the mark in the four diagonal directions, then farther
OFFSETS = [(d * dx, d * dy) for d in (10, 28) for dx, dy in ((1, 1), (1, -1), (-1, 1), (-1, -1))]


def place_labels(ax, labels, paths):
    """Put each (xy, text, colour) label at the first offset where its box covers no path and no
    other label (else where it covers the fewest): nothing hides under a label."""
    fig = ax.figure
    fig.draw_without_rendering()  # fixes the layout, so the boxes measured below are final
    dense = np.concatenate([_densify(ax.transData.transform(p)) for p in paths])
    placed = []
    for xy, text, colour in labels:
        best = None
        for dx, dy in OFFSETS:
            note = ax.annotate(text, xy, xytext=(dx, dy), textcoords="offset points", fontsize=8, color=colour,
                               ha="left" if dx > 0 else "right", va="bottom" if dy > 0 else "top", zorder=7,
                               bbox=dict(boxstyle="round,pad=0.2", fc="white", ec="none", alpha=0.85))
            box = note.get_window_extent().expanded(1.05, 1.1)
            covered = (dense[:, 0] > box.x0) & (dense[:, 0] < box.x1) & (dense[:, 1] > box.y0) & (dense[:, 1] < box.y1)
            inside = covered.sum() + sum(box.overlaps(b) for b in placed) * 100
            inside += 100 * (not ax.bbox.contains(box.x0, box.y0) or not ax.bbox.contains(box.x1, box.y1))
            if best is None or inside < best[0]:
                if best is not None:
                    best[1].remove()
                best = (inside, note, box)
            else:
                note.remove()
            if inside == 0:
                break
        placed.append(best[2])


def _densify(points, per_segment=20):
    """Points along a polyline (display coordinates), so a label's box can see the lines between them."""
    if len(points) < 2:
        return points
    t = np.linspace(0, 1, per_segment, endpoint=False)[:, None]
    segments = [a + t * (b - a) for a, b in zip(points[:-1], points[1:])]
    return np.concatenate(segments + [points[-1:]])


def draw_shadow_check(ax, result, styles, tr):
    """Each saved point's own loss (y) against the plane's loss at its projection (x)."""
    values = []
    for run in result["runs"]:
        colour, _, marker = styles[run["name"]]
        pairs = [(p, o) for p, o in zip(run["plane_loss"], run["own_loss"]) if p is not None and o is not None]
        if pairs:
            x, y = np.array(pairs).T
            ax.plot(x, y, marker=marker, color=colour, markersize=4, linestyle="none", alpha=0.8)
            values += pairs
    lo, hi = np.min(values) * 0.8, np.max(values) * 1.25
    ax.plot([lo, hi], [lo, hi], color="0.4", lw=1, linestyle="--", zorder=0)
    ax.set(xscale="log", yscale="log", xlim=(lo, hi), ylim=(lo, hi), aspect="equal",
           xlabel=tr("traj_plane_loss"), ylabel=tr("traj_own_loss"))
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_locator(LogLocator(subs=(1, 2, 5)))
        axis.set_major_formatter("{x:.2g}")
        axis.set_minor_formatter(NullFormatter())
    worst = max(max(run["off_plane"]) for run in result["runs"])
    ax.set_title(tr("traj_shadow_title", worst=worst), fontsize=9)


def title(result, tr):
    n = len(result["runs"])
    runs = tr("traj_runs", n=n) if n > 1 else tr("traj_one_run")
    plane = tr("traj_pca_plane") if result["plane"] == "pca" else tr("traj_ends_plane", a=result["ends"][0],
                                                                   b=result["ends"][1])
    return tr("traj_title", runs=runs, model=result["model"], plane=plane, images=result["images"])


@localized
def figure_trajectory(result, show=False, lang=None):
    """The trajectory figure (see the module docstring) from a trajectory JSON's content."""
    tr = translator(lang)
    styles = run_styles(result["runs"])
    fig = new_figure((12.5, 6.0), show)
    left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.55, 1]})
    filled = draw_surface(left, result, tr)
    fig.colorbar(filled, ax=left, label=tr("train_loss") + tr("log_scale"), format="{x:.2g}", shrink=0.9)
    draw_paths(left, result, styles, tr)
    draw_shadow_check(right, result, styles, tr)
    fig.suptitle(title(result, tr), fontsize=11)
    marks = [Line2D([], [], label=tr("traj_start"), **START),
             Line2D([], [], marker="o", color="0.3", markeredgecolor="white", linestyle="none", markersize=7,
                    label=tr("traj_epoch_end"))]
    figure_legend(fig, [left], marks)
    return fig


def save_animation(result, path, fps=8, frames=60, lang=None):
    """A GIF of the paths advancing together, step by step (Pillow through matplotlib); returns path."""
    lang = check_lang(lang, option="lang")
    with matplotlib.rc_context(font_rc(lang)):  # every frame is drawn in the language's font
        return save_gif(_animation(result, frames, translator(lang)), path, fps=fps)


def _animation(result, frames, tr):
    """The animation's figure: the surface once, each frame the paths up to one step."""
    styles = run_styles(result["runs"])
    fig = new_figure((7.5, 6.2))
    ax = fig.subplots()
    draw_surface(ax, result, tr)
    lines = draw_paths(ax, result, styles, tr, marks=False)
    heads = {}
    for run in result["runs"]:
        colour, _, marker = styles[run["name"]]
        heads[run["name"]], = ax.plot([], [], marker=marker, color=colour, markeredgecolor="white", markersize=9,
                                      linestyle="none", zorder=6)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, frameon=False)
    last = max(run["steps"][-1] for run in result["runs"])
    moments = np.unique(np.linspace(0, last, min(frames, last + 1)).round().astype(int))
    caption = ax.set_title("", fontsize=10)

    def frame(step):
        for run in result["runs"]:
            p = np.array(run["points"])[np.array(run["steps"]) <= step]
            lines[run["name"]].set_data(p[:, 0], p[:, 1])
            heads[run["name"]].set_data(p[-1:, 0], p[-1:, 1])
        caption.set_text(tr("traj_step", step=step, last=last))
        return [*lines.values(), *heads.values(), caption]

    return FuncAnimation(fig, frame, frames=moments, blit=False)
