"""Run records in, checked groups out: what every figure and table of a sweep is drawn from.

As in DeepOBS's analyzer, reading and grouping are kept apart from drawing: nothing here draws.
A group is the runs that differ only by their seed (averaged in the figures); every other config
field that varies (batch size, schedule, model, ...) goes into the group's label, so different runs
are never merged silently. Records of different data files are refused: their numbers do not compare.
"""

import json
import os
from dataclasses import dataclass, field

import numpy as np

from paddle_mnist.analysis.lang import phrase
from paddle_mnist.core.errors import DataError
from paddle_mnist.schemas.run import NOT_RESULT_FIELDS, OPTIMIZER_NAMES, RESULT_FIELDS, SHORT, find_records

# From the fields' declarations (core/config.py, as schemas/run.py repeats them without Paddle): fields that do not change what a run
# computes (where it wrote, on which device, ...) are never an axis, nor is the seed, which is
# averaged over rather than drawn as its own line; the others appear in labels in declaration order.
NOT_AN_AXIS = set(NOT_RESULT_FIELDS) | {"seed"}
AXIS_ORDER = [f for f in RESULT_FIELDS if f not in ("optimizer", "lr", "seed")]

OPTIMIZER_ORDER = list(OPTIMIZER_NAMES)  # groups are listed in the optimizer table's order


class FairnessWarning(UserWarning):
    """Runs that should share initial weights or batch order (same seed) do not."""


@dataclass
class Group:
    """Runs that differ only by their seed: one line in the loss and sensitivity plots."""

    optimizer: str
    lr: float
    extras: tuple  # ((field, value), ...) for the other config fields that vary
    runs: list = field(default_factory=list)

    @property
    def line(self):
        """Which sensitivity-plot line the group is a point of (optimizer + other fields), hashable."""
        return (self.optimizer, canon(self.extras))

    @property
    def diverged(self):
        return [r for r in self.runs if run_diverged(r)]


@dataclass
class Runs:
    """Checked records plus what the plots derive from them."""

    records: list
    axes: list       # varying config fields besides optimizer/lr/seed
    groups: list     # [Group]
    warnings: list   # fairness warnings (one line each)


# ---------------------------------------------------------------------------------------------
# values


def run_diverged(record):
    """True for a run record that diverged (``core.loop.is_diverged`` is the trainer's test on losses)."""
    return record.get("status") == "diverged" or bool(record.get("divergence"))


def is_json_number(x):
    """An int or float as JSON holds them (not True/False)."""
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def canon(value):
    """A hashable, comparable form of a config value (dicts and lists included)."""
    return json.dumps(value, sort_keys=True)


def value_key(value):
    """Sort numbers by value (50 before 100), then None, then everything else by its JSON text."""
    if is_json_number(value):
        return (0, float(value), "")
    return (1, 0.0, "") if value is None else (2, 0.0, canon(value))


def extras_key(extras):
    return tuple(value_key(v) for _, v in extras)


def step_losses(record):
    """The per-step training loss as floats; null (non-finite) becomes NaN."""
    losses = (record.get("steps") or {}).get("loss", [])
    return np.array([np.nan if x is None else x for x in losses], float)


def last_epoch(record):
    epochs = record.get("epochs") or []
    return epochs[-1] if epochs else {}


def final_results(group):
    """(mean, std) of the final valid accuracy and loss over the group's runs that did not diverge."""
    finals = [last_epoch(r) for r in group.runs if not run_diverged(r)]
    accs = [e["valid_acc"] for e in finals if e.get("valid_acc") is not None]
    losses = [e["valid_loss"] for e in finals if e.get("valid_loss") is not None]

    def stats(xs):
        return (float(np.mean(xs)), float(np.std(xs))) if xs else (None, None)

    return {"valid_acc": stats(accs), "valid_loss": stats(losses)}


