"""`paddle-mnist train` (and tools/train.py): one run, its record, and an exit code for its status."""

import os

from paddle_mnist.cli.common import STATUS_EXIT, add_config_arguments, config_from_args, stop_on_sigterm
from paddle_mnist.core.config import lr_default_note, run_name
from paddle_mnist.runners.train import train


def summary_line(record):
    """One line a learner reads at the end of a run."""
    parts = [f"{record['name']}: {record['status']}"]
    if record["epochs"]:
        last = record["epochs"][-1]
        parts.append(f"epochs {last['epoch']}, train loss {last['train_loss']:.4f}, "
                     f"valid acc {last['valid_acc']:.2%}")
    if record["eval"]:
        parts.append(f"eval acc {record['eval']['acc']:.2%} (best epoch {record['eval']['epoch']})")
    if record["divergence"]:
        parts.append(f"diverged at step {record['divergence']['step']}: {record['divergence']['reason']}")
    ips = record["timing"]["images_per_second"]
    if ips:
        parts.append(f"{ips:,.0f} images/s")
    return "; ".join(parts)


def run_train(args):
    config = config_from_args(args, resume=args.resume)
    if config.lr is None:
        print(lr_default_note(config), flush=True)  # the first line: which lr this run uses, and why
    config.out = args.out or os.path.join("work", "runs", run_name(config))
    stop_on_sigterm()
    record = train(config, progress=not args.quiet)
    print(summary_line(record))
    print(f"record: {os.path.join(config.out, 'record.json')}")
    return STATUS_EXIT.get(record["status"], 0)


def add_parser(subparsers):
    p = subparsers.add_parser(
        "train", help="train one run and record its loss curve",
        description="Train the course's network with one optimizer and learning rate; write "
                    "OUT/record.json (after every epoch), OUT/best.pdparams and OUT/best.pdopt. "
                    "Exit codes: 0 completed or stopped early, 1 bad input, 3 diverged, 130 interrupted.")
    add_config_arguments(p)
    p.add_argument("--out", default=None, help="run directory (default: work/runs/OPTIMIZER-lrLR-sSEED)")
    p.add_argument("--resume", action="store_true", help="continue the interrupted run in --out")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run_train)
