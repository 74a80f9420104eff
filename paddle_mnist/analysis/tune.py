"""Figures and table of a tuning run (``paddle-mnist tune``), read from OUT/tune.json; nothing trains.

The file's layout is in ``paddle_mnist.schemas.tune``. The expected-best figure needs only this
file; the lr-sensitivity figure also reads the trial records it names.
"""

import os

import numpy as np
from matplotlib.lines import Line2D
from matplotlib.ticker import LogFormatterSciNotation, LogLocator, MaxNLocator

from paddle_mnist.analysis.sensitivity import figure_lr_sensitivity
from paddle_mnist.analysis.lang import check_lang, localized, phrase, translator
from paddle_mnist.analysis.style import (new_figure, optimizer_colours, optimizer_styles, parse_formats, save_figure,
                                         write_text)
from paddle_mnist.core.errors import DataError
from paddle_mnist.schemas.run import load_record
from paddle_mnist.schemas.tune import CHANCE, is_tune_folder, load_tune  # noqa: F401  (read, then draw)

TABLE_FILE = "tune.md"
CHOSEN = dict(marker="*", markersize=14, markeredgecolor="black", markeredgewidth=0.8, linestyle="none",
              zorder=6)


def plural(n, word):
    return f"{n} {word}{'' if n == 1 else 's'}"


def _pct(x, digits=2):
    return "–" if x is None else f"{100 * x:.{digits}f} %"


def _mean_std_text(mean, std, runs):
    if mean is None:
        return "–"
    return _pct(mean) if runs == 1 else f"{100 * mean:.2f} ± {100 * std:.2f} %"


def range_text(settings, lang="en"):
    ranges = {tuple(r) for r in settings["lr_ranges"].values()}
    if len(ranges) == 1:
        lo, hi = ranges.pop()
        return phrase("log_uniform_in", lang, lo=lo, hi=hi)
    return phrase("log_uniform_each", lang)


def _diverged(entry):
    return sum(t["status"] == "diverged" for t in entry["trials"])


