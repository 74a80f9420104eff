"""`paddle-mnist optimizers`: the optimizers, schedules and losses you can pick, with their defaults.

Every row comes from the tables in paddle_mnist.core.optim and paddle_mnist.core.loss, so the list cannot
drift from what `train` accepts. An optimizer the installed Paddle lacks stays in the list, marked
with the Paddle version that has it.
"""

from paddle_mnist.cli.common import EXIT_OK
from paddle_mnist.core.loss import LOSS_INFO
from paddle_mnist.core.optim import list_optimizers
from paddle_mnist.core.schedules import SCHEDULE_SPECS


def _format_defaults(defaults):
    return ", ".join(f"{k}={v}" for k, v in defaults.items()) or "-"


def _columns(rows):
    """Three padded columns, the fourth as it is."""
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    return ["  " + "  ".join(r[i].ljust(widths[i]) for i in range(3)) + "  " + r[3] for r in rows]


def optimizers_table():
    """The text `paddle-mnist optimizers` prints."""
    rows = [("name", "Paddle class", "usual lr", "defaults")]
    rows += [(o["name"], o["class"], str(o["typical_lr"]),
              _format_defaults(o["defaults"]) + ("" if o["available"] else
                                                 f"  [unavailable: needs Paddle >= {o['since']}]"))
             for o in list_optimizers()]
    lines = ["Optimizers (--optimizer NAME, --opt key=value):", ""] + _columns(rows)
    lines += ["", "  weight decay: AdamW's is decoupled; the others add wd * param to the gradient (L2Decay).",
              "", "Schedules (--schedule NAME, --schedule-arg key=value); a linear warmup",
              "(paddle.optimizer.lr.LinearWarmup, per batch) can go in front of any of them:", ""]
    rows = [("name", "Paddle class", "stepped", "defaults")]
    rows += [(n, f"paddle.optimizer.lr.{s.class_name}", "per epoch" if s.per_epoch else "per batch", s.defaults_text)
             for n, s in SCHEDULE_SPECS.items()]
    lines += _columns(rows)
    lines += ["", "Losses (--loss NAME):", ""]
    width = max(len(n) for n in LOSS_INFO)
    lines += [f"  {n.ljust(width)}  {text}" for n, text in LOSS_INFO.items()]
    return "\n".join(lines)


def run_optimizers(args):
    print(optimizers_table())
    return EXIT_OK


def add_parser(subparsers):
    p = subparsers.add_parser(
        "optimizers",
        help="list the optimizers, learning-rate schedules and losses, with their defaults",
        description="List the optimizers, learning-rate schedules and losses you can pick, "
                    "with the Paddle class behind each and its default settings.",
    )
    p.set_defaults(func=run_optimizers)
