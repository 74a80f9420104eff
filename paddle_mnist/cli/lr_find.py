"""`paddle-mnist lr-find`: the learning-rate range test (paddle_mnist.api.lr_find) from the command line."""

import os

from paddle_mnist.api import lr_find
from paddle_mnist.cli.common import EXIT_OK, stop_on_sigterm, add_lang_argument
from paddle_mnist.core.optim import parse_overrides


def add_parser(subparsers):
    p = subparsers.add_parser(
        "lr-find",
        help="learning-rate range test: suggest a first learning rate",
        description="Raise the learning rate exponentially from --start to --end over --steps batches, "
        "stop when the loss diverges, plot loss vs learning rate into OUT/lr_find.png, and suggest "
        "the steepest descent and the minimum/10 (as fastai). The network is not changed.",
    )
    p.add_argument("--optimizer", default="sgd", help="optimizer to test (default: sgd; see `paddle-mnist optimizers`)")
    p.add_argument("--opt", action="append", default=[], metavar="KEY=VALUE",
                   help="an optimizer argument, e.g. momentum=0.5 (repeatable)")
    p.add_argument("--start", type=float, default=1e-5, help="first learning rate (default: 1e-5)")
    p.add_argument("--end", type=float, default=10.0, help="last learning rate (default: 10)")
    p.add_argument("--steps", type=int, default=200, help="batches from --start to --end (default: 200)")
    p.add_argument("--model", default="cnn", help="network: cnn, linear or mlp (default: cnn)")
    p.add_argument("--batch-size", type=int, default=100, help="images per batch (default: 100)")
    p.add_argument("--data", default=None,
                   help="course JSON(.gz) file, IDX directory, or 'synthetic' (default: as `train`)")
    p.add_argument("--seed", type=int, default=0, help="fixes the initial weights and batch order (default: 0)")
    p.add_argument("--out", default=None, help="directory for lr_find.png/.json (default: work/lr-find/OPTIMIZER)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_lang_argument(p)
    p.set_defaults(func=run_lr_find)


def run_lr_find(args):
    stop_on_sigterm()  # as train and compare: SIGTERM ends the test like Ctrl-C (exit 130, nothing half-written)
    out = args.out or os.path.join("work", "lr-find", args.optimizer)
    result = lr_find(args.optimizer, args.data, model=args.model, start=args.start, end=args.end,
                     steps=args.steps, batch_size=args.batch_size, seed=args.seed, out=out,
                     opt_args=parse_overrides(args.opt), progress=not args.quiet, lang=args.lang)
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
