"""`paddle-mnist hessian` and `paddle-mnist landscape`: curvature and loss-landscape slices of a
trained run (paddle_mnist.api.hessian, hessian_sweep and landscape) from the command line."""

import os
import re

from paddle_mnist.analysis.hessian import hessian_summary, sweep_table
from paddle_mnist.analysis.style import parse_formats
from paddle_mnist.api import hessian, hessian_sweep, landscape
from paddle_mnist.cli.common import EXIT_OK, add_lang_argument
from paddle_mnist.core.errors import DataError
from paddle_mnist.schemas.landscape import KINDS
from paddle_mnist.schemas.run import RECORD_FILE


def add_parser(subparsers):
    _add_hessian(subparsers)
    _add_landscape(subparsers)


def _common(p, what):
    p.add_argument("--images", type=int, default=None,
                   help=f"{what} on N training images, a fixed draw, the same for every run "
                        "(default: 1000, or the whole train split when it is smaller)")
    p.add_argument("--weights", default="best", choices=["best", "last", "init"],
                   help="best.pdparams (default), last.pdckpt, or the run's initial weights from its seed")
    p.add_argument("--data", default=None,
                   help="the run's data file if it moved (default: the path in the record; checked by hash)")
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
    _common(p, "measure")
    p.add_argument("--top", type=int, default=3, help="largest eigenvalues (default: 3)")
    p.add_argument("--bottom", type=int, default=3, help="smallest eigenvalues (default: 3)")
    p.add_argument("--probes", type=int, default=50, help="Hutchinson probes for the trace (default: 50; 0: no trace)")
    p.add_argument("--method", default="auto", choices=["auto", "double_backward", "finite_difference"],
                   help="Hessian-vector products (default: auto, exact double backward where Paddle can)")
    p.add_argument("--seed", type=int, default=0, help="seed of the Lanczos start vector and the probes")
    p.add_argument("--workers", type=int, default=None,
                   help="processes sharing the images for finite differences (default: one per core; "
                        "the results do not depend on it)")
    p.set_defaults(func=run_hessian)


def _add_landscape(subparsers):
    p = subparsers.add_parser(
        "landscape", help="the training loss along a slice through a trained run's weights",
        description="Loss and accuracy along a random filter-normalised direction (random), on the "
        "line from the initial to the trained weights (interpolate), or on a plane of two random "
        "directions (plane). Writes RUN_DIR/landscape-KIND.json (every value) and landscape-KIND.png.")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run folder (train --out)")
    p.add_argument("--kind", default="random", choices=KINDS,
                   help="random (default), interpolate or plane")
    # argparse reads "-1:1:41" as an option, not a value (only "-1" and "-.5" pass as negative numbers):
    # widen its test for this sub-command (a private attribute; "--range=-1:1:41" works regardless)
    p._negative_number_matcher = re.compile(r"^-\d+$|^-\d*\.\d+$|^-[\d.]+:")
    p.add_argument("--range", default=None, metavar="START:STOP:N",
                   help="the values of α (and β): random -1:1:41, interpolate -0.25:1.25:31, plane -1:1:21")
    _common(p, "evaluate")
    p.add_argument("--seed", type=int, default=0, help="seed of the random directions (default: 0)")
    p.set_defaults(func=run_landscape)


def _is_run(path):
    if not os.path.isdir(path):
        raise DataError(f"{path}: no such directory")
    return os.path.isfile(os.path.join(path, RECORD_FILE))


def run_hessian(args):
    formats = parse_formats(args.format)
    options = dict(images=args.images, top=args.top, bottom=args.bottom, probes=args.probes,
                   weights=args.weights, data=args.data, method=args.method, seed=args.seed,
                   workers=args.workers, formats=formats, progress=not args.quiet, lang=args.lang)
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
    r = landscape(args.run_dir, args.kind, span=args.range, images=args.images, seed=args.seed,
                  weights=args.weights, data=args.data, formats=formats, progress=not args.quiet, lang=args.lang)
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
