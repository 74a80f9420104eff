"""Learning-rate schedules by name: Paddle's ``paddle.optimizer.lr`` classes, one spec each.

How each schedule is stepped (the trainer records the lr of every batch, so that is what you see):
everything but plateau is stepped per batch, with epoch-valued options converted to batches (rounded
to the nearest batch): step and multistep change the lr at epoch boundaries when given whole epochs
(the multistep default, 50% and 75% of the run, may fall inside an epoch); exponential decays
smoothly but is exactly lr * gamma**e at the start of epoch e; cosine and onecycle span the whole run.
Plateau is stepped once per epoch with the epoch's valid loss.

Warmup (`warmup_steps` batches, Paddle's LinearWarmup) goes in front of any schedule: the lr rises
linearly from warmup_start_lr (0) to the schedule's first lr, and the schedule's clock starts when the
warmup ends (that is how LinearWarmup works). So cosine and onecycle are fitted into the steps left
after the warmup and still end with the run, while step/multistep/exponential happen warmup_steps
batches later than their epoch boundaries. Plateau behind a warmup judges the valid loss only of
epochs that end after the warmup.
"""

import math
from dataclasses import dataclass
from typing import Callable

from paddle.optimizer import lr as lr_sched

from paddle_mnist.core.errors import ConfigError
from paddle_mnist.core import checks
from paddle_mnist.core.optim import check_value


def _steps(value, steps_per_epoch, key):
    """An epoch-valued option in batches (at least 1)."""
    checks.positive(f"schedule option {key} (epochs)", value)
    return max(1, math.floor(value * steps_per_epoch + 0.5))


def _one_flat(lr):
    """LambdaDecay's factor for the constant schedule (a named function, so it can be pickled)."""
    return 1.0


def _multistep(lr, o, spe, steps):
    if not isinstance(o["milestones"], (list, tuple)) or not o["milestones"]:
        raise ConfigError(f"schedule option milestones must be a list of epochs, got {o['milestones']!r}")
    return lr_sched.MultiStepDecay(lr, sorted({_steps(m, spe, "milestones") for m in o["milestones"]}),
                                   gamma=o["gamma"])


@dataclass(frozen=True)
class ScheduleSpec:
    """One schedule: its Paddle class, when it is stepped, its options and how they become the class.

    defaults(lr, epochs) -> options (epoch-valued ones in epochs); make(lr, options, steps_per_epoch,
    steps) -> the scheduler, where `steps` are the run's steps after any warmup.
    """

    class_name: str
    per_epoch: bool
    defaults_text: str
    defaults: Callable
    make: Callable


