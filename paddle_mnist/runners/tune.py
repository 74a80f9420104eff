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

import numpy as np

from paddle_mnist.runners.compare import compare
from paddle_mnist.core.config import SEED_MAX, TrainConfig, config_id
from paddle_mnist.core.errors import ConfigError, DataError, PaddleMnistError
from paddle_mnist.core.optim import OPTIMIZERS, check_optimizer
from paddle_mnist.schemas.run import FINISHED, find_records
from paddle_mnist.schemas.tune import CHANCE, COURSE_LR, FINAL, SCHEMA, TRIALS, write_tune

DEFAULT_OPTIMIZERS = ("sgd", "momentum", "adagrad", "adam")
DEFAULT_RANGE = (1e-5, 10.0)  # wide on purpose: no optimizer is helped by the author's prior
LR_DIGITS = 3  # trial lrs are rounded to 3 significant digits: readable run names


# ---------------------------------------------------------------------------------------------
# settings


def parse_range(text, option="--lr-range", name=""):
    """"LO:HI" -> (lo, hi), both positive and LO < HI; `name`: the optimizer it is for, if any."""
    lo_text, sep, hi_text = str(text).partition(":")
    try:
        lo, hi = float(lo_text), float(hi_text)
    except ValueError:
        sep = ""
    if not sep:
        what = f"{name}={text}" if name else repr(text)
        raise ConfigError(f"{option} expects LO:HI with two numbers (e.g. 1e-5:10), not {what}")
    return check_range(lo, hi, option, name)


def check_range(lo, hi, option="--lr-range", name=""):
    lo, hi = float(lo), float(hi)
    text = f"{name + '=' if name else ''}{lo:g}:{hi:g}"
    if not (math.isfinite(lo) and math.isfinite(hi) and lo > 0 and hi > 0):
        raise ConfigError(f"{option}: learning rates must be positive numbers, not {text}")
    if lo >= hi:
        raise ConfigError(f"{option}: {text} is inverted or empty (LO must be below HI)")
    return lo, hi


def lr_ranges(spec, optimizers, option="--lr-range"):
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
            raise ConfigError(f"{option} expects LO:HI or NAME=LO:HI,..., not {spec!r}")
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
                              f"({', '.join(optimizers)})")
        if name in own:
            raise ConfigError(f"{option}: {name} is given twice")
        own[name] = pair
    return {name: own.get(name, default) for name in optimizers}


def check_optimizers(optimizers, option="--optimizers"):
    if isinstance(optimizers, str):
        optimizers = [x.strip() for x in optimizers.split(",") if x.strip()]
    names = list(dict.fromkeys(optimizers))  # keep the order, drop repeats
    if not names:
        raise ConfigError(f"{option} needs at least one optimizer, e.g. {option} sgd,adam "
                          f"(choose from {', '.join(OPTIMIZERS)})")
    for name in names:
        check_optimizer(name, option)  # unknown, or missing from this Paddle
    return names


def check_count(value, option):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{option} must be a whole number >= 1, not {value!r}")
    return value


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


def check_tune_arguments(optimizers, budget, lr_range, final_seeds, seed, shared_fields, course_dirs):
    """Every bad argument refused before anything runs, naming its flag; returns (names, ranges)."""
    names = check_optimizers(optimizers)
    check_count(budget, "--budget")
    check_count(final_seeds, "--final-seeds")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= SEED_MAX - final_seeds:
        raise ConfigError(f"--seed must be a whole number from 0 to {SEED_MAX - final_seeds} "
                          f"(the reruns use the next --final-seeds seeds), not {seed!r}")
    for directory in course_dirs or ():
        if not os.path.isdir(directory):
            raise DataError(f"--course-runs {directory}: no such directory")
    chosen_here = sorted({"optimizer", "lr"} & set(shared_fields))
    if chosen_here:
        raise ConfigError(f"tune chooses {' and '.join(chosen_here)} itself: use --optimizers and --lr-range")
    return names, lr_ranges(lr_range, names)


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
    names, ranges = check_tune_arguments(optimizers, budget, lr_range, final_seeds, seed, shared_fields,
                                         course_dirs)
    trial_lrs = sample_lrs(ranges, budget, seed)
    out = out or os.path.join("work", "tune")
    sweep = dict(epochs=epochs, data=data, jobs=jobs, progress=progress, executor=executor,
                 **(executor_options or {}), **shared_fields)
    final_seed_list = list(range(seed + 1, seed + 1 + final_seeds))
    settings = {"optimizers": names, "budget": budget, "lr_ranges": {n: list(r) for n, r in ranges.items()},
                "epochs": epochs, "seed": seed, "final_seeds": final_seed_list, "data": data,
                "data_sha256": None, "executor": executor, "shared": shared_fields,
                "measure": f"final-epoch validation accuracy; a diverged run counts as {CHANCE:.0%}",
                "final_measure": "eval accuracy with the best checkpoint", "course_lr": COURSE_LR}

    trial_records, skipped = _sweep([{"optimizer": [n], "lr": lrs} for n, lrs in trial_lrs.items()],
                                    os.path.join(out, TRIALS), dict(sweep, seed=seed), "trial")
    settings["data_sha256"] = trial_records[0]["data"].get("sha256")
    result = {"schema": SCHEMA, "settings": settings,
              "optimizers": _trials_part(trial_lrs, trial_records), "table": []}
    write_tune(out, result)  # the trials are worth keeping on their own

    grids = [{"optimizer": [n], "lr": [e["chosen_lr"]], "seed": final_seed_list}
             for n, e in result["optimizers"].items()]
    final_records, skipped_final = _sweep(grids, os.path.join(out, FINAL), sweep, "final")
    _add_finals(result, trial_records, final_records, course_dirs)
    path = write_tune(out, result)
    return {"tune": result, "files": [path], "out": out, "skipped": skipped + skipped_final}
