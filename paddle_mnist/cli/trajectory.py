"""`paddle-mnist trajectory`: the runs of a sweep (trained with --trajectory) walking one plane of
the real loss surface (paddle_mnist.api.trajectory) from the command line."""

import re

from paddle_mnist.api import trajectory
from paddle_mnist.cli.common import EXIT_OK, add_lang_argument


def add_parser(subparsers):
    p = subparsers.add_parser(
        "trajectory", help="the paths of a sweep's optimizers on one plane of the real loss surface",
        description="Projects the weights that runs trained with --trajectory EVERY saved onto one plane "
        "through their shared initial weights (pca: the top two principal directions of all saved "
        "weights; ends:RUN_A,RUN_B: the plane through the start and the two runs' ends), measures the "
        "training loss on a grid over it, and draws the paths on it. Writes trajectory.json and "
        "trajectory.png in SWEEP_DIR (or the run folder), and with --animate trajectory.gif.")
    p.add_argument("path", metavar="SWEEP_DIR", help="a sweep folder (compare --out) or one run folder (train --out)")
    p.add_argument("--runs", nargs="+", default=None, metavar="NAME",
                   help="only these runs of the sweep (default: all; they must share their initial weights)")
    p.add_argument("--plane", default="pca", metavar="pca|ends:RUN_A,RUN_B",
                   help="pca (default) or ends:RUN_A,RUN_B, the plane through the start and those runs' ends")
    # argparse reads "-1:1:21" as an option, not a value: widen its test ("--range=-1:1:21" works regardless)
    p._negative_number_matcher = re.compile(r"^-\d+$|^-\d*\.\d+$|^-[\d.]+:")
    p.add_argument("--range", default=None, metavar="START:STOP:N[,START:STOP:N]",
                   help="the grid's values along the first axis (and the second, after a comma); default: "
                        "the paths' extent plus a quarter of it on every side, --grid points each way")
    p.add_argument("--grid", type=int, default=21, help="grid points along each axis without --range (default: 21)")
    p.add_argument("--images", type=int, default=1000,
                   help="measure on N training images, a fixed draw, the same for every run (default: 1000)")
    p.add_argument("--data", default=None,
                   help="the runs' data file if it moved (default: the path in the records; checked by hash)")
    p.add_argument("--animate", action="store_true", help="also write trajectory.gif: the paths advancing together")
    p.add_argument("--format", default="png", help="figure formats, e.g. png,svg (default: png)")
    add_lang_argument(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run_trajectory)


def run_trajectory(args):
    r = trajectory(args.path, runs=args.runs, plane=args.plane, span=args.range, grid=args.grid,
                   images=args.images, data=args.data, animate=args.animate, formats=args.format,
                   progress=not args.quiet, lang=args.lang)
    if r["plane"] == "pca":
        print(f"PCA plane: the two directions explain {r['explained_variance'][0]:.1%} and "
              f"{r['explained_variance'][1]:.1%} of the saved weights' squared distance from the start")
    print(f"start: loss {r['origin']['loss']:.4g} (accuracy {r['origin']['accuracy']:.1%}) on {r['images']} images")
    for run in r["runs"]:
        print(f"{run['name']}: {len(run['points'])} points, end loss {run['own_loss'][-1]:.4g} "
              f"(on the plane {run['plane_loss'][-1]:.4g}), at most {max(run['off_plane']):.3g} off the plane")
    for path in r["files"]:
        print(f"wrote {path}")
    return EXIT_OK
