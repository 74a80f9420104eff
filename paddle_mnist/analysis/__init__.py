"""The analysis side: figures and tables drawn from files the runners wrote. Nothing here trains.

``style`` holds what every figure shares (notebook-friendly figures, colours, atomic saving); each
other module turns one kind of result file into its figures. For the runs of a sweep:
``runs`` (records -> checked groups) -> ``curves`` and ``sensitivity`` (groups -> figures) and
``summary`` (groups -> table); ``report.plot`` does all of it for a folder or a list of records.
"""

from paddle_mnist.analysis.runs import FairnessWarning, Group, Runs, load_runs, prepare_runs, step_losses
from paddle_mnist.analysis.curves import (figure_loss_by_lr, figure_loss_by_optimizer, figure_seeds,
                                          running_mean)
from paddle_mnist.analysis.sensitivity import figure_epochs, figure_lr_sensitivity
from paddle_mnist.analysis.summary import summary_csv, summary_markdown, summary_rows
from paddle_mnist.analysis.report import plot, report_lines

__all__ = [
    "FairnessWarning", "Group", "Runs", "figure_epochs", "figure_loss_by_lr", "figure_loss_by_optimizer",
    "figure_lr_sensitivity", "figure_seeds", "load_runs", "plot", "prepare_runs", "report_lines",
    "running_mean", "step_losses", "summary_csv", "summary_markdown", "summary_rows",
]
