"""`paddle-mnist hessian` and `paddle-mnist landscape`: curvature and loss-landscape slices of a
trained run (paddle_mnist.api.hessian, hessian_sweep and landscape) from the command line."""

import os
import re

from paddle_mnist.analysis.hessian import hessian_summary, sweep_table
from paddle_mnist.analysis.style import parse_formats
from paddle_mnist.api import hessian, hessian_sweep, landscape
from paddle_mnist.cli.common import EXIT_OK, add_lang_argument, add_option_arguments, options_from_args
from paddle_mnist.core.errors import DataError
from paddle_mnist.runners.hessian import HessianOptions
from paddle_mnist.runners.landscape import LandscapeOptions
from paddle_mnist.schemas.run import RECORD_FILE


def add_parser(subparsers):
    _add_hessian(subparsers)
    _add_landscape(subparsers)


def _shared(p):
    p.add_argument("--format", default="png", help="figure formats, e.g. png,svg (default: png)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_lang_argument(p)


def _add_hessian(subparsers):
    p = subparsers.add_parser(
        "hessian", help="minimum or saddle? eigenvalues and trace of the Hessian at a trained run",
        description="Top and bottom eigenvalues of the Hessian of the training loss (Lanczos on "
        "Hessian-vector products), its trace (Hutchinson), the gradient norm, and a verdict: minimum "
        "or saddle, at a critical point or not. Writes RUN_DIR/hessian.json and hessian.png "
        "(hessian-last/-init for other --weights). Given a sweep folder (from `compare`), measures every "
        "finished run on the same images and writes SWEEP_DIR/hessian.json and sharpness.png.")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run folder (train --out) or a sweep folder (compare --out)")
    add_option_arguments(p, HessianOptions)
    _shared(p)
    p.set_defaults(func=run_hessian)


def _add_landscape(subparsers):
    p = subparsers.add_parser(
        "landscape", help="the training loss along a slice through a trained run's weights",
        description="Loss and accuracy along a random filter-normalised direction (random), on the "
        "line from the initial to the trained weights (interpolate), or on a plane of two random "
        "directions (plane). Writes RUN_DIR/landscape-KIND.json (every value) and landscape-KIND.png.")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run folder (train --out)")
    # argparse reads "-1:1:41" as an option, not a value (only "-1" and "-.5" pass as negative numbers):
    # widen its test for this sub-command (a private attribute; "--range=-1:1:41" works regardless)
    p._negative_number_matcher = re.compile(r"^-\d+$|^-\d*\.\d+$|^-[\d.]+:")
    add_option_arguments(p, LandscapeOptions)
    _shared(p)
    p.set_defaults(func=run_landscape)


def _is_run(path):
    if not os.path.isdir(path):
        raise DataError(f"{path}: no such directory")
    return os.path.isfile(os.path.join(path, RECORD_FILE))


def run_hessian(args):
    options = dict(options_from_args(args, HessianOptions), formats=parse_formats(args.format),
                   progress=not args.quiet, lang=args.lang)
    if _is_run(args.run_dir):
        result = hessian(args.run_dir, **options)
        print(hessian_summary(result))
    else:
        result = hessian_sweep(args.run_dir, **options)
        print(sweep_table(result["table"]))
    for path in result["files"]:
        print(f"wrote {path}")
    return EXIT_OK


def run_landscape(args):
    formats = parse_formats(args.format)
    if not _is_run(args.run_dir):
        raise DataError(f"{args.run_dir}: no run record ({RECORD_FILE}) here")
    r = landscape(args.run_dir, **options_from_args(args, LandscapeOptions), formats=formats,
                  progress=not args.quiet, lang=args.lang)
    losses = [v for row in (r["loss"] if r["kind"] == "plane" else [r["loss"]]) for v in row if v is not None]
    spread = f", loss {min(losses):.4g} to {max(losses):.4g}" if losses else ""
    line = (f"{r['run']}: {r['kind']} slice, {len(losses)} finite points{spread}; at the trained weights "
            f"{r['centre']['loss']:.4g} (accuracy {r['centre']['accuracy']:.1%})")
    if r["kind"] == "interpolate":
        line += f"; at the initial weights {r['init']['loss']:.4g}"
    print(line)
    for path in r["files"]:
        print(f"wrote {path}")
    return EXIT_OK
