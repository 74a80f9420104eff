"""`paddle-mnist plot DIR`: figures and a summary table from the run records under DIR."""

import sys
import warnings

from paddle_mnist.analysis import FairnessWarning, plot, report_lines
from paddle_mnist.analysis.report import WARNING
from paddle_mnist.analysis.tune import is_tune_folder
from paddle_mnist.cli.common import EXIT_OK
from paddle_mnist.cli.tune import plot_tune_folder


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
    p.set_defaults(func=run_plot)


def run_plot(args):
    if is_tune_folder(args.directory):  # a `paddle-mnist tune` folder: its own figures and table
        return plot_tune_folder(args)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FairnessWarning)  # printed by print_report, one line each
        result = plot(args.directory, out=args.out, formats=args.format, smooth=args.smooth)
    print_report(result)
    return EXIT_OK


def print_report(result):
    """What `plot` (and `compare`) print: the summary table, files, skipped figures; warnings on stderr."""
    for line in report_lines(result):
        if line.startswith(WARNING):
            print(f"paddle-mnist: {line}", file=sys.stderr)
        else:
            print(line)
