"""The summary table of a set of runs: the best learning rate per optimizer, then every run.

``summary_rows`` gives one dict per run with its numbers exactly as recorded (ready for CSV);
``summary_markdown`` and ``summary_csv`` turn those rows into the two files ``plot`` writes.
"""

import csv
import io
import math

import numpy as np

from paddle_mnist.analysis.runs import as_runs, by_line, canon, final_results, fmt, last_epoch
from paddle_mnist.analysis.target import NEVER, parse_target, time_to_target
from paddle_mnist.schemas.run import FINISHED

RUN_COLUMNS = ["name", "optimizer", "lr"]
RESULT_COLUMNS = ["seed", "status", "epochs_done", "train_loss", "valid_loss", "valid_acc", "eval_acc",
                  "seconds", "best"]
CURVATURE_COLUMNS = ["lambda_max", "verdict"]  # from a hessian sweep of the runs, when there is one
TARGET_COLUMNS = ["target", "target_step", "target_images", "target_seconds"]  # with a target; empty: never


def _rank(group):
    """Sort key: finished runs first (not one still running), higher mean valid accuracy, lower loss."""
    unfinished = any(r.get("status") not in FINISHED for r in group.runs)
    points = final_results(group)
    loss = points["valid_loss"][0]
    return (unfinished, -points["valid_acc"][0], math.inf if loss is None else loss, group.lr)


def _best_groups(groups):
    """ids of the best group of each line (optimizer + other fields); diverged lrs never win."""
    best = set()
    for line in by_line(groups).values():
        candidates = [g for g in line if final_results(g)["valid_acc"][0] is not None and not g.diverged]
        if candidates:
            best.add(id(min(candidates, key=_rank)))
    return best


def summary_rows(records, curvature=None, target=None):
    """One row per run (a dict, ready for CSV): its config axes and final numbers, exactly as recorded.

    ``best`` is "yes" for the runs of the best learning rate of their optimizer (per combination of the
    other varying fields): the highest final validation accuracy (mean over seeds), ties going to the
    lower validation loss; a learning rate where a run diverged is never the best. `curvature`
    ({run name: row of a hessian sweep}, see ``analysis.curvature.sweep_curvature``) adds λmax and
    the verdict of the runs it measured. `target` (e.g. "valid_acc=0.97", see ``analysis.target``)
    adds when each run first reached it: target_step, target_images, target_seconds (None: never).
    """
    target = parse_target(target) if target is not None else None
    runs = as_runs(records)
    best = _best_groups(runs.groups)
    rows = []
    for g in runs.groups:
        for r in g.runs:
            last = last_epoch(r)
            row = {"name": r["name"], "optimizer": g.optimizer, "lr": r["config"]["lr"]}
            for k, v in g.extras:
                row[k] = canon(v) if isinstance(v, (dict, list)) else v  # a JSON cell, keys sorted
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
            if curvature:
                measured = curvature.get(r["name"], {})
                row.update({k: measured.get(k) for k in CURVATURE_COLUMNS})
            if target:
                reached = time_to_target(r, target) or {}
                row.update({"target": target["text"], "target_step": reached.get("step"),
                            "target_images": reached.get("images"), "target_seconds": reached.get("seconds")})
            rows.append(row)
    return rows


def _extra_keys(rows):
    keys = []
    for row in rows:
        keys += [k for k in row if k not in RUN_COLUMNS + RESULT_COLUMNS + CURVATURE_COLUMNS + TARGET_COLUMNS
                 and k not in keys]
    return keys


def _pct(x):
    return "–" if x is None else f"{100 * x:.2f}%"


def _num(x):
    if x is None:
        return "–"
    return f"{x:.4g}" if abs(x) >= 1e4 or abs(x) < 1e-3 else f"{x:.4f}"


def _secs(x):
    return "–" if x is None else f"{x:.1f}"


def _mean_text(values, fmt_one):
    """One value as it is; several (seeds) as mean ± std."""
    values = [v for v in values if v is not None]
    if len(values) <= 1:
        return fmt_one(values[0] if values else None)
    return f"{fmt_one(float(np.mean(values)))} ± {fmt_one(float(np.std(values))).rstrip('%')}"


def _table(header, body):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in body]
    return "\n".join(lines)


def _has_curvature(rows):
    return any("lambda_max" in r for r in rows)


def _curvature_cells(rows):
    """λmax (mean ± std over seeds) and the verdict(s) of some runs."""
    verdicts = sorted({r["verdict"] for r in rows if r.get("verdict")})
    return [_mean_text([r.get("lambda_max") for r in rows], _num), ", ".join(verdicts) or "–"]


def _target_of(rows):
    """The target text of the rows, or None when they were made without one."""
    return next((r["target"] for r in rows if r.get("target")), None)


