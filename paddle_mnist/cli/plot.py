"""`paddle-mnist plot DIR`: figures and a summary table from the run records under DIR."""

import warnings

from paddle_mnist.analysis import FairnessWarning
from paddle_mnist.analysis.tune import redraw
from paddle_mnist.api import plot
from paddle_mnist.cli.common import EXIT_OK, add_lang_argument, add_target_argument
from paddle_mnist.cli.report import print_report, print_tune_report
from paddle_mnist.schemas.tune import is_tune_folder


def add_parser(subparsers):
    p = subparsers.add_parser(
        "plot", help="draw loss/accuracy figures and a summary table from run records",
        description="Read every record.json under DIR (a `compare --out` sweep, one run, or any folder of "
                    "runs) and write into DIR: loss_by_optimizer, loss_by_lr, lr_sensitivity, epochs and "
                    "(with several seeds) seeds figures, plus summary.md and summary.csv. Nothing is "
                    "trained.")
    p.add_argument("directory", metavar="DIR", help="folder holding the runs' record.json files (any depth)")
    p.add_argument("--format", default="png", metavar="FMT[,FMT]",
                   help="image formats to write, comma-separated from png, svg, pdf (default: png)")
    p.add_argument("--smooth", type=int, default=None, metavar="N",
                   help="running mean over N optimizer steps for the dark loss lines "
                        "(default: about 1/30 of the run; 1 = no smoothing)")
    p.add_argument("--out", default=None, metavar="OUT", help="write figures and summary here instead of DIR")
    add_target_argument(p)
    add_lang_argument(p)
    p.set_defaults(func=run_plot)


def run_plot(args):
    if is_tune_folder(args.directory):  # a `paddle-mnist tune` folder: its own figures and table
        print_tune_report(redraw(args.directory, out=args.out, formats=args.format, lang=args.lang))
        return EXIT_OK
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FairnessWarning)  # printed by print_report, one line each
        result = plot(args.directory, out=args.out, formats=args.format, smooth=args.smooth, lang=args.lang,
                      target=args.target)
    print_report(result)
    return EXIT_OK
