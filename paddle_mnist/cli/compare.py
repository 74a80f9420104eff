"""`paddle-mnist compare` (and tools/compare.py): a grid of runs, locally or on Ray, then the plots."""

import sys
import warnings
from dataclasses import asdict

from paddle_mnist.analysis import FairnessWarning
from paddle_mnist.analysis.hessian import sweep_table
from paddle_mnist.api import compare
from paddle_mnist.cli.common import (EXIT_ERROR, EXIT_OK, add_config_arguments, add_executor_arguments,
                                     add_lang_argument, add_target_argument, config_from_args,
                                     stop_on_sigterm)
from paddle_mnist.cli.report import print_report
from paddle_mnist.core.config import AXIS_TYPES, LIST_FLAGS
from paddle_mnist.core.errors import ConfigError


def _split(text, kind, name):
    items = [x.strip() for x in text.split(",") if x.strip()]
    if not items:
        raise ConfigError(f"--{name} needs a comma-separated list, e.g. --{name} a,b")
    try:
        return [kind(x) for x in items]
    except ValueError:
        raise ConfigError(f"--{name}: {text!r} is not a comma-separated list of {kind.__name__}s") from None


def grid_from_args(args):
    """{field: [values]} from the list flags (--optimizers, --lrs, ...) and --axis FIELD=V1,V2."""
    grid = {}
    for flag, field_name in LIST_FLAGS.items():
        text = getattr(args, flag)
        if text is not None:
            grid[field_name] = _split(text, AXIS_TYPES[field_name], flag.replace("_", "-"))
    for item in args.axis:
        key, sep, values = item.partition("=")
        if not sep or key not in AXIS_TYPES:
            raise ConfigError(f"--axis expects FIELD=V1,V2 with one of: "
                              f"{', '.join(sorted(AXIS_TYPES))}; not {item!r}")
        grid[key] = _split(values, AXIS_TYPES[key], "axis " + key)
    return grid


def run_compare(args):
    base = config_from_args(args)
    grid = grid_from_args(args)
    shared = {k: v for k, v in asdict(base).items()
              if k not in grid and k not in ("epochs", "data", "out", "resume")}
    # SIGTERM (`kill`, a notebook's stop) ends the sweep like Ctrl-C: runs recorded as interrupted,
    # workers ended cleanly, exit 130; the same command resumes it.
    stop_on_sigterm()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FairnessWarning)  # print_report prints them as one line each
        result = compare(grid=grid or None, epochs=args.epochs, jobs=args.jobs, out=args.out, data=args.data,
                         plot=not args.no_plot, hessian=args.hessian, progress=not args.quiet,
                         formats=args.format, executor=args.executor, ray_address=args.ray_address,
                         cpus_per_run=args.cpus_per_run, gpus_per_run=args.gpus_per_run, lang=args.lang,
                         target=args.target, **shared)
    if result["skipped"]:
        print(f"{result['skipped']} finished run(s) skipped (already in {result['out']})")
    if result["hessian"]:  # measured before the plots: the summary table carries λmax and the verdict
        print(sweep_table(result["hessian"]["table"]))
        print("\n".join(f"wrote {path}" for path in result["hessian"]["files"]))
    if result["plot"]:
        print_report(result["plot"])
    if result["failed"]:
        failed = result["failed"]
        print(f"paddle-mnist: error: {len(failed)} of {len(result['records'])} runs failed (their Ray worker died "
              f"past the retries): {', '.join(failed)}; rerun the same command to retry them", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK


def add_parser(subparsers):
    p = subparsers.add_parser(
        "compare", help="train a grid of runs (optimizers x learning rates x ...) and plot them",
        description="Train every combination of the listed values (each a `train` run with its own "
                    "record in OUT/runs/), then draw the comparison plots and a summary table. With no "
                    "lists: the course's experiments (SGD, Momentum, AdaGrad, Adam at lr 0.01; SGD at "
                    "0.1, 0.01, 0.001). Rerunning the same command skips finished runs and resumes the "
                    "others; one compare at a time owns OUT. Exit codes: 0 done, 1 bad input (or runs "
                    "that failed on Ray), 130 interrupted (Ctrl-C, SIGTERM).")
    add_config_arguments(p)
    p.set_defaults(epochs=3)
    for flag, field_name in LIST_FLAGS.items():
        p.add_argument("--" + flag.replace("_", "-"), dest=flag, default=None, metavar="A,B,...",
                       help=f"comma-separated values of {field_name} (an axis of the grid)")
    p.add_argument("--axis", action="append", default=[], metavar="FIELD=V1,V2",
                   help="any other config field as an axis, e.g. --axis grad_clip=1,10")
    p.add_argument("--jobs", type=int, default=None,
                   help="local worker processes, >= 1, one thread each (default: the number of cores, "
                        "capped by the runs)")
    p.add_argument("--out", default=None, help="sweep directory (default: work/compare)")
    p.add_argument("--no-plot", action="store_true", help="train only; draw later with `paddle-mnist plot OUT`")
    add_target_argument(p)
    p.add_argument("--format", default="png", help="plot formats, comma-separated: png, svg, pdf")
    p.add_argument("--hessian", action="store_true",
                   help="after the sweep, measure every finished run's Hessian on the same 1,000 training images, "
                        "as `paddle-mnist hessian OUT` does (OUT/hessian.json, OUT/sharpness.png); the "
                        "summary table then has λmax and the verdict")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_lang_argument(p)
    add_executor_arguments(p, "sweeps")
    p.set_defaults(func=run_compare)
