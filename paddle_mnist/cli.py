"""`paddle-mnist` / `python -m paddle_mnist`: one sub-command per job.

Each module that owns a job adds its own sub-command (``add_parser``); this file only
dispatches and turns our errors into one line on stderr and a non-zero exit.
"""

import argparse
import importlib
import sys

# sub-command modules, in the order `--help` lists them
COMMAND_MODULES = [
    "paddle_mnist.data",       # data build / data inspect
    "paddle_mnist.optim",      # optimizers
    "paddle_mnist.training",      # train
    "paddle_mnist.comparison",    # compare
    "paddle_mnist.plots",       # plot
    "paddle_mnist.inference",    # predict, export
    "paddle_mnist.lr_finder",    # lr-find
]

EXIT_ERROR = 1       # bad input: data, options, checkpoint
EXIT_USAGE = 2       # argparse's own exit code for bad flags
EXIT_DIVERGED = 3    # train: the run diverged (a result, recorded, but not a success)
EXIT_INTERRUPTED = 130


def build_parser():
    parser = argparse.ArgumentParser(
        prog="paddle-mnist",
        description="Train the course's MNIST models and see what optimizers and learning rates do.",
    )
    from paddle_mnist import __version__

    parser.add_argument("--version", action="version", version=f"paddle-mnist {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name == name:  # module not written yet
                continue
            raise
        module.add_parser(sub)
    return parser


def main(argv=None):
    try:
        from paddle_mnist.errors import PaddleMnistError
    except ImportError as e:  # paddle missing: one line, no traceback
        print(f"paddle-mnist: error: {e}", file=sys.stderr)
        return EXIT_ERROR
    parser = build_parser()
    args = parser.parse_args(argv)
    from paddle_mnist.training import keep_freed_memory

    keep_freed_memory()
    try:
        return args.func(args) or 0
    except PaddleMnistError as e:
        print(f"paddle-mnist: error: {e}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("paddle-mnist: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
