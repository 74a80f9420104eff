"""Comparisons: a grid of training runs over optimizers, learning rates and any other config field.

What the course's optimizer chapter does by hand (edit the optimizer line, rerun, eyeball the
losses), as one command. Each cell of the grid is one ``train`` run with its own record in
``OUT/runs/NAME/``; ``OUT/manifest.json`` lists the grid. Runs with the same seed start from the
same weights and see the same batches (``train`` guarantees it), so differences come from the
optimizer and learning rate alone. Rerunning the same command skips finished runs and resumes
unfinished ones.
"""

import itertools
import multiprocessing
import os
import warnings
from dataclasses import asdict, fields, replace

from tqdm.auto import tqdm

from paddle_mnist import runtime
from paddle_mnist.errors import ConfigError
from paddle_mnist.files import write_json
from paddle_mnist.record import FINISHED, load_record

SWEEP_SCHEMA = "paddle_mnist.sweep/1"

# The course's two experiments: four optimizers at lr 0.01, and SGD at three learning rates.
COURSE_EXPERIMENTS = [
    {"optimizer": ["sgd", "momentum", "adagrad", "adam"], "lr": [0.01]},
    {"optimizer": ["sgd"], "lr": [0.1, 0.01, 0.001]},
]

# Short names used in run names, for the axes that have one.
SHORT = {"lr": "lr", "batch_size": "bs", "seed": "s", "weight_decay": "wd", "grad_clip": "clip",
         "warmup_steps": "warm", "epochs": "ep", "patience": "pat"}


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
    """Expand one or more grids, drop duplicates (same config id), and name each run."""
    from paddle_mnist.training import config_id

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


def run_state(run_dir, cid, data_sha):
    """'done' (skip), 'resume' (continue from its checkpoint) or 'new' for one run directory."""
    from paddle_mnist.training import LAST_CHECKPOINT

    try:
        record = load_record(run_dir)
    except Exception:  # no record yet, or one cut short: start it again
        return "new"
    if record.get("config_id") != cid or record.get("data", {}).get("sha256") != data_sha:
        return "new"
    if record["status"] in FINISHED:
        return "done"
    return "resume" if os.path.exists(os.path.join(run_dir, LAST_CHECKPOINT)) else "new"


def _run_one(job):
    """One cell of the grid (in a worker process or in this one)."""
    from paddle_mnist.data import load_dataset
    from paddle_mnist.training import train

    config, name, data = job
    if data is None or isinstance(data, str):
        data = load_dataset(data)
    return train(config, data=data, progress=False, name=name)


def compare(optimizers=None, lrs=None, *, grid=None, epochs=3, jobs=None, out=None, data=None,
            plot=True, progress=True, formats=("png",), show=False, **base_fields):
    """Run a comparison and return ``{"records": [...], "plot": ...}`` (also written under `out`).

    With no ``optimizers``, ``lrs`` or ``grid``: the course's two experiments. ``grid`` maps any
    TrainConfig field to a list of values (e.g. ``{"batch_size": [10, 100, 5000]}``); other keyword
    arguments set the fields every run shares (``batch_size=100``, ``seed=0``, ...).
    """
    from paddle_mnist.data import load_dataset
    from paddle_mnist.training import TrainConfig, config_id

    known = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(base_fields) - known | set(grid or {}) - known)
    if unknown:
        raise ConfigError(f"unknown config field(s) {', '.join(unknown)}; fields are: {', '.join(sorted(known))}")
    base = TrainConfig(epochs=epochs, data=data, **base_fields)
    axes = dict(grid or {})
    if optimizers:
        axes["optimizer"] = list(optimizers)
    if lrs:
        axes["lr"] = [float(x) for x in lrs]
    if not axes:
        grids = COURSE_EXPERIMENTS
    else:
        grids = [axes]
    for g in grids:
        for name, values in g.items():
            if not values:
                raise ConfigError(f"axis {name!r} has no values")
    planned, varying = plan_runs(base, grids)

    out = out or os.path.join("work", "compare")
    dataset = load_dataset(data)  # once here: checks it and fixes its hash for the skip test
    sha = dataset.info["sha256"]
    jobs_list, states = [], {}
    for name, config in planned:
        run_dir = os.path.join(out, "runs", name)
        state = run_state(run_dir, config_id(config), sha)
        states[name] = state
        config = replace(config, out=run_dir, resume=(state == "resume"), data=data)
        jobs_list.append((config, name))
    write_json(os.path.join(out, "manifest.json"), {
        "schema": SWEEP_SCHEMA,
        "axes": {n: sorted({getattr(c, n) for _, c in planned}, key=str) for n in varying},
        "grids": grids,
        "base": asdict(base),
        "data": dataset.info,
        "runs": [{"name": n, "config_id": config_id(c), "dir": os.path.join("runs", n)} for n, c in planned],
    })

    todo = [(c, n) for c, n in jobs_list if states[n] != "done"]
    skipped = len(jobs_list) - len(todo)
    jobs = min(jobs or os.cpu_count() or 1, max(1, len(todo)))
    bar = tqdm(total=len(jobs_list), initial=skipped, desc="compare", unit="run", disable=not progress)
    best = [None]

    def finished(record):
        if record["status"] == "interrupted":  # Ctrl-C stops the whole sweep, not just this run
            raise KeyboardInterrupt
        bar.update(1)
        acc = (record.get("eval") or {}).get("acc")
        if acc is not None and (best[0] is None or acc > best[0][0]):
            best[0] = (acc, record["name"])
        if best[0]:
            bar.set_postfix_str(f"best {best[0][1]} eval {best[0][0]:.1%}")

    try:
        if jobs == 1:
            for config, name in todo:
                finished(_run_one((config, name, dataset)))
        elif todo:
            # Fresh processes (spawn), each pinned to one thread: OMP_NUM_THREADS must be set
            # before paddle is imported there, so it is set here and inherited.
            ctx = multiprocessing.get_context("spawn")
            saved = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
            os.environ.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
            try:
                with ctx.Pool(jobs, initializer=runtime.sweep_worker_start) as pool:
                    args = [(replace(c, threads=1), n, data) for c, n in todo]
                    for record in pool.imap_unordered(_run_one, args):
                        finished(record)
                    pool.close()  # let the workers exit by themselves (terminate() makes Paddle
                    pool.join()   # print a "Termination signal" report for each of them)
            finally:
                for k, v in saved.items():
                    if v is None:
                        os.environ.pop(k, None)
                    else:
                        os.environ[k] = v
    finally:
        bar.close()

    records = [load_record(os.path.join(out, "runs", n)) for n, _ in planned]
    result = {"records": records, "out": out, "skipped": skipped, "plot": None}
    if plot:
        from paddle_mnist.plots import plot as draw

        result["plot"] = draw(records, out=out, formats=formats, show=show)
    return result


