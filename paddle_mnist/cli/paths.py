"""`paddle-mnist paths`: optimizer paths on 2-D surfaces (paddle_mnist.api.paths) from the command line."""

import os

from paddle_mnist.api import paths
from paddle_mnist.cli.common import EXIT_OK, add_lang_argument, add_option_arguments, options_from_args
from paddle_mnist.runners.paths import PathsOptions


def add_parser(subparsers):
    p = subparsers.add_parser(
        "paths",
        help="optimizer paths on 2-D surfaces (ravine, saddle, ...): the course's figure 3, live",
        description="Step the real Paddle optimizers on a 2-D surface and draw their paths over its contour "
        "map, with f - f* against the step; at each end point, the Hessian's eigenvalues say minimum, "
        "saddle, maximum or flat. With --lr auto every optimizer gets the same 20 learning rates "
        "(1e-4 ... 10) and keeps the one whose path scores best (--lr-rule: by default f - f* at the end "
        "plus its mean along the path, so wild paths lose; final: f at the end). Writes OUT/paths_SURFACE.json "
        "and .png (and .gif with --animate).",
    )
    add_option_arguments(p, PathsOptions)
    p.add_argument("--animate", action="store_true", help="also write a GIF of the paths growing")
    p.add_argument("--format", default="png", help="figure formats, comma-separated: png, svg, pdf")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_lang_argument(p)
    p.set_defaults(func=run_paths)


def _summary(run):
    """One line per optimizer: lr, end point, f - f*, the step it got within 1e-3, the verdict."""
    lines = [f"{run['surface']} from ({run['start'][0]:g}, {run['start'][1]:g}), {run['steps']} steps"
             + (f", noise {run['noise']:g} (seed {run['seed']})" if run["noise"] else "")]
    for e in run["optimizers"]:
        end = e["end"]
        gap = end["f"] - run["f_star"]
        reached = f"f-f*<{run['reached_threshold']:g} at step {e['reached_at']}" if e["reached_at"] is not None \
            else f"never within {run['reached_threshold']:g}"
        if e["diverged"]:
            shape = f"left the box at step {e['left_box_at']}"
        else:
            eig = ", ".join(f"{v:.3g}" for v in end["eigenvalues"])
            shape = f"{end['verdict']} (eigenvalues {eig}){'' if end['stationary'] else ', still moving'}"
        lines.append(f"  {e['name']:<9} lr {e['lr']:<9.3g} end ({end['point'][0]:+.4f}, {end['point'][1]:+.4f})  "
                     f"f-f* {gap:.3g}  {reached}  {shape}")
    return "\n".join(lines)


def run_paths(args):
    options = options_from_args(args, PathsOptions)
    options["out"] = args.out or os.path.join("work", "paths")
    result = paths(**options, animate=args.animate, formats=args.format, progress=not args.quiet, lang=args.lang)
    for run in result["runs"].values():
        print(_summary(run))
    print("files: " + ", ".join(result["files"]))
    return EXIT_OK
