"""Fair by budget: every optimizer gets the same tuning effort (``paddle-mnist tune``).

"Adam beats SGD" at lr 0.01 mostly says which optimizer 0.01 suits. Here every optimizer gets K
learning rates drawn log-uniformly from the same range (as DeepOBS does), each trial an ordinary run
of the sweep machinery (``compare``: same initial weights and batches, records, resume, divergence as
a result). From the K final validation accuracies comes the *expected best after k trials*
(Sivaprasad et al., ICML 2020): what a learner who can afford k runs should expect. Then, the
DeepOBS step, the best lr of each optimizer is rerun with S fresh seeds, so the table reports the
setting and not the lucky draw that won the tuning.

Layout of OUT: ``trials/`` (the sweep of all trials), ``final/`` (the seed reruns), ``tune.json``
(``schemas.tune``); ``paddle_mnist.tune`` then draws the figures and ``tune.md`` from it.
"""

import math
import os
from dataclasses import dataclass
from functools import partial
from typing import Optional, Union

import numpy as np

from paddle_mnist.runners.compare import compare
from paddle_mnist.core import checks
from paddle_mnist.core.config import COURSE_LR, COURSE_OPTIMIZERS, SEED_MAX, TrainConfig, config_id
from paddle_mnist.core.errors import ConfigError, PaddleMnistError
from paddle_mnist.core.optim import check_optimizer, check_optimizers
from paddle_mnist.core.options import Options, option
from paddle_mnist.schemas.run import FINISHED, find_records
from paddle_mnist.schemas.tune import CHANCE, FINAL, SCHEMA, TRIALS, write_tune

DEFAULT_OPTIMIZERS = COURSE_OPTIMIZERS
DEFAULT_RANGE = (1e-5, 10.0)  # wide on purpose: no optimizer is helped by the author's prior
LR_DIGITS = 3  # trial lrs are rounded to 3 significant digits: readable run names


# ---------------------------------------------------------------------------------------------
# settings


def parse_range(text, option="lr_range", name=""):
    """"LO:HI" -> (lo, hi), both positive and LO < HI; `name`: the optimizer it is for, if any."""
    lo_text, sep, hi_text = str(text).partition(":")
    try:
        lo, hi = float(lo_text), float(hi_text)
    except ValueError:
        sep = ""
    if not sep:
        what = f"{name}={text}" if name else repr(text)
        raise ConfigError(f"{option} expects LO:HI with two numbers (e.g. 1e-5:10), not {what}", option=option)
    return check_range(lo, hi, option, name)


def check_range(lo, hi, option="lr_range", name=""):
    lo, hi = float(lo), float(hi)
    text = f"{name + '=' if name else ''}{lo:g}:{hi:g}"
    if not (math.isfinite(lo) and math.isfinite(hi) and lo > 0 and hi > 0):
        raise ConfigError(f"{option}: learning rates must be positive numbers, not {text}", option=option)
    if lo >= hi:
        raise ConfigError(f"{option}: {text} is inverted or empty (LO must be below HI)", option=option)
    return lo, hi


def lr_ranges(spec, optimizers, option="lr_range"):
    """{optimizer: (lo, hi)} from None, "LO:HI", (lo, hi), "adam=LO:HI,..." or {"adam": "LO:HI"}.

    An entry without a name sets the range of every optimizer not named; the default range is the
    same for all, so only an explicit choice gives one optimizer a range of its own.
    """
    if spec is None:
        items = []
    elif isinstance(spec, str):
        items = [x.strip().partition("=")[::2] if "=" in x else ("", x.strip())
                 for x in spec.split(",") if x.strip()]
        if not items:
            raise ConfigError(f"{option} expects LO:HI or NAME=LO:HI,..., not {spec!r}", option=option)
    elif isinstance(spec, dict):
        items = list(spec.items())
    else:
        items = [("", spec)]
    default, own = DEFAULT_RANGE, {}
    for name, value in items:
        pair = parse_range(value, option, name) if isinstance(value, str) else check_range(*value, option, name)
        if not name:
            default = pair
            continue
        check_optimizer(name, option)
        if name not in optimizers:
            raise ConfigError(f"{option}: {name} is not one of the optimizers being tuned "
                              f"({', '.join(optimizers)})", option=option)
        if name in own:
            raise ConfigError(f"{option}: {name} is given twice", option=option)
        own[name] = pair
    return {name: own.get(name, default) for name in optimizers}