# ---------------------------------------------------------------------------------------------
# command line


def _split(text, kind, name):
    items = [x.strip() for x in text.split(",") if x.strip()]
    if not items:
        raise ConfigError(f"--{name} needs a comma-separated list, e.g. --{name} a,b")
    try:
        return [kind(x) for x in items]
    except ValueError:
        raise ConfigError(f"--{name}: {text!r} is not a comma-separated list of {kind.__name__}s") from None


LIST_FLAGS = {  # flag -> (config field, type)
    "optimizers": ("optimizer", str),
    "lrs": ("lr", float),
    "seeds": ("seed", int),
    "batch_sizes": ("batch_size", int),
    "schedules": ("schedule", str),
    "losses": ("loss", str),
    "models": ("model", str),
    "weight_decays": ("weight_decay", float),
}


# Config fields that can be an axis, with the type of their values.
AXIS_TYPES = {
    "model": str, "optimizer": str, "lr": float, "epochs": int, "batch_size": int, "seed": int,
    "schedule": str, "warmup_steps": int, "loss": str, "weight_decay": float, "grad_clip": float,
    "patience": int,
}


def run_compare(args):
    from paddle_mnist.plots import FairnessWarning, print_report
    from paddle_mnist.training import config_from_args

    base = config_from_args(args)
    grid = {}
    for flag, (field_name, kind) in LIST_FLAGS.items():
        text = getattr(args, flag)
        if text is not None:
            grid[field_name] = _split(text, kind, flag.replace("_", "-"))
    for item in args.axis:
        key, sep, values = item.partition("=")
        if not sep or key not in AXIS_TYPES:
            raise ConfigError(f"--axis expects FIELD=V1,V2 with one of: "
                              f"{', '.join(sorted(AXIS_TYPES))}; not {item!r}")
        grid[key] = _split(values, AXIS_TYPES[key], "axis " + key)
    shared = {k: v for k, v in asdict(base).items()
              if k not in grid and k not in ("epochs", "data", "out", "resume")}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FairnessWarning)  # print_report prints them as one line each
        result = compare(grid=grid or None, epochs=args.epochs, jobs=args.jobs, out=args.out,
                         data=args.data, plot=not args.no_plot, progress=not args.quiet,
                         formats=tuple(args.format.split(",")), **shared)
    if result["skipped"]:
        print(f"{result['skipped']} finished run(s) skipped (already in {result['out']})")
    if result["plot"]:
        print_report(result["plot"])
    return 0


def add_parser(subparsers):
    from paddle_mnist.training import add_train_arguments

    p = subparsers.add_parser(
        "compare", help="train a grid of runs (optimizers x learning rates x ...) and plot them",
        description="Train every combination of the listed values (each a `train` run with its own "
                    "record in OUT/runs/), then draw the comparison plots and a summary table. With no "
                    "lists: the course's experiments (SGD, Momentum, AdaGrad, Adam at lr 0.01; SGD at "
                    "0.1, 0.01, 0.001). Rerunning the same command skips finished runs.")
    add_train_arguments(p)
    p.set_defaults(epochs=3)
    for flag, (field_name, kind) in LIST_FLAGS.items():
        p.add_argument("--" + flag.replace("_", "-"), default=None, metavar="A,B,...",
                       help=f"comma-separated values of {field_name} (an axis of the grid)")
    p.add_argument("--axis", action="append", default=[], metavar="FIELD=V1,V2",
                   help="any other config field as an axis, e.g. --axis grad_clip=1,10")
    p.add_argument("--jobs", type=int, default=None,
                   help="worker processes, one thread each (default: the number of cores, capped by the runs)")
    p.add_argument("--out", default=None, help="sweep directory (default: work/compare)")
    p.add_argument("--no-plot", action="store_true", help="train only; draw later with `paddle-mnist plot OUT`")
    p.add_argument("--format", default="png", help="plot formats, comma-separated: png, svg, pdf")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run_compare)