def _target_cell(rows):
    """Steps, images and seconds to the target, mean over the seeds that reached it; "never"."""
    reached = [r for r in rows if r.get("target_step") is not None]
    if not reached:
        return NEVER
    seconds = [r["target_seconds"] for r in reached if r.get("target_seconds") is not None]
    text = (f"{np.mean([r['target_step'] for r in reached]):,.0f} steps · "
            f"{np.mean([r['target_images'] for r in reached]):,.0f} images · "
            + (f"{np.mean(seconds):.1f} s" if seconds else "? s"))
    return text + (f" ({len(reached)} of {len(rows)} seeds; the others never)" if len(reached) < len(rows) else "")


def _best_cells(line_rows, curvature):
    """best lr, valid acc, eval acc, seconds, status (and λmax, verdict) of one optimizer (+ other
    fields), over seeds."""
    chosen = [r for r in line_rows if r["best"] == "yes"]
    if not chosen:
        all_diverged = all(r["status"] == "diverged" for r in line_rows)
        why = "every run diverged" if all_diverged else "no run finished an epoch"
        return ["–", "–", "–", "–", why] + (["–", "–"] if curvature else [])
    status = ", ".join(sorted({str(r["status"]) for r in chosen}))
    if len(chosen) > 1:
        status += f" ({len(chosen)} seeds)"
    return [fmt(chosen[0]["lr"]),
            _mean_text([r["valid_acc"] for r in chosen], _pct),
            _mean_text([r["eval_acc"] for r in chosen], _pct),
            _mean_text([r["seconds"] for r in chosen], _secs),
            status] + (_curvature_cells(chosen) if curvature else [])


def _run_cells(r, curvature):
    status = f"**{r['status']}**" if r["status"] == "diverged" else r["status"]
    return ([status, r["epochs_done"], _num(r["train_loss"]), _num(r["valid_loss"]), _pct(r["valid_acc"]),
             _pct(r["eval_acc"]), _secs(r["seconds"]), "✓" if r["best"] else ""]
            + (_curvature_cells([r]) if curvature else []))


def summary_markdown(rows):
    """The summary as Markdown: the best learning rate per optimizer, then every run."""
    extras = _extra_keys(rows)
    curvature = _has_curvature(rows)
    curvature_header = ["λmax", "verdict"] if curvature else []
    seed = ["seed"] if len({canon(r.get("seed")) for r in rows}) > 1 else []
    lines = {}
    for row in rows:
        lines.setdefault((row["optimizer"],) + tuple(canon(row.get(k)) for k in extras), []).append(row)
    best_body = [[group[0]["optimizer"]] + [fmt(group[0].get(k)) for k in extras] + _best_cells(group, curvature)
                 for group in lines.values()]
    run_body = [[r["name"], r["optimizer"], fmt(r["lr"])] + [fmt(r.get(k)) for k in extras + seed]
                + _run_cells(r, curvature) for r in rows]
    target = _target_of(rows)
    target_header = [f"to {target}"] if target else []
    if target:
        for cells, group in zip(best_body, lines.values()):
            chosen = [r for r in group if r["best"] == "yes"]
            cells.append(_target_cell(chosen) if chosen else "–")
        for cells, r in zip(run_body, rows):
            cells.append(_target_cell([r]))
    text = [
        "## Best learning rate per optimizer",
        "",
        "Chosen by final validation accuracy (mean ± std over seeds), ties to the lower validation "
        "loss; a learning rate where a run diverged is never chosen. Eval = the held-out eval split."
        + (" λmax and verdict: the Hessian's largest eigenvalue and minimum/saddle, from "
           "`paddle-mnist hessian` (hessian.json)." if curvature else "")
        + (f" To {target}: the training steps, images and seconds until the run first reached it "
           "(mean over the seeds that did; see docs/notes/learner.md)." if target else ""),
        "",
        _table(["optimizer"] + extras + ["best lr", "valid acc", "eval acc", "seconds", "status"]
               + curvature_header + target_header, best_body),
        "",
        "## All runs",
        "",
        _table(["run", "optimizer", "lr"] + extras + seed + ["status", "epochs done", "train loss",
                                                           "valid loss", "valid acc", "eval acc",
                                                           "seconds", "best"] + curvature_header
               + target_header, run_body),
    ]
    return "\n".join(text) + "\n"


def summary_csv(rows):
    """The per-run rows as CSV text: full-precision numbers, empty cells for missing values."""
    columns = (RUN_COLUMNS + _extra_keys(rows) + RESULT_COLUMNS + (CURVATURE_COLUMNS if _has_curvature(rows) else [])
               + (TARGET_COLUMNS if _target_of(rows) else []))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if row.get(k) is None else row.get(k) for k in columns})
    return buffer.getvalue()