def _directories(name, folders):
    for folder in folders:
        if not os.path.isdir(folder):
            raise ConfigError(f"{name} {folder}: no such directory", option=name)
    return tuple(folders)


@dataclass(frozen=True)
class TuneOptions(Options):
    """Tune's own options (the TrainConfig fields every run shares come beside them); those marked
    echo go into tune.json's settings as they are."""

    optimizers: Union[str, tuple] = option(DEFAULT_OPTIMIZERS, f"optimizers to tune (default: "
                                           f"{','.join(DEFAULT_OPTIMIZERS)})", metavar="A,B,...",
                                           check=check_optimizers, echo=True)
    budget: int = option(8, "learning rates tried per optimizer (default: 8)", metavar="K",
                         check=partial(checks.whole, low=1), echo=True)
    lr_range: Optional[str] = option(None, "log-uniform range of the trial lrs (default: 1e-5:10 for every "
                                     "optimizer); per optimizer e.g. adam=1e-5:1e-1,sgd=1e-3:10",
                                     metavar="LO:HI | NAME=LO:HI,...")  # checked with the optimizers
    epochs: int = option(3, "passes over the training split in every run (default: 3)",
                         check=partial(checks.whole, low=1), echo=True)
    final_seeds: int = option(3, "seeds the best lr of each optimizer is rerun with: --seed+1 ... --seed+S "
                              "(default: 3)", metavar="S", check=partial(checks.whole, low=1))
    seed: int = option(0, "seed of the trials (their lrs, weights and batches; default: 0)", echo=True)
    data: Optional[str] = option(None, "course JSON(.gz) file, IDX directory, or 'synthetic' (default: "
                                 "work/mnist.json.gz, then Paddle's cache)", echo=True)
    course_dirs: tuple = option((), "also look here for runs at the course's lr 0.01 to put beside the tuned "
                                "ones (e.g. a `compare` folder; repeatable)", flag="--course-runs", metavar="DIR",
                                repeat=True, check=_directories)
    jobs: Optional[int] = option(None, "local worker processes, one thread each (default: the number of cores)")
    out: Optional[str] = option(None, "tune directory (default: work/tune)")
    executor: str = option("local", "where runs train (flags shared with compare)", flag=False, echo=True)
    executor_options: dict = option({}, "ray_address, cpus_per_run, ... as compare takes them (None: none)",
                                    flag=False, check=checks.mapping)

    def check_together(self):
        try:  # seed 0 ... SEED_MAX, and so must be the reruns' seed+1 ... seed+final_seeds
            checks.seed("seed", self.seed, high=SEED_MAX - self.final_seeds)
        except ConfigError as e:
            raise ConfigError(f"{e} (the reruns use the next final_seeds seeds)", option="seed") from None
        lr_ranges(self.lr_range, self.optimizers)


def sample_lrs(ranges, budget, seed):
    """K distinct learning rates per optimizer, log-uniform in its range, fixed by `seed`.

    Every optimizer uses the same uniform draws (mapped onto its own range), so with one shared range
    all optimizers try the very same learning rates; a larger budget with the same seed keeps the
    earlier draws (their runs are reused). Sorted ascending.
    """
    result = {}
    for name, (lo, hi) in ranges.items():
        rng = np.random.default_rng(seed)
        lrs = []
        for _ in range(1000 * budget):
            lr = math.exp(math.log(lo) + rng.random() * (math.log(hi) - math.log(lo)))
            lr = min(max(float(f"{lr:.{LR_DIGITS}g}"), lo), hi)  # rounding may step past a bound
            if lr not in lrs:
                lrs.append(lr)
            if len(lrs) == budget:
                break
        else:
            raise ConfigError(f"--budget {budget}: the range {lo:g}:{hi:g} of {name} holds fewer distinct "
                              f"learning rates of {LR_DIGITS} significant digits; widen --lr-range")
        result[name] = sorted(lrs)
    return result


# ---------------------------------------------------------------------------------------------
# the expected best after k trials


def expected_best(values, k):
    """(mean, std) of the best of k trials drawn at random, without replacement, from `values`.

    Exact, by order statistics: sorted ascending, the i-th value (1-based) is the best of a random
    k-subset with probability C(i-1, k-1) / C(K, k): the other k-1 members come from the i-1 below it.
    Ties need nothing special, since each position is one trial.
    """
    v = np.sort(np.asarray(values, dtype=float))
    n = len(v)
    if not 1 <= k <= n:
        raise ValueError(f"k must be between 1 and {n}, not {k}")
    total = math.comb(n, k)
    weights = np.array([math.comb(i - 1, k - 1) / total for i in range(1, n + 1)])
    mean = float(weights @ v)
    var = float(weights @ (v - mean) ** 2)
    return mean, math.sqrt(max(var, 0.0))


