"""What every sub-command shares: exit codes, and one line on stderr instead of a traceback."""

import signal
import sys
from dataclasses import fields

from paddle_mnist.analysis.lang import ENV as LANG_ENV, FONT_EXTRA, LANGS
from paddle_mnist.core.config import TrainConfig, flag_of, value_type
from paddle_mnist.analysis.target import DEFAULT_TARGET, METRICS
from paddle_mnist.core.errors import PaddleMnistError
from paddle_mnist.core.options import has_flag
from paddle_mnist.runners.executors import EXECUTORS, RAY_INSTALL
from paddle_mnist.core.runtime import keep_freed_memory

EXIT_OK = 0
EXIT_ERROR = 1       # bad input: data, options, checkpoint, an unwritable path
EXIT_USAGE = 2       # argparse's own exit code for bad flags
EXIT_DIVERGED = 3    # train: the run diverged (a result, recorded, but not a success)
EXIT_INTERRUPTED = 130

# what `train` returns -> the exit code of the command
STATUS_EXIT = {"diverged": EXIT_DIVERGED, "interrupted": EXIT_INTERRUPTED}


def stop_on_sigterm():
    """SIGTERM (a notebook's stop, `kill`) ends a command like Ctrl-C: runs end as "interrupted",
    records stay intact, exit 130."""
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)


def _raise_keyboard_interrupt(signum, frame):
    raise KeyboardInterrupt


def error(message):
    print(f"paddle-mnist: error: {message}", file=sys.stderr)
    return EXIT_ERROR


def as_flags(e, flags):
    """The error's text with the argument it names ("seed must be ...") shown as the command's
    flag ("--seed must be ..."); unchanged when it names no argument or the command has no such flag."""
    message, option = str(e), getattr(e, "option", None)
    flag = flags.get(option) if option else None
    if flag and message.startswith(option):
        return flag + message[len(option):]
    return message


def run_command(args):
    """Run the parsed sub-command; our errors and the OS's become one line and exit 1."""
    keep_freed_memory()
    try:
        return args.func(args) or EXIT_OK
    except PaddleMnistError as e:
        return error(as_flags(e, getattr(args, "flags", {})))
    except OSError as e:  # an unwritable --out, a full disk, ...: name the path, not a traceback
        where = f"{e.filename}: " if e.filename else ""
        return error(f"{where}{e.strerror or e}")
    except KeyboardInterrupt:
        print("paddle-mnist: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


# ---- the flags of a TrainConfig, derived from its declaration (paddle_mnist/core/config.py) ----

NOT_FLAGS = ("out", "resume")  # each command says itself where it writes and whether it resumes


def add_config_arguments(parser, skip=()):
    """One flag per TrainConfig field (shared by train, compare, tune): type, default, help and
    metavar come from the field's declaration; mapping fields take repeated KEY=VALUE flags.
    `skip`: fields the command sets itself (no flag; their defaults still reach config_from_args)."""
    defaults = TrainConfig()
    for f in fields(TrainConfig):
        if f.name in skip:
            parser.set_defaults(**{f.name: [] if f.metadata["parse"] else getattr(defaults, f.name)})
        if f.name in NOT_FLAGS or f.name in skip:
            continue
        meta = f.metadata
        if meta["parse"]:
            parser.add_argument(flag_of(f), dest=f.name, action="append", default=[], metavar=meta["metavar"],
                                help=meta["help"])
        else:
            parser.add_argument(flag_of(f), dest=f.name, type=value_type(f), default=getattr(defaults, f.name),
                                metavar=meta["metavar"], help=meta["help"])


def config_from_args(args, **extra):
    """The TrainConfig the flags describe (mapping flags parsed); `extra` sets other fields."""
    values = {}
    for f in fields(TrainConfig):
        if f.name in NOT_FLAGS:
            continue
        value = getattr(args, f.name)
        values[f.name] = f.metadata["parse"](value) if f.metadata["parse"] else value
    values.update(extra)
    return TrainConfig(**values)


# ---- the flags of a tool's options, derived from their declaration (paddle_mnist/core/options.py) ----

def add_option_arguments(parser, options_class):
    """One flag per field of a tool's options (HessianOptions, ...): type, default, help, metavar and
    choices from the field's declaration; a repeated field collects its flags in a list."""
    for f in fields(options_class):
        if not has_flag(f):
            continue
        meta = f.metadata
        common = dict(dest=f.name, metavar=meta["metavar"], help=meta["help"])
        if meta["repeat"]:
            parser.add_argument(flag_of(f), action="append", default=[], **common)
        else:
            parser.add_argument(flag_of(f), type=value_type(f), default=f.default, choices=meta["choices"], **common)


def options_from_args(args, options_class):
    """{argument: value} of a tool's options as the flags give them (repeated flags parsed): the
    keywords of its library function, which checks them and names the argument when one is wrong."""
    values = {}
    for f in fields(options_class):
        if has_flag(f):
            value = getattr(args, f.name)
            values[f.name] = f.metadata["parse"](value) if f.metadata["parse"] else value
    return values


def add_lang_argument(parser):
    """--lang en|zh: the language of the figures' words (every command that draws)."""
    parser.add_argument("--lang", default=None, choices=LANGS,
                        help=f"language of the figures' titles, labels and legends: en or zh (default: ${LANG_ENV}, "
                             f"else en); zh draws with Noto Sans CJK ({FONT_EXTRA}) or a Chinese font of the system")


def add_target_argument(parser):
    """--target [METRIC=VALUE]: time to target in the summary and time_to_target.png (plot, compare)."""
    parser.add_argument("--target", nargs="?", const=DEFAULT_TARGET, default=None, metavar="METRIC=VALUE",
                        help=f"also tell when each run first reached this target (steps, images, seconds): "
                             f"a column in the summary and time_to_target.png; METRIC is one of "
                             f"{', '.join(METRICS)}, e.g. valid_acc=0.97 (--target alone: {DEFAULT_TARGET})")


def add_executor_arguments(parser, what="runs"):
    """--executor and the Ray flags, shared by compare and tune."""
    ray = parser.add_argument_group(f"distributed {what} (Ray)", f"needs the ray extra: {RAY_INSTALL}")
    ray.add_argument("--executor", default="local", metavar="|".join(EXECUTORS),
                     help="local: processes on this machine (default); ray: one Ray task per run")
    ray.add_argument("--ray-address", default=None, metavar="auto|HOST:PORT",
                     help="join this Ray cluster (`ray start --head` prints it; auto: the one running here); "
                          "default: start a one-machine Ray for this command")
    ray.add_argument("--cpus-per-run", type=float, default=None, metavar="C",
                     help="CPUs (and Paddle threads) per run (default: 1)")
    ray.add_argument("--gpus-per-run", type=float, default=None, metavar="G",
                     help="GPUs per run, a fraction shares one (default: 0, CPU)")
