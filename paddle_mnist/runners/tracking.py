"""Send a run's numbers to VisualDL and/or Weights & Biases while it trains (both optional).

``--visualdl DIR`` writes one sub-directory per run, DIR/<run name>, so ``visualdl --logdir DIR``
overlays every run of a sweep. ``--wandb PROJECT`` logs the same numbers to W&B; without a
network (or an account) set ``WANDB_MODE=offline`` (or run ``wandb offline``) and upload later
with ``wandb sync``. Each package is imported only when asked for.

Tags (the same names in both):
    step/loss, step/lr                        every optimizer step, x = global step
    epoch/train_loss, epoch/train_acc,
    epoch/valid_loss, epoch/valid_acc, epoch/lr   every epoch, x = epoch
    eval/loss, eval/acc (+ status)            once, at the end, with the best checkpoint
"""

import json
import math
import os

from paddle_mnist.core.errors import ConfigError

HPARAM_METRICS = ["epoch/valid_acc", "epoch/valid_loss", "eval/acc", "eval/loss"]


def _number(value):
    """A float to log, or None for what is not a number (a missing loss, a status string)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _hparams(config):
    """The config as flat str/int/float values: what VisualDL's hparams view (and W&B) can show."""
    flat = {}
    for key, value in config.items():
        if isinstance(value, bool) or value is None:
            flat[key] = str(value)
        elif isinstance(value, (int, float, str)):
            flat[key] = value
        else:  # lists, dicts: shown as text
            flat[key] = json.dumps(value, sort_keys=True)
    return flat


def _final_tag(key):
    return "eval/" + key[len("eval_"):] if key.startswith("eval_") else "final/" + key


class VisualDLTracker:
    """Scalars for one run in DIR/<run name>, read by ``visualdl --logdir DIR``."""

    def __init__(self, directory, run_name, config):
        try:
            from visualdl import LogWriter
        except ImportError:
            raise ConfigError("--visualdl needs the visualdl package: pip install visualdl") from None
        self.logdir = os.path.join(directory, run_name)
        # flush often, so `visualdl --logdir` shows a run while it trains
        self.writer = LogWriter(logdir=self.logdir, display_name=run_name, flush_secs=5)
        self.writer.add_hparams(_hparams(config), list(HPARAM_METRICS))

    def log_step(self, step, loss, lr):
        if loss is not None and math.isfinite(loss):
            self.writer.add_scalar("step/loss", loss, step)
        self.writer.add_scalar("step/lr", lr, step)

    def log_epoch(self, epoch, metrics):
        for key, value in metrics.items():
            value = _number(value)
            if key != "epoch" and value is not None and math.isfinite(value):
                self.writer.add_scalar("epoch/" + key, value, epoch)

    def log_final(self, metrics):
        for key, value in metrics.items():
            number = _number(value)
            if number is not None and math.isfinite(number):
                self.writer.add_scalar(_final_tag(key), number, 0)
            elif isinstance(value, str):
                self.writer.add_text(_final_tag(key), value, 0)

    def close(self):
        self.writer.close()


class WandbTracker:
    """One W&B run per training run; the same tags as VisualDL, with `step`/`epoch` as x axes."""

    def __init__(self, project, run_name, config):
        try:
            import wandb
        except ImportError:
            raise ConfigError("--wandb needs the wandb package: pip install wandb") from None
        try:
            self.run = wandb.init(project=project, name=run_name, config=config)
        except Exception as e:  # no API key, no network, ...: one line, with the way out
            raise ConfigError(
                f"--wandb {project}: wandb.init failed ({e}); without a network or an account, "
                "set WANDB_MODE=offline (or run `wandb offline`) and `wandb sync` later"
            ) from None
        # two x axes: per-step numbers against the global step, per-epoch numbers against the epoch
        self.run.define_metric("global_step")
        self.run.define_metric("step/*", step_metric="global_step")
        self.run.define_metric("epoch")
        self.run.define_metric("epoch/*", step_metric="epoch")

    def log_step(self, step, loss, lr):
        row = {"global_step": step, "step/lr": lr}
        if loss is not None and math.isfinite(loss):
            row["step/loss"] = loss
        self.run.log(row)

    def log_epoch(self, epoch, metrics):
        row = {"epoch/" + k: v for k, v in metrics.items() if k != "epoch" and _number(v) is not None}
        row["epoch"] = epoch
        self.run.log(row)

    def log_final(self, metrics):
        for key, value in metrics.items():
            if value is not None:
                self.run.summary[_final_tag(key)] = value

    def close(self):
        self.run.finish()


class Trackers:
    """All trackers a run asked for, called as one; with none it does nothing (and costs nothing)."""

    def __init__(self, trackers=()):
        self.trackers = list(trackers)

    def log_step(self, step, loss, lr):
        for t in self.trackers:
            t.log_step(step, loss, lr)

    def log_epoch(self, epoch, metrics):
        for t in self.trackers:
            t.log_epoch(epoch, metrics)

    def log_final(self, metrics):
        for t in self.trackers:
            t.log_final(metrics)

    def close(self):
        for t in self.trackers:
            t.close()
        self.trackers = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def open_trackers(config, run_name):
    """Trackers for `config["visualdl"]` (a directory) and `config["wandb"]` (a project); either may be None."""
    opened = []
    try:
        if config.get("visualdl"):
            opened.append(VisualDLTracker(config["visualdl"], run_name, config))
        if config.get("wandb"):
            opened.append(WandbTracker(config["wandb"], run_name, config))
    except BaseException:
        Trackers(opened).close()  # the first opened, the second failed: do not leave it open
        raise
    return Trackers(opened)