SCHEDULE_SPECS = {
    "constant": ScheduleSpec(
        "LambdaDecay", False, "lr throughout", lambda lr, epochs: {},
        lambda lr, o, spe, steps: lr_sched.LambdaDecay(lr, _one_flat)),
    "step": ScheduleSpec(
        "StepDecay", False, "step_size=max(1, epochs//3) epochs, gamma=0.1",
        lambda lr, epochs: {"step_size": max(1, epochs // 3), "gamma": 0.1},
        lambda lr, o, spe, steps: lr_sched.StepDecay(lr, _steps(o["step_size"], spe, "step_size"), gamma=o["gamma"])),
    "multistep": ScheduleSpec(
        "MultiStepDecay", False, "milestones=[50%, 75% of epochs] (in epochs), gamma=0.1",
        lambda lr, epochs: {"milestones": [epochs * 0.5, epochs * 0.75], "gamma": 0.1}, _multistep),
    "exponential": ScheduleSpec(
        "ExponentialDecay", False, "gamma=0.9 per epoch, spread over its batches",
        lambda lr, epochs: {"gamma": 0.9},
        lambda lr, o, spe, steps: lr_sched.ExponentialDecay(
            lr, checks.positive("schedule option gamma", o["gamma"]) ** (1.0 / spe))),
    "cosine": ScheduleSpec(
        "CosineAnnealingDecay", False, "eta_min=0, reached at the end of the run",
        lambda lr, epochs: {"eta_min": 0.0},
        lambda lr, o, spe, steps: lr_sched.CosineAnnealingDecay(lr, T_max=steps, eta_min=o["eta_min"])),
    "onecycle": ScheduleSpec(
        "OneCycleLR", False, "max_learning_rate=lr, divide_factor=25, end_learning_rate=1e-4, phase_pct=0.3",
        lambda lr, epochs: {"max_learning_rate": lr, "divide_factor": 25.0, "end_learning_rate": 1e-4,
                            "phase_pct": 0.3, "anneal_strategy": "cos", "three_phase": False},
        lambda lr, o, spe, steps: lr_sched.OneCycleLR(total_steps=steps, **o)),
    # plateau: Paddle's defaults are mode="min" (a loss), epsilon=1e-8
    "plateau": ScheduleSpec(
        "ReduceOnPlateau", True, "on valid loss: factor=0.5, patience=1, threshold=1e-4",
        lambda lr, epochs: {"factor": 0.5, "patience": 1, "threshold": 1e-4, "threshold_mode": "rel",
                            "cooldown": 0, "min_lr": 0.0},
        lambda lr, o, spe, steps: lr_sched.ReduceOnPlateau(lr, **o)),
}
SCHEDULES = tuple(SCHEDULE_SPECS)


class _WarmupThenPlateau(lr_sched.LinearWarmup):
    """LinearWarmup in front of ReduceOnPlateau.

    Paddle's LinearWarmup steps the schedule behind it with the step count, which ReduceOnPlateau
    would take for a loss. Here the warmup is stepped per batch and the plateau only by
    step_after_epoch; after the warmup the lr is the plateau's.
    """

    def get_lr(self):
        if self.last_epoch < self.warmup_steps:
            return super().get_lr()
        return self.learning_rate.last_lr


def _check_counts(epochs, steps_per_epoch, warmup_steps):
    """(epochs, steps_per_epoch, warmup_steps) as whole numbers, the warm-up shorter than the run."""
    epochs = checks.whole("epochs", epochs, low=1)
    steps_per_epoch = checks.whole("steps_per_epoch", steps_per_epoch, low=1)
    warmup_steps = checks.whole("warmup_steps", warmup_steps, low=0)
    if warmup_steps >= epochs * steps_per_epoch:
        raise ConfigError(f"warmup steps ({warmup_steps}) must be fewer than the run's "
                          f"{epochs * steps_per_epoch} steps")
    return epochs, steps_per_epoch, warmup_steps


def build_schedule(name, learning_rate, *, epochs, steps_per_epoch, warmup_steps=0, **kwargs):
    """A paddle.optimizer.lr scheduler by name (constant is one too, so the trainer is uniform).

    kwargs override the schedule's defaults (from `--schedule-arg key=value`); `warmup_start_lr`
    sets where a warmup starts (0). The scheduler gets attributes `schedule_name`, `per_epoch` and
    `reference_lr` (= learning_rate, for lr_groups).
    """
    if name not in SCHEDULE_SPECS:
        raise ConfigError(f"unknown schedule {name!r}; choose one of: {', '.join(SCHEDULES)}")
    spec = SCHEDULE_SPECS[name]
    learning_rate = float(checks.positive("learning rate", learning_rate))
    epochs, steps_per_epoch, warmup_steps = _check_counts(epochs, steps_per_epoch, warmup_steps)
    warmup_start_lr = kwargs.pop("warmup_start_lr", 0.0)
    options = spec.defaults(learning_rate, epochs)
    for key, value in kwargs.items():
        if key not in options:
            valid = ", ".join(list(options) + ["warmup_start_lr"])
            raise ConfigError(f"schedule {name!r} has no option {key!r}; valid: {valid}")
        options[key] = check_value(f"schedule {name!r}", key, value, options[key])
    try:
        sched = spec.make(learning_rate, options, steps_per_epoch, epochs * steps_per_epoch - warmup_steps)
        if warmup_steps > 0:
            warmup = _WarmupThenPlateau if spec.per_epoch else lr_sched.LinearWarmup
            sched = warmup(sched, warmup_steps, start_lr=float(warmup_start_lr), end_lr=sched.last_lr)
    except (TypeError, ValueError, AssertionError) as e:
        raise ConfigError(f"schedule {name!r}: {e}") from None
    sched.schedule_name = name
    sched.per_epoch = spec.per_epoch
    sched.reference_lr = learning_rate
    return sched


def step_after_batch(scheduler):
    """Call after every optimizer step: advances per-batch schedules (and any warmup)."""
    if not scheduler.per_epoch or isinstance(scheduler, lr_sched.LinearWarmup):
        scheduler.step()


def step_after_epoch(scheduler, valid_loss):
    """Call after each epoch's validation: feeds the valid loss to plateau (others: nothing to do).

    valid_loss None (no validation) leaves the lr alone.
    """
    if not scheduler.per_epoch or valid_loss is None:
        return
    if isinstance(scheduler, lr_sched.LinearWarmup):
        if scheduler.last_epoch < scheduler.warmup_steps:
            return  # still warming up: this epoch's loss says nothing about the plateau's lr
        scheduler.learning_rate.step(float(valid_loss))
        scheduler.last_lr = scheduler.learning_rate.last_lr
    else:
        scheduler.step(float(valid_loss))