def expected_best_curve(values):
    """[{"k", "mean", "std"}] for k = 1 ... K."""
    return [dict(zip(("k", "mean", "std"), (k, *expected_best(values, k)))) for k in range(1, len(values) + 1)]


# ---------------------------------------------------------------------------------------------
# reading the runs


def trial_measure(record):
    """(final validation accuracy, diverged?); a diverged run counts as chance accuracy."""
    epochs = record.get("epochs") or []
    acc = epochs[-1].get("valid_acc") if epochs else None
    if record.get("status") == "diverged" or record.get("divergence") or acc is None:
        return CHANCE, True
    return float(acc), False


def final_measure(record):
    """(eval accuracy with the best checkpoint, diverged?); a diverged run counts as chance."""
    acc = (record.get("eval") or {}).get("acc")
    if record.get("status") == "diverged" or record.get("divergence") or acc is None:
        return CHANCE, True
    return float(acc), False


def choose_lr(trials):
    """The lr with the best final valid accuracy; ties go to a run that did not diverge, then the lower lr."""
    best = max(trials, key=lambda t: (t["valid_acc"], t["status"] != "diverged", -t["lr"]))
    return best["lr"]


def _by_optimizer(records):
    groups = {}
    for r in records:
        groups.setdefault(r["config"]["optimizer"], []).append(r)
    return groups


def _run_path(folder, record):
    return os.path.join(folder, "runs", record["name"])


def _mean_std(values):
    return (float(np.mean(values)), float(np.std(values))) if values else (None, None)


def course_runs(records, reference, optimizer):
    """The finished runs of `optimizer` at the course's lr 0.01 set up like `reference` (any seed)."""
    want = dict(reference["config"], optimizer=optimizer, lr=COURSE_LR)
    found = {}
    for r in records:
        try:
            same = config_id(TrainConfig(**dict(want, seed=r["config"].get("seed")))) == r.get("config_id")
        except TypeError:  # a record from another version of the config
            same = False
        if same and r["status"] in FINISHED and r["data"].get("sha256") == reference["data"].get("sha256"):
            found.setdefault(r["config"]["seed"], r)  # one per seed, wherever it was found
    return [found[s] for s in sorted(found)]


def table_rows(optimizers, final_records, course):
    """One row per optimizer: its tuned lr, mean ± std eval accuracy over the seeds, and at lr 0.01."""
    rows = []
    for name, entry in optimizers.items():
        finals = [final_measure(r) for r in final_records.get(name, [])]
        mean, std = _mean_std([acc for acc, _ in finals])
        row = {"optimizer": name, "chosen_lr": entry["chosen_lr"], "runs": len(finals),
               "mean": mean, "std": std, "diverged": sum(d for _, d in finals), "course": None}
        at_course = [final_measure(r) for r in course.get(name, [])]
        if at_course:
            c_mean, c_std = _mean_std([acc for acc, _ in at_course])
            row["course"] = {"lr": COURSE_LR, "runs": len(at_course), "mean": c_mean, "std": c_std,
                             "seeds": [r["config"]["seed"] for r in course[name]],
                             "diverged": sum(d for _, d in at_course)}
        rows.append(row)
    return rows


# ---------------------------------------------------------------------------------------------
# the tuning run


def _sweep(grids, out, sweep, what):
    """One `compare` over a list of grids (one per optimizer), into `out`: (records, runs skipped)."""
    result = compare(grid=grids, out=out, **sweep)
    if result["failed"]:  # Ray runs whose worker died past the retries: no result to tune on
        raise PaddleMnistError(f"{len(result['failed'])} of {len(result['records'])} {what} runs failed "
                               f"(their Ray worker died past the retries): {', '.join(result['failed'])}; "
                               f"rerun the same command to retry them")
    return result["records"], result["skipped"]


def _trials_part(trial_lrs, records):
    """{name: {"trials", "expected_best", "chosen_lr", "final": []}} from the trial records."""
    by_lr = {(r["config"]["optimizer"], r["config"]["lr"]): r for r in records}
    optimizers = {}
    for name, lrs in trial_lrs.items():
        trials = []
        for lr in lrs:
            record = by_lr[(name, lr)]
            acc, _ = trial_measure(record)
            trials.append({"lr": lr, "status": record["status"], "valid_acc": acc,
                           "run": _run_path(TRIALS, record)})
        optimizers[name] = {"trials": trials,
                            "expected_best": expected_best_curve([t["valid_acc"] for t in trials]),
                            "chosen_lr": choose_lr(trials), "final": []}
    return optimizers


