"""A tool's options, each declared once, as ``TrainConfig`` declares a run.

A tool (hessian, landscape, lr-find, paths, tune) keeps its options in a frozen dataclass beside its
runner, each field made by ``option``: its default, help text, flag and check. From that one
declaration come the command's flags (``cli/common.add_option_arguments``), the checks (run when the
object is made, so a bad value is refused before any work, naming the argument) and the options
echoed into the tool's JSON (``echo``). The checks are those of ``core/checks.py``: each takes the
argument's name and the value and returns the value (an int for a whole number).
"""

import typing
from dataclasses import field, fields


def option(default, help, *, check=None, flag=None, metavar=None, choices=None, repeat=False, parse=None,
           echo=False):
    """A field of a tool's options.

    default  an empty {} or [] becomes a fresh one for every object
    check    ``check(name, value)`` -> value (core/checks.py); not run on a None that is the default
    flag     the command-line flag (default: --field-name); False: a library argument without a flag
    repeat   a flag given many times, collected in a list (``parse`` turns that list into the value)
    echo     written into the tool's JSON as it was given
    """
    given = {"default_factory": type(default)} if default in ({}, []) else {"default": default}
    return field(**given, metadata={"help": help, "check": check, "flag": flag, "metavar": metavar,
                                    "choices": choices, "repeat": repeat or parse is not None, "parse": parse,
                                    "echo": echo})


def flag_of(f):
    """The command-line flag of a field: its own, or --field-name."""
    return f.metadata["flag"] or "--" + f.name.replace("_", "-")


def has_flag(f):
    return f.metadata.get("flag") is not False


def value_type(f):
    """float for ``Optional[float]``, str for ``str`` or ``Union[str, float]``, ..."""
    args = [a for a in typing.get_args(f.type) if a is not type(None)]
    return args[0] if args else f.type


class Options:
    """The base of every tool's frozen options dataclass: checks each field when it is made."""

    def __post_init__(self):
        for f in fields(self):
            value, check = getattr(self, f.name), f.metadata["check"]
            if check is not None and (value is not None or f.default is not None):
                object.__setattr__(self, f.name, check(f.name, value))  # frozen: the checked value, once
        self.check_together()

    def check_together(self):
        """Checks that need more than one field (a subclass adds its own)."""

    def echo(self):
        """{name: value} of the fields the tool writes into its JSON."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.metadata["echo"]}
