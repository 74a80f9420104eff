"""Numbers as far as they are known: a measured value printed to the digit its error allows, and a
value inside a solver's tolerance of zero printed as zero (with the tolerance), not as noise.

Shared by the runners' printed summaries and the analysis side's tables and figures.
"""

import math


def significant(x, digits=1):
    """`x` rounded to `digits` significant digits, as text ('0.0021', '150')."""
    if x == 0 or not math.isfinite(x):
        return f"{x:g}"
    return f"{x:.{digits}g}" if abs(x) < 1e-4 or abs(x) >= 1e6 else _plain(x, digits)


def _plain(x, digits):
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(x))))
    return f"{round(x, decimals):.{decimals}f}"


def with_error(value, error):
    """'146.06 ± 0.02': the value to the decimal place of its error's first significant digit.
    No error (None or 0): four significant digits, the most the project's solvers promise."""
    if error is None or error == 0 or not math.isfinite(error):
        return f"{value:.4g}"
    decimals = max(0, -math.floor(math.log10(abs(error))))
    if decimals > 6 or abs(value) >= 1e6:  # beyond float32's digits: six significant ones, the error apart
        return f"{value:.6g} ± {abs(error):.1g}"
    return f"{value:.{decimals}f} ± {round(abs(error), decimals):.{decimals}f}"


def is_zero(value, tolerance):
    """True when `value` lies within `tolerance` of 0: a solver cannot tell it from 0."""
    return tolerance is not None and abs(value) <= tolerance


def value_text(value, error, tolerance):
    """'0 (within tolerance 0.003)' for a value the solver cannot tell from 0; else with_error."""
    if is_zero(value, max(tolerance or 0.0, abs(error or 0.0))):
        return f"0 (within tolerance {significant(max(tolerance or 0.0, abs(error or 0.0)))})"
    return with_error(value, error)
