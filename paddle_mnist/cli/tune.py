"""`paddle-mnist tune`: every optimizer tuned with the same budget, then its best lr rerun over seeds.

The library side is paddle_mnist.runners.tune (the runs) and paddle_mnist.analysis.tune (figures and
table); `paddle-mnist plot DIR` on a tune folder redraws them through ``plot_tune_folder``.
"""

import warnings
from dataclasses import asdict

from paddle_mnist.analysis import FairnessWarning
from paddle_mnist.api import tune
from paddle_mnist.cli.common import (EXIT_OK, add_config_arguments, add_executor_arguments, add_lang_argument,
                                     add_option_arguments, config_from_args, options_from_args, stop_on_sigterm)
from paddle_mnist.cli.report import print_tune_report
from paddle_mnist.runners.tune import TuneOptions

SET_BY_TUNE = ("optimizer", "lr")  # what tune chooses itself: no --optimizer / --lr flag
TUNES_OWN = ("epochs", "seed", "data")  # TrainConfig fields that are TuneOptions fields (their flags are tune's)
NOT_SHARED = SET_BY_TUNE + TUNES_OWN + ("out", "resume")


def run_tune(args):
    base = config_from_args(args)
    shared = {k: v for k, v in asdict(base).items() if k not in NOT_SHARED}
    ray = {k: getattr(args, k) for k in ("ray_address", "cpus_per_run", "gpus_per_run")
           if getattr(args, k) is not None}
    # SIGTERM (`kill`, a notebook's stop) ends it like Ctrl-C; the same command carries on later.
    stop_on_sigterm()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FairnessWarning)  # trials share their seed by construction
        result = tune(**options_from_args(args, TuneOptions), executor=args.executor, executor_options=ray,
                      plot=not args.no_plot, formats=args.format, progress=not args.quiet, lang=args.lang, **shared)
    print_tune_report(result)
    return EXIT_OK


def add_parser(subparsers):
    p = subparsers.add_parser(
        "tune", help="compare optimizers at equal tuning effort: K random lrs each, best rerun over seeds",
        description="Fair by budget: for every optimizer, K learning rates drawn log-uniformly from the "
                    "same range (fixed by --seed), each a `compare` run in OUT/trials; the expected best "
                    "final validation accuracy after k = 1..K trials (exact, over random k-subsets) per "
                    "optimizer; then each optimizer's best lr rerun with --final-seeds new seeds in "
                    "OUT/final, a table of their eval accuracy beside lr 0.01 where that run exists. "
                    "Writes OUT/tune.json, OUT/tune.md, expected_best and lr_sensitivity figures. A "
                    "diverged run counts as 10 %% accuracy. Rerunning the same command skips finished "
                    "runs. Exit codes: 0 done, 1 bad input (or runs that failed on Ray), 130 interrupted.")
    add_config_arguments(p, skip=SET_BY_TUNE + TUNES_OWN)
    add_option_arguments(p, TuneOptions)  # after: its --epochs default (3) is not TrainConfig's
    p.add_argument("--no-plot", action="store_true", help="no figures (tune.json and tune.md only)")
    p.add_argument("--format", default="png", help="figure formats, comma-separated: png, svg, pdf")
    add_lang_argument(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_executor_arguments(p, "trials")
    p.set_defaults(func=run_tune)
