"""`paddle-mnist` / `python -m paddle_mnist`: the command-line layer.

Each sub-command lives in its own module here (``paddle_mnist/cli/<command>.py``) with its flags, the
call into the library and its exit codes. Library modules never import this package: they return
results and statuses, and this layer turns them into output and exit codes (see ``common``).
"""

import argparse
import importlib

from paddle_mnist import __version__
from paddle_mnist.cli.common import run_command

# sub-command modules, in the order `--help` lists them
COMMAND_MODULES = [
    "paddle_mnist.cli.data",        # data build / data inspect
    "paddle_mnist.cli.optimizers",  # optimizers
    "paddle_mnist.cli.train",       # train
    "paddle_mnist.cli.compare",     # compare
    "paddle_mnist.cli.tune",        # tune
    "paddle_mnist.cli.plot",        # plot
    "paddle_mnist.cli.predict",     # predict, export
    "paddle_mnist.cli.lr_find",     # lr-find
    "paddle_mnist.cli.paths",       # paths (optimizers on 2-D surfaces)
    "paddle_mnist.cli.hessian",   # hessian, landscape
    "paddle_mnist.cli.trajectory",  # trajectory (a sweep's paths on the real loss surface)
    "paddle_mnist.cli.doctor",      # doctor
    # not yet moved into cli/ (transitional: each is removed when its command moves here)
]


def build_parser():
    parser = argparse.ArgumentParser(
        prog="paddle-mnist",
        description="Train the course's MNIST models and see what optimizers and learning rates do.",
    )
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
        if hasattr(module, "add_parser"):
            module.add_parser(sub)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    args.flags = flags_of(parser, args.command)
    return run_command(args)


def flags_of(parser, command):
    """{argument name: flag} of one sub-command ({"seed": "--seed", "batch_size": "--batch-size"}):
    how a library error naming an argument is shown to the user (cli/common.as_flags)."""
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    found, parsers = {}, [sub.choices[command]]
    for p in parsers:  # the command's flags and those of its own sub-commands (data build, ...)
        for action in p._actions:
            if action.option_strings:
                found[action.dest] = max(action.option_strings, key=len)
            elif isinstance(action, argparse._SubParsersAction):
                parsers.extend(action.choices.values())
    return found