@localized
def figure_expected_best(result, show=False, lang=None):
    """Left: expected best valid accuracy after k trials (± 1 std band). Right: the seed reruns.
    The legend sits below the panels, never over a curve."""
    tr = translator(lang)
    opts, settings = result["optimizers"], result["settings"]
    looks = optimizer_styles(opts)
    colours = optimizer_colours(opts)
    fig = new_figure((11.5, 5.2 + 0.22 * ((len(opts) + 1) // 2)), show)
    ax, ax_final = fig.subplots(1, 2, gridspec_kw={"width_ratios": [2.3, 1]})
    budget = max(len(e["trials"]) for e in opts.values())
    fig.suptitle(tr("tune_title", budget=budget, ranges=range_text(settings, lang),
                    epochs=settings["epochs"]), fontsize=12)
    for name, entry in opts.items():
        ks = np.array([c["k"] for c in entry["expected_best"]])
        mean = 100 * np.array([c["mean"] for c in entry["expected_best"]])
        std = 100 * np.array([c["std"] for c in entry["expected_best"]])
        label = tr("tune_label", name=name, lr=entry["chosen_lr"], bad=_diverged(entry), n=len(ks))
        ax.plot(ks, mean, color=looks[name][0], marker=looks[name][1], markersize=5, linewidth=2, label=label)
        ax.fill_between(ks, np.clip(mean - std, 0, 100), np.clip(mean + std, 0, 100),
                        color=colours[name], alpha=0.1, linewidth=0)
    ax.set_xlabel(tr("tune_k"))
    ax.set_ylabel(tr("tune_expected"))
    ax.set_title(tr("tune_expected_title"), fontsize=11)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.margins(y=0.08)  # a point at 100 % or on the lowest value stays inside the frame
    ax.grid(True, alpha=0.3)
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower left", ncol=2, fontsize=8.5, frameon=False)
    _final_panel(ax_final, result, looks, tr)
    return fig


def _final_panel(ax, result, looks, tr):
    """Eval accuracy at each optimizer's tuned lr over the rerun seeds, beside lr 0.01 when it was run."""
    rows = result.get("table") or []
    seeds = len(result["settings"].get("final_seeds") or [])
    course = False
    for i, row in enumerate(rows):
        colour, marker = looks[row["optimizer"]]
        for f in result["optimizers"][row["optimizer"]]["final"]:
            ax.plot(i - 0.12, 100 * f["eval_acc"], ".", color=colour, alpha=0.6, markersize=6)
        if row["mean"] is not None:
            ax.errorbar(i - 0.12, 100 * row["mean"], yerr=100 * row["std"], fmt=marker, color=colour,
                        markersize=8, capsize=4, linewidth=1.8)
        if row.get("course"):
            course = True
            c = row["course"]
            ax.errorbar(i + 0.18, 100 * c["mean"], yerr=100 * c["std"], fmt=marker, color=colour,
                        markerfacecolor="white", markersize=7, capsize=3, linewidth=1.2)
    ax.set_xticks(range(len(rows)), [r["optimizer"] for r in rows], rotation=30)
    ax.set_xlim(-0.6, len(rows) - 0.4)
    ax.margins(y=0.1)
    ax.set_ylabel(tr("eval_acc"))
    ax.set_title(tr("tune_rerun", seeds=seeds), fontsize=11)
    ax.grid(True, axis="y", alpha=0.3)
    handles = [Line2D([], [], marker="o", color="0.3", label=tr("tuned_mean_std"))]
    if course:
        handles.append(Line2D([], [], marker="o", color="0.3", markerfacecolor="white", label=f"lr {result['settings']['course_lr']:g}"))
    ax.figure.legend(handles=handles, fontsize=8, loc="outside lower right", frameon=False)


@localized
def figure_tune_sensitivity(result, records, show=False, lang=None):
    """The project's lr-sensitivity figure for all trials, each optimizer's chosen lr starred (on its
    line, shifted sideways as the line is; the star explained in the legend below the panels)."""
    star = Line2D([], [], color="0.6", label=translator(lang)("chosen_lr"), **CHOSEN)
    fig = figure_lr_sensitivity(records, show, lang=lang, extra_handles=[star])
    colours = optimizer_colours(result["optimizers"])
    ax = fig.axes[0]  # the accuracy panel
    for panel in fig.axes[:2]:  # random lrs crowd each other as tick labels: decades instead
        panel.xaxis.set_major_locator(LogLocator())
        panel.xaxis.set_major_formatter(LogFormatterSciNotation())
    lines = {line.get_label(): line for line in ax.lines}
    for name, entry in result["optimizers"].items():
        chosen = next(t for t in entry["trials"] if t["lr"] == entry["chosen_lr"])
        if chosen["status"] != "diverged" and name in lines:
            first = min(t["lr"] for t in entry["trials"] if t["status"] != "diverged")
            shift = lines[name].get_xdata()[0] / first  # the line's sideways shift (style.dodge)
            ax.plot([chosen["lr"] * shift], [100 * chosen["valid_acc"]], color=colours[name], gid="chosen",
                    **CHOSEN)
    return fig


def table_markdown(result):
    """The DeepOBS table: eval accuracy at each tuned lr (over seeds), at the course's lr, and the trials."""
    seeds = len(result["settings"].get("final_seeds") or [])
    course_lr = result["settings"]["course_lr"]
    header = ["optimizer", "tuned lr", f"eval acc at tuned lr ({plural(seeds, 'seed')})", f"eval acc at lr {course_lr:g}",
              "best trial (valid)", "expected best of 1 trial (valid)", "diverged trials"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for row in result.get("table") or []:
        entry = result["optimizers"][row["optimizer"]]
        c = row.get("course")
        course = _mean_std_text(c["mean"], c["std"], c["runs"]) + f" (seeds {', '.join(map(str, c['seeds']))})" \
            if c else "not run"
        first, last = entry["expected_best"][0], entry["expected_best"][-1]
        cells = [row["optimizer"], f"{row['chosen_lr']:g}", _mean_std_text(row["mean"], row["std"], row["runs"])
                 + (f", {row['diverged']} diverged" if row["diverged"] else ""),
                 course, _pct(last["mean"]), f"{100 * first['mean']:.2f} ± {100 * first['std']:.2f} %",
                 f"{_diverged(entry)}/{len(entry['trials'])}"]
        lines.append("| " + " | ".join(cells) + " |")
    s = result["settings"]
    lines += ["", f"{s['budget']} trials per optimizer, lr {range_text(s)}, {plural(s['epochs'], 'epoch')}, trial seed "
              f"{s['seed']}; a trial's measure is its final validation accuracy (a diverged run counts as "
              f"{CHANCE:.0%}); the chosen lr is rerun with seeds {', '.join(map(str, s['final_seeds']))}."]
    return "\n".join(lines) + "\n"


def draw(result, directory, figures=True, show=False, lang=None):
    """{"figures": {name: Figure}, "table": markdown, "skipped_figures": {name: why}} for a tune result."""
    lang = check_lang(lang, option="lang")
    drawn = {"figures": {}, "table": table_markdown(result), "skipped_figures": {}}
    if not figures:
        return drawn
    drawn["figures"]["expected_best"] = figure_expected_best(result, show, lang=lang)
    try:
        records = [load_record(os.path.join(directory, t["run"]))
                   for entry in result["optimizers"].values() for t in entry["trials"]]
    except DataError as e:
        drawn["skipped_figures"]["lr_sensitivity"] = f"a trial record cannot be read ({e})"
    else:
        drawn["figures"]["lr_sensitivity"] = figure_tune_sensitivity(result, records, show, lang=lang)
    return drawn


def save(drawn, out, formats=("png",)):
    """Write the figures and tune.md into `out`; returns the paths."""
    files = []
    for name, fig in drawn["figures"].items():
        files += save_figure(fig, out, name, parse_formats(formats))
    path = os.path.join(out, TABLE_FILE)
    write_text(path, drawn["table"])
    return files + [path]


def redraw(directory, out=None, formats=("png",), show=False, lang=None):
    """Draw a tune folder's figures and table again from its tune.json (what `paddle-mnist plot DIR` does)."""
    formats = parse_formats(formats)
    lang = check_lang(lang, option="lang")
    result = load_tune(directory)
    drawn = draw(result, directory, show=show, lang=lang)
    return {"tune": result, **drawn, "files": save(drawn, out or directory, formats)}
