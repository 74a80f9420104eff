"""Comparisons: a grid of training runs over optimizers, learning rates and any other config field.

What the course's optimizer chapter does by hand (edit the optimizer line, rerun, eyeball the
losses), as one command. Each cell of the grid is one ``train`` run with its own record in
``OUT/runs/NAME/``; ``OUT/manifest.json`` lists the grid. Runs with the same seed start from the
same weights and see the same batches (``train`` guarantees it), so differences come from the
optimizer and learning rate alone. Rerunning the same command skips finished runs and resumes
unfinished ones. Every cell is checked before anything is written, and one ``compare`` at a time
owns a sweep folder. The runs train in local processes or on a Ray cluster (``executors``).
"""

import itertools
import json
import math
import os
from contextlib import contextmanager
from dataclasses import asdict, fields, replace

from paddle_mnist.core.progress import tqdm

from paddle_mnist.core.checkpoints import LAST_CHECKPOINT
from paddle_mnist.core.config import COURSE_LR, COURSE_OPTIMIZERS, SHORT, TrainConfig, config_id
from paddle_mnist.core.data import load_dataset
from paddle_mnist.core.errors import ConfigError, PaddleMnistError
from paddle_mnist.runners.executors import make_executor
from paddle_mnist.core.files import ensure_writable_dir
from paddle_mnist.schemas.run import is_finished, load_record
from paddle_mnist.schemas.sweep import write_manifest

try:
    import fcntl  # POSIX; elsewhere (Windows) a sweep folder is not locked
except ImportError:  # pragma: no cover
    fcntl = None

LOCK_FILE = ".compare.lock"  # holds the owner's pid; the lock itself is the OS's (flock)

# The course's two experiments: four optimizers at lr 0.01, and SGD at three learning rates.
COURSE_EXPERIMENTS = [
    {"optimizer": list(COURSE_OPTIMIZERS), "lr": [COURSE_LR]},
    {"optimizer": ["sgd"], "lr": [0.1, 0.01, 0.001]},
]


def expand_grid(base, axes):
    """Every combination of the axes' values, as TrainConfigs built on `base`."""
    names = list(axes)
    return [replace(base, **dict(zip(names, values)))
            for values in itertools.product(*(axes[n] for n in names))]


def run_label(config, varying):
    """A file-safe run name from the fields that vary in the sweep, e.g. ``adam-lr0.01-bs32``."""
    parts = []
    for name in varying:
        value = getattr(config, name)
        if name == "optimizer":
            parts.insert(0, str(value))
        elif isinstance(value, float):
            parts.append(f"{SHORT.get(name, name)}{value:g}")
        else:
            parts.append(f"{SHORT.get(name, name)}{value}")
    label = "-".join(parts) or config.optimizer
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in label)


def plan_runs(base, grids):
    """Expand one or more grids, check every cell, drop duplicates (same config id), name each run."""
    configs, seen = [], set()
    for axes in grids:
        for config in expand_grid(base, axes):
            config.check()
            cid = config_id(config)
            if cid not in seen:
                seen.add(cid)
                configs.append(config)
    varying = [f.name for f in fields(base)
               if len({repr(getattr(c, f.name)) for c in configs}) > 1]
    if "optimizer" not in varying:
        varying.insert(0, "optimizer")
    if "lr" not in varying:
        varying.insert(1, "lr")
    names = [run_label(c, varying) for c in configs]
    if len(set(names)) != len(names):  # cannot happen with file-safe values; guard anyway
        names = [f"{n}-{config_id(c)[:6]}" for n, c in zip(names, configs)]
    return list(zip(names, configs)), varying


def build_grids(optimizers=None, lrs=None, grid=None):
    """The sweep's grids: `grid` (one dict of axes, or a list of them) with the `optimizers` and
    `lrs` axes added to each; none of these: the course's two experiments."""
    grids = [dict(g) for g in (grid if isinstance(grid, (list, tuple)) else [grid or {}])] or [{}]
    for axes in grids:
        if optimizers:
            axes["optimizer"] = list(optimizers)
        if lrs:
            axes["lr"] = [float(x) for x in lrs]
    if all(not axes for axes in grids):
        return [dict(g) for g in COURSE_EXPERIMENTS]
    known = {f.name for f in fields(TrainConfig)}
    for axes in grids:
        for name, values in axes.items():
            if name not in known:
                raise ConfigError(f"unknown config field(s) {name}; fields are: {', '.join(sorted(known))}")
            if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__") or not list(values):
                raise ConfigError(f"axis {name!r} needs a list of values, not {values!r}")
    return [{name: list(values) for name, values in axes.items()} for axes in grids]


