"""The checks of option values, written once: a finite number in a range, a whole number, a seed,
one of some choices.

Each check takes the `name` of what it checks and raises a ConfigError that starts with that name:
a library function passes its argument's name ("seed"), the command line's error line then shows the
flag the user typed ("--seed", see ``cli/common.run_command``), and code that only has a flag passes
the flag itself. Each returns the value (an int for whole numbers), so a caller can write
``steps = whole("steps", steps, low=1)``.
"""

import math

from paddle_mnist.core.errors import ConfigError

SEED_MAX = 2**32 - 1  # every seed both Paddle versions and numpy's generator accept


def is_number(value):
    """A real, finite int or float (True/False are not numbers here)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _refuse(name, wanted, value):
    raise ConfigError(f"{name} must be {wanted}, not {value!r}", option=name)


def _text(x):
    """4294967295, not 4.29497e+09; 0.5 as 0.5."""
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def _range_text(low, high, low_open, kind):
    """"a positive integer", "an integer >= 10", "an integer from 0 to 4294967295", "a number > 0.1"."""
    if low == 0 and low_open and high is None:
        return f"a positive {kind}"
    if low == 1 and kind == "integer" and high is None:
        return "a positive integer"
    article = "an" if kind == "integer" else "a"
    if low is not None and high is not None and not low_open:
        return f"{article} {kind} from {_text(low)} to {_text(high)}"
    parts = []
    if low is not None:
        parts.append(f"{'>' if low_open else '>='} {_text(low)}")
    if high is not None:
        parts.append(f"<= {_text(high)}")
    return f"{article} {kind} {' and '.join(parts)}".rstrip()


def number(name, value, *, low=None, high=None, low_open=False):
    """A finite number, at least `low` (above it when `low_open`) and at most `high`."""
    if not (is_number(value) and (low is None or (value > low if low_open else value >= low))):
        _refuse(name, _range_text(low, high, low_open, "number"), value)
    if high is not None and value > high:
        _refuse(name, f"at most {_text(high)}", value)
    return value


def positive(name, value):
    """A finite number > 0 (a learning rate, a step size)."""
    return number(name, value, low=0, low_open=True)


def whole(name, value, *, low=None, high=None):
    """A whole number (7 or 7.0) from `low` to `high`; returned as an int."""
    if not (is_number(value) and float(value).is_integer() and (low is None or value >= low)):
        _refuse(name, _range_text(low, high, False, "integer"), value)
    if high is not None and value > high:
        _refuse(name, f"at most {_text(high)}", value)
    return int(value)


def seed(name, value, high=SEED_MAX):
    """A seed: a whole number from 0 to `high` (SEED_MAX, or less when seed+k must fit too)."""
    return whole(name, value, low=0, high=high)


def one_of(name, value, choices):
    """One of `choices` (a name from a table: optimizers, models, formats, ...)."""
    if value not in choices:
        raise ConfigError(f"{name} {value!r} is unknown; choose one of: {', '.join(map(str, choices))}", option=name)
    return value


def mapping(name, value):
    """Keyword overrides (optimizer or schedule arguments): a dict, None for none; returned as a new dict."""
    if value is not None and not isinstance(value, dict):
        raise ConfigError(f"{name} must be a mapping of key=value, not {value!r}", option=name)
    return dict(value or {})
