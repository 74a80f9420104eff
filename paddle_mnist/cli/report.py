"""What the commands print after drawing: the summary of a sweep (`plot`, `compare`) or of a
tuning run (`tune`, `plot` of a tune folder). Warnings go to stderr, everything else to stdout."""

import sys

from paddle_mnist.analysis import report_lines
from paddle_mnist.analysis.report import WARNING


def print_report(result):
    """What `plot` (and `compare`) print: the summary table, files, skipped figures; warnings on stderr."""
    for line in report_lines(result):
        if line.startswith(WARNING):
            print(f"paddle-mnist: {line}", file=sys.stderr)
        else:
            print(line)


def print_tune_report(result):
    """The table, then the files written (what `tune` and `plot DIR` print for a tune folder)."""
    print(result["table"], end="")
    if result.get("skipped"):
        print(f"{result['skipped']} finished run(s) skipped (already in {result['out']})")
    for path in result["files"]:
        print(f"wrote {path}")
    for name, why in (result.get("skipped_figures") or {}).items():
        print(f"skipped {name}: {why}")