def check_cells(planned, dataset):
    """Every cell's schedule over its whole run (it needs the data's size): a bad cell anywhere in
    the grid is refused before the first run trains, or anything is written."""
    seen = set()
    for _, config in planned:
        spe = math.ceil(len(dataset.train.labels) / config.batch_size)
        key = (config.schedule, config.lr, config.epochs, config.warmup_steps,
               json.dumps(config.schedule_args, sort_keys=True), spe)
        if key not in seen:
            seen.add(key)
            config.check(spe)


def run_state(run_dir, cid, data_sha):
    """'done' (skip), 'resume' (continue from its checkpoint) or 'new' for one run directory."""
    try:
        record = load_record(run_dir)
    except PaddleMnistError:  # no record yet, or one cut short: start it again
        return "new"
    if record.get("config_id") != cid or record.get("data", {}).get("sha256") != data_sha:
        return "new"
    if is_finished(record):
        return "done"
    return "resume" if os.path.exists(os.path.join(run_dir, LAST_CHECKPOINT)) else "new"


_HELD_LOCKS = {}  # sweep folders this process owns (a tuning run holds its folder across compares)


@contextmanager
def sweep_lock(out):
    """Own the sweep folder `out` (created, checked writable) while the block runs; another process
    owning it is a ConfigError. The lock is the OS's (flock): it goes with its process, even one
    killed with SIGKILL, so a dead sweep never leaves a stale lock."""
    out = ensure_writable_dir(out)
    key = os.path.realpath(out)
    if key in _HELD_LOCKS or fcntl is None:
        yield out
        return
    fd = os.open(os.path.join(out, LOCK_FILE), os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(fd, 32, 0).decode(errors="replace").strip()
            owner = f" (pid {owner})" if owner else ""
            raise ConfigError(f"--out {out}: another compare is running in this folder{owner}; "
                              "wait for it to end or use another --out") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        _HELD_LOCKS[key] = fd
        try:
            yield out
        finally:
            del _HELD_LOCKS[key]
    finally:
        os.close(fd)  # releases the lock


def manifest(out, planned, varying, grids, base, dataset):
    """Write OUT/manifest.json (``schemas.sweep``): the axes, grids, shared fields, data and runs."""
    axes = {n: sorted({getattr(c, n) for _, c in planned}, key=str) for n in varying}
    write_manifest(out, axes, grids, asdict(base), dataset.info, [(n, config_id(c)) for n, c in planned])


class SweepProgress:
    """The sweep's one progress bar: runs done / total, each running run's progress and latest
    loss, the best eval accuracy so far. It also keeps every run's step losses as they come in
    (``curves``) and hands them to ``on_progress(curves)``, e.g. a live figure."""

    def __init__(self, total, done, enabled, on_progress=None):
        self.bar = tqdm(total=total, initial=done, desc="compare", unit="run", disable=not enabled)
        self.best, self.on_progress = None, on_progress or (lambda curves: None)
        self.curves = {}  # name -> {"losses", "total", "lr", "valid_acc", "done"}

    def steps(self, name, note):
        """A run's new steps (a ``StepsSender`` note)."""
        curve = self.curves.setdefault(name, {"losses": [], "done": False})
        curve["losses"] = curve["losses"][:note["first"]] + note["losses"]
        curve.update(total=note["total"], lr=note["lr"], valid_acc=note["valid_acc"])
        self.bar.set_postfix_str(self._running())
        self.on_progress(self.curves)

    def _running(self):
        """e.g. "adam-lr0.01 40% loss 0.312 | sgd-lr0.1 35% loss 1.05 | best ..." """
        parts = []
        for name, curve in self.curves.items():
            recent = [x for x in curve["losses"][-50:] if x is not None]
            if not curve["done"] and recent:
                parts.append(f"{name} {len(curve['losses']) / curve['total']:.0%} loss {sum(recent) / len(recent):.3g}")
        if self.best:
            parts.append(f"best {self.best[1]} eval {self.best[0]:.1%}")
        return " | ".join(parts)

    def __call__(self, record):
        if record["status"] == "interrupted":  # Ctrl-C stops the whole sweep, not just this run
            raise KeyboardInterrupt
        self.bar.update(1)
        acc = (record.get("eval") or {}).get("acc")
        if acc is not None and (self.best is None or acc > self.best[0]):
            self.best = (acc, record["name"])
        curve = self.curves.setdefault(record["name"], {})
        curve.update(losses=record["steps"]["loss"], total=record["steps_per_epoch"] * record["config"]["epochs"],
                     lr=(record["steps"]["lr"] or [None])[-1], done=True,
                     valid_acc=record["epochs"][-1]["valid_acc"] if record["epochs"] else None)
        self.bar.set_postfix_str(self._running())
        self.on_progress(self.curves)

    def close(self):
        self.bar.close()


def compare(optimizers=None, lrs=None, *, grid=None, epochs=3, jobs=None, out=None, data=None,
            progress=True, executor="local", ray_address=None, cpus_per_run=None, gpus_per_run=None,
            ray_retries=2, on_progress=None, **base_fields):
    """Run a comparison and return ``{"records", "out", "skipped", "failed"}`` (the records and the
    manifest are written under `out`, default work/compare; ``paddle_mnist.compare`` also draws).

    With no ``optimizers``, ``lrs`` or ``grid``: the course's two experiments. ``grid`` maps any
    TrainConfig field to a list of values (e.g. ``{"batch_size": [10, 100, 5000]}``), or is a list of
    such dicts (several grids in one sweep); other keyword arguments set the fields every run
    shares (``batch_size=100``, ``seed=0``, ...). ``executor``: "local" (``jobs`` processes, default
    the number of cores) or "ray" (``ray_address`` "auto"/HOST:PORT or None for a Ray on this
    machine; ``cpus_per_run``, ``gpus_per_run``; a task whose worker died is retried
    ``ray_retries`` times, then the run is recorded as failed and listed in ``failed``).
    ``on_progress(curves)`` is called as steps come in: {run name: {"losses": its step losses so
    far, "total": its steps, "lr", "valid_acc", "done"}} (what a live figure draws).
    """
    runner = make_executor(executor, jobs=jobs, ray_address=ray_address, cpus_per_run=cpus_per_run,
                           gpus_per_run=gpus_per_run, ray_retries=ray_retries)
    known = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(base_fields) - known)
    if unknown:
        raise ConfigError(f"unknown config field(s) {', '.join(unknown)}; fields are: {', '.join(sorted(known))}")
    grids = build_grids(optimizers, lrs, grid)
    if base_fields.get("lr") is None:  # no --lr, no lrs axis: the course's lr, as the course compares
        base_fields["lr"] = COURSE_LR
    base = TrainConfig(epochs=epochs, data=data, **base_fields)
    planned, varying = plan_runs(base, grids)
    dataset = load_dataset(data)  # once here: checks it and fixes its hash for the skip test
    check_cells(planned, dataset)
    with runner, sweep_lock(out or os.path.join("work", "compare")) as out:
        todo = []
        for name, config in planned:
            run_dir = os.path.join(out, "runs", name)
            state = run_state(run_dir, config_id(config), dataset.info["sha256"])
            if state != "done":
                todo.append((replace(config, out=run_dir, resume=(state == "resume")), name))
        manifest(out, planned, varying, grids, base, dataset)
        skipped = len(planned) - len(todo)
        bar = SweepProgress(len(planned), skipped, progress, on_progress)
        try:
            failed = runner.run(todo, bar, dataset=dataset, data=data, on_steps=bar.steps)
        finally:
            bar.close()
    records = [load_record(os.path.join(out, "runs", n)) for n, _ in planned]
    return {"records": records, "out": out, "skipped": skipped, "failed": failed}