def by_line(groups):
    """{line: [groups]}: the learning rates tried for each optimizer (+ other fields)."""
    lines = {}
    for g in groups:
        lines.setdefault(g.line, []).append(g)
    return lines


# ---------------------------------------------------------------------------------------------
# checking


def _check_record(record, where):
    """Fail with a DataError naming the run when a field the plots read is missing or mistyped."""
    name = record.get("name")
    who = f"{where}run {name!r}" if isinstance(name, str) else f"{where}a record without a name"

    def bad(what):
        return DataError(f"{who}: malformed record: {what}")

    if not isinstance(name, str):
        raise bad("'name' is not a string")
    config = record.get("config")
    if not isinstance(config, dict):
        raise bad("'config' is not an object")
    if not isinstance(config.get("optimizer"), str):
        raise bad("config.optimizer is not a string")
    if not is_json_number(config.get("lr")):
        raise bad("config.lr is not a number")
    for key in ("data", "steps", "fairness", "eval", "timing"):
        if not (isinstance(record.get(key), dict) or (key != "data" and record.get(key) is None)):
            raise bad(f"{key!r} is not an object")
    losses = (record.get("steps") or {}).get("loss", [])
    if not isinstance(losses, list) or not all(x is None or is_json_number(x) for x in losses):
        raise bad("steps.loss is not a list of numbers/nulls")
    epochs = record.get("epochs") or []
    if not isinstance(epochs, list) or not all(isinstance(e, dict) for e in epochs):
        raise bad("'epochs' is not a list of objects")
    for e in epochs:
        for key in ("train_loss", "train_acc", "valid_loss", "valid_acc"):
            if not (e.get(key) is None or is_json_number(e.get(key))):
                raise bad(f"epochs[].{key} is not a number")
    spe = record.get("steps_per_epoch")
    if not (spe is None or (isinstance(spe, int) and spe > 0)):
        raise bad("steps_per_epoch is not a positive integer")


def _check_same_data(records):
    """Refuse to compare runs trained on different data files: their numbers are not comparable."""
    by_hash = {}
    for r in records:
        by_hash.setdefault(r["data"].get("sha256"), []).append(r)
    if len(by_hash) > 1:
        parts = []
        for sha, runs in by_hash.items():
            path = runs[0]["data"].get("path") or runs[0]["data"].get("source") or "?"
            names = ", ".join(r["name"] for r in runs[:3]) + (", ..." if len(runs) > 3 else "")
            parts.append(f"{path} (sha256 {str(sha)[:12]}) for {names}")
        raise DataError("runs were trained on different data files, their results are not comparable: "
                        + "; ".join(parts) + ". Plot the runs of one data file at a time.")


def _fairness_warnings(records):
    """One line per fairness hash that differs between runs that should share it (same seed)."""
    checks = [  # hash, what it covers, the config fields that decide it
        ("init_weights_sha256", "initial weights", ("model", "seed")),
        ("batch_order_sha256", "batch order", ("seed", "batch_size", "epochs")),
    ]
    lines = []
    for key, what, by in checks:
        groups = {}
        for r in records:
            value = (r.get("fairness") or {}).get(key)
            if value is not None:
                ident = tuple(canon(r["config"].get(k)) for k in by)
                groups.setdefault(ident, {}).setdefault(value, []).append(r["name"])
        for ident, hashes in groups.items():
            if len(hashes) > 1:
                examples = " vs ".join(names[0] for names in hashes.values())
                seed = dict(zip(by, ident))["seed"]
                lines.append(f"runs with seed {seed} started from different {what} ({examples}): "
                             f"their comparison is not like-for-like")
                break  # one line per kind of hash is enough
    return lines


# ---------------------------------------------------------------------------------------------
# grouping


def _varying_axes(records):
    """Config fields, other than optimizer, lr and seed, whose values differ between runs."""
    keys = set().union(*(r["config"] for r in records)) - NOT_AN_AXIS - {"optimizer", "lr"}
    varying = [k for k in keys if len({canon(r["config"].get(k)) for r in records}) > 1]
    return sorted(varying, key=lambda k: (AXIS_ORDER.index(k) if k in AXIS_ORDER else len(AXIS_ORDER), k))


