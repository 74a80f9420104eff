"""`paddle-mnist paths`: optimizer paths on 2-D surfaces (paddle_mnist.api.paths) from the command line."""

import os

from paddle_mnist.api import paths
from paddle_mnist.cli.common import EXIT_OK, add_lang_argument
from paddle_mnist.core.errors import ConfigError
from paddle_mnist.core.optim import parse_overrides
from paddle_mnist.core.surfaces import SURFACES
from paddle_mnist.runners.paths import DEFAULT_OPTIMIZERS, LR_RULES


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
    p.add_argument("--surface", default="ravine",
                   help=f"{', '.join(SURFACES)}, or all (default: ravine)")
    p.add_argument("--optimizers", default=",".join(DEFAULT_OPTIMIZERS),
                   help=f"comma-separated (default: {','.join(DEFAULT_OPTIMIZERS)}; see `paddle-mnist optimizers`)")
    p.add_argument("--steps", default=None,
                   help="optimizer steps (default: the surface's own, 100; rosenbrock 500, beale 200)")
    p.add_argument("--start", default=None, metavar="X,Y",
                   help="start point (default: the surface's own; write --start=-1,2 when X is negative)")
    p.add_argument("--lr", default="auto",
                   help="one learning rate for every optimizer, or auto: each its best of the same grid (default)")
    p.add_argument("--opt", action="append", default=[], metavar="KEY=VALUE",
                   help="an optimizer argument, e.g. momentum=0.5, given to every chosen optimizer that has it "
                        "(repeatable)")
    p.add_argument("--noise", default="0", metavar="SIGMA",
                   help="Gaussian noise of this std added to each gradient component, as mini-batches do "
                        "(default: 0)")
    p.add_argument("--seed", default="0", help="fixes the noise (default: 0)")
    p.add_argument("--animate", action="store_true", help="also write a GIF of the paths growing")
    p.add_argument("--out", default=None, help="output directory (default: work/paths)")
    p.add_argument("--format", default="png", help="figure formats, comma-separated: png, svg, pdf")
    p.add_argument("--lr-rule", default="path", choices=LR_RULES,
                   help="how --lr auto scores a learning rate: path (default): f - f* at the end plus its mean along "
                        "the path, so a path that swings wildly loses; final: f at the end alone (the older rule, "
                        "which picks lrs at the edge of stability)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_lang_argument(p)
    p.set_defaults(func=run_paths)


def _whole(flag, text):
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"{flag} must be a whole number, got {text!r}") from None


def _number(flag, text):
    try:
        return float(text)
    except ValueError:
        raise ConfigError(f"{flag} must be a number, got {text!r}") from None


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
    steps = None if args.steps is None else _whole("--steps", args.steps)
    result = paths(args.surface, args.optimizers, steps=steps, start=args.start, lr=args.lr,
                   opt=parse_overrides(args.opt), noise=_number("--noise", args.noise),
                   seed=_whole("--seed", args.seed), animate=args.animate,
                   out=args.out or os.path.join("work", "paths"), formats=args.format, progress=not args.quiet,
                   lr_rule=args.lr_rule, lang=args.lang)
    for run in result["runs"].values():
        print(_summary(run))
    print("files: " + ", ".join(result["files"]))
    return EXIT_OK
