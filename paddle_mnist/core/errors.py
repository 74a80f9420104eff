"""The errors every command turns into one line on stderr and a non-zero exit.

Learners should see *what* is wrong with *which* file or option, not a traceback.
"""


class PaddleMnistError(Exception):
    """Base class: anything the CLI reports as a one-line error."""


class DataError(PaddleMnistError, ValueError):
    """A data file (or directory) is missing or malformed. The message names the file and the fault."""


class ConfigError(PaddleMnistError, ValueError):
    """A bad option: an unknown optimizer or schedule, an impossible value, a missing extra.

    `option`: the argument's name the message starts with ("seed"), when there is one: the command
    line shows the flag the user typed in its place ("--seed")."""

    def __init__(self, message, option=None):
        super().__init__(message)
        self.option = option