def _optimizer_key(name):
    return (OPTIMIZER_ORDER.index(name) if name in OPTIMIZER_ORDER else len(OPTIMIZER_ORDER), name)


def _group_runs(records, axes):
    """Group the runs that differ only by seed, sorted by optimizer, other fields, then lr."""
    groups = {}
    for r in records:
        c = r["config"]
        extras = tuple((k, c.get(k)) for k in axes)
        key = (c["optimizer"], float(c["lr"]), canon(extras))
        if key not in groups:
            groups[key] = Group(c["optimizer"], float(c["lr"]), extras)
        groups[key].runs.append(r)
    for g in groups.values():
        g.runs.sort(key=lambda r: (value_key(r["config"].get("seed")), r["name"]))
    return sorted(groups.values(), key=lambda g: (_optimizer_key(g.optimizer), extras_key(g.extras), g.lr))


def prepare_runs(records, where=""):
    """Check the records (`where` prefixes every error) and group them: a Runs."""
    if not records:
        raise DataError(f"{where}no run records to plot")
    for r in records:
        if not isinstance(r, dict):
            raise DataError(f"{where}a run record is not a JSON object")
        _check_record(r, where)
    _check_same_data(records)
    axes = _varying_axes(records)
    return Runs(records, axes, _group_runs(records, axes), _fairness_warnings(records))


def load_runs(directory):
    """Every record under `directory` (a sweep, a single run, or any folder of runs)."""
    records = find_records(directory)
    if not records:
        raise DataError(f"{directory}: no run records (record.json) found in it or below it")
    return records


def as_runs(source):
    """A Runs from a Runs, a folder of runs, or a list of record dicts."""
    if isinstance(source, Runs):
        return source
    if isinstance(source, (str, os.PathLike)):
        directory = os.fspath(source)
        return prepare_runs(load_runs(directory), where=f"{directory}: ")
    return prepare_runs(list(source))


# ---------------------------------------------------------------------------------------------
# names in legends and tables


def fmt(value):
    if isinstance(value, float):
        return f"{value:g}"
    if value is None:
        return "none"
    return str(value)


def lr_text(lr):
    return f"lr={lr:g}"


def _axis_label(key, value):
    if isinstance(value, dict):
        return ",".join(f"{k}={fmt(v)}" for k, v in sorted(value.items())) if value else f"{key}=default"
    return f"{SHORT.get(key, key)}={fmt(value)}"


def extras_label(extras):
    return ", ".join(_axis_label(k, v) for k, v in extras)


def group_label(group, optimizer=True, lr=True):
    """'adam, lr=0.01, bs=50': the optimizer and lr unless a panel title says them already."""
    parts = [group.optimizer if optimizer else "", lr_text(group.lr) if lr else "",
             extras_label(group.extras)]
    return ", ".join(p for p in parts if p)


def seeds_note(group, groups, divergence=False, lang="en"):
    """' (3 seeds)' when seed counts differ between lines (else the legend title says it once)."""
    n, bad = len(group.runs), len(group.diverged)
    notes = []
    if n > 1 and len({len(g.runs) for g in groups}) > 1:
        notes.append(phrase("n_seeds", lang, n=n))
    if divergence and bad:
        notes.append(phrase("all_diverged", lang) if bad == n else phrase("some_diverged", lang, bad=bad, n=n))
    return f" ({', '.join(notes)})" if notes else ""


def seeds_title(groups, text="; each line: mean of {n} seeds"):
    """The seed count, said once in the legend title, when every line has the same number (> 1)."""
    counts = {len(g.runs) for g in groups}
    n = counts.pop() if len(counts) == 1 else 1
    return text.format(n=n) if n > 1 else ""