def _add_finals(result, trial_records, final_records, course_dirs):
    """Fill each optimizer's "final" list and the table (with the course's lr 0.01 where it was run)."""
    finals = _by_optimizer(final_records)
    for name, entry in result["optimizers"].items():
        entry["final"] = [{"seed": r["config"]["seed"], "eval_acc": final_measure(r)[0],
                           "run": _run_path(FINAL, r)} for r in finals.get(name, [])]
    looked_in = trial_records + final_records
    for directory in course_dirs or ():
        looked_in += find_records(directory)
    course = {n: course_runs(looked_in, trial_records[0], n) for n in result["optimizers"]}
    result["table"] = table_rows(result["optimizers"], finals, course)


def tune(optimizers=DEFAULT_OPTIMIZERS, *, budget=8, lr_range=None, epochs=3, final_seeds=3, seed=0,
         data=None, out=None, jobs=None, executor="local", executor_options=None, course_dirs=(),
         progress=True, **shared_fields):
    """Tune every optimizer with the same budget, rerun each one's best lr over seeds; return it all.

    ``lr_range``: "LO:HI" (default 1e-5:10) or per optimizer "adam=LO:HI,...". Trials train with
    ``seed``; the final reruns with seeds seed+1 ... seed+final_seeds (fresh ones: the tuning seed won
    the selection, so it would flatter). ``executor_options``: ray_address, cpus_per_run, ... as
    ``compare`` takes them. ``course_dirs``: more folders to look for runs at lr 0.01 in (e.g. a
    `compare` of the course's experiments); the trials and reruns are always looked in. Other
    keywords are TrainConfig fields every run shares (``batch_size=100``, ``model="mlp"``, ...).

    Returns ``{"tune": the content of OUT/tune.json, "files": [its path], "out": OUT, "skipped":
    finished runs not run again}``; ``paddle_mnist.tune`` also draws.
    """
    o = TuneOptions(optimizers=optimizers, budget=budget, lr_range=lr_range, epochs=epochs, final_seeds=final_seeds,
                    seed=seed, data=data, course_dirs=course_dirs, jobs=jobs, out=out, executor=executor,
                    executor_options=executor_options)
    chosen_here = sorted({"optimizer", "lr"} & set(shared_fields))
    if chosen_here:
        raise ConfigError(f"tune chooses {' and '.join(chosen_here)} itself: use --optimizers and --lr-range")
    ranges = lr_ranges(o.lr_range, o.optimizers)
    trial_lrs = sample_lrs(ranges, o.budget, o.seed)
    out = o.out or os.path.join("work", "tune")
    sweep = dict(epochs=o.epochs, data=o.data, jobs=o.jobs, progress=progress, executor=o.executor,
                 **o.executor_options, **shared_fields)
    final_seed_list = list(range(o.seed + 1, o.seed + 1 + o.final_seeds))
    settings = {**o.echo(), "lr_ranges": {n: list(r) for n, r in ranges.items()}, "final_seeds": final_seed_list,
                "data_sha256": None, "shared": shared_fields,
                "measure": f"final-epoch validation accuracy; a diverged run counts as {CHANCE:.0%}",
                "final_measure": "eval accuracy with the best checkpoint", "course_lr": COURSE_LR}

    trial_records, skipped = _sweep([{"optimizer": [n], "lr": lrs} for n, lrs in trial_lrs.items()],
                                    os.path.join(out, TRIALS), dict(sweep, seed=o.seed), "trial")
    settings["data_sha256"] = trial_records[0]["data"].get("sha256")
    result = {"schema": SCHEMA, "settings": settings,
              "optimizers": _trials_part(trial_lrs, trial_records), "table": []}
    write_tune(out, result)  # the trials are worth keeping on their own

    grids = [{"optimizer": [n], "lr": [e["chosen_lr"]], "seed": final_seed_list}
             for n, e in result["optimizers"].items()]
    final_records, skipped_final = _sweep(grids, os.path.join(out, FINAL), sweep, "final")
    _add_finals(result, trial_records, final_records, o.course_dirs)
    path = write_tune(out, result)
    return {"tune": result, "files": [path], "out": out, "skipped": skipped + skipped_final}
