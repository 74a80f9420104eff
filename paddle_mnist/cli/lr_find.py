"""`paddle-mnist lr-find`: the learning-rate range test (paddle_mnist.api.lr_find) from the command line."""

import os

from paddle_mnist.api import lr_find
from paddle_mnist.cli.common import EXIT_OK, add_lang_argument, add_option_arguments, options_from_args, stop_on_sigterm
from paddle_mnist.runners.lr_find import LrFindOptions


def add_parser(subparsers):
    p = subparsers.add_parser(
        "lr-find",
        help="learning-rate range test: suggest a first learning rate",
        description="Raise the learning rate exponentially from --start to --end over --steps batches, "
        "stop when the loss diverges, plot loss vs learning rate into OUT/lr_find.png, and suggest "
        "the steepest descent and the minimum/10 (as fastai). The network is not changed.",
    )
    add_option_arguments(p, LrFindOptions)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_lang_argument(p)
    p.set_defaults(func=run_lr_find)


def run_lr_find(args):
    stop_on_sigterm()  # as train and compare: SIGTERM ends the test like Ctrl-C (exit 130, nothing half-written)
    options = options_from_args(args, LrFindOptions)
    options["out"] = args.out or os.path.join("work", "lr-find", args.optimizer)
    result = lr_find(**options, progress=not args.quiet, lang=args.lang)
    s = result["suggestions"]
    n = len(result["lrs"])
    if result["stopped"]:
        print(f"stopped after {n} steps at lr {result['stopped']['lr']:.3g}: {result['stopped']['reason']}")
    else:
        print(f"ran all {n} steps up to lr {result['lrs'][-1]:.3g} without diverging")
    if s["steepest"] is not None:
        print(f"suggested lr (steepest descent): {s['steepest']:.3g}")
    if s["minimum_div10"] is not None:
        print(f"suggested lr (minimum / 10):     {s['minimum_div10']:.3g}")
    if s.get("reason"):
        print(("no suggestion: " if s["steepest"] is None else "") + s["reason"])
    print(f"plot: {result['files']['png']}")
    print(f"data: {result['files']['json']}")
    return EXIT_OK
