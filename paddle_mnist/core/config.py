"""What defines a run: ``TrainConfig``, each field declared once.

Every field carries, beside its type and default, what the rest of the project needs to know:
its help text and flag (the command line is built from them), its short name in run names, whether
it changes the numbers a run produces (the config id hashes only those), whether it can be an axis
of a sweep (and its plural flag in ``compare``), and the check of its value. ``check`` applies those
checks, so a bad value is refused once, before anything is trained or written, with the flag named.
"""

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Optional

from paddle_mnist.core import checks
from paddle_mnist.core.checks import SEED_MAX
from paddle_mnist.core.errors import ConfigError
from paddle_mnist.core.loss import LOSSES
from paddle_mnist.core.model import MODELS
from paddle_mnist.core.options import flag_of, value_type
from paddle_mnist.core.optim import OPTIMIZERS, check_optimizer, optimizer_keywords, parse_overrides
from paddle_mnist.core.schedules import SCHEDULES, build_schedule, step_after_batch, step_after_epoch

COURSE_LR = 0.01  # the course compares its optimizers at this lr: compare's runs without --lr/--lrs
COURSE_OPTIMIZERS = ("sgd", "momentum", "adagrad", "adam")  # the four the course compares


# ---- checks: each raises a ConfigError naming the argument ("seed must be ..."); the command
# line shows the flag the user typed instead (cli/common.as_flags) ----

def _one_of(choices):
    return lambda flag, value: checks.one_of(flag, value, choices)


def _optimizer(flag, value):
    check_optimizer(value, option=flag)


def _number(*, integer=False, zero_ok=False, high=None):
    """A finite number > 0 (>= 0 when zero_ok; a whole one when integer; at most `high`): core.checks."""
    def check(flag, value):
        if integer:
            checks.whole(flag, value, low=0 if zero_ok else 1, high=high)
        else:
            checks.number(flag, value, low=0, low_open=not zero_ok, high=high)
    return check


def _mapping(flag, value):
    if not isinstance(value, dict):
        raise ConfigError(f"{flag} must be a mapping of key=value, not {value!r}", option=flag)


def _lr_groups(flag, value):
    _mapping(flag, value)
    for prefix, lr in value.items():
        if not checks.is_number(lr) or lr <= 0:
            raise ConfigError(f"{flag} {prefix}=: the learning rate must be a positive number, not {lr!r}",
                              option=flag)


def _text(flag, value):
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{flag} must be a non-empty text, not {value!r}", option=flag)


def _flag_value(flag, value):
    if not isinstance(value, bool):
        raise ConfigError(f"{flag} must be True or False, not {value!r}", option=flag)


def parse_lr_groups(items):
    """["conv=0.01", "fc=0.001"] (from --lr-group) -> {"conv": 0.01, "fc": 0.001}."""
    groups = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        try:
            groups[key] = float(value)
        except ValueError:
            raise ConfigError(f"--lr-group expects PREFIX=LR, not {item!r}") from None
        if not sep or not key:
            raise ConfigError(f"--lr-group expects PREFIX=LR, not {item!r}")
    return groups


def _spec(default, help, *, flag=None, short=None, result=True, plural=None, check=None, metavar=None,
          parse=None):
    """A dataclass field with its declaration (see the module docstring). `parse` turns the
    repeated KEY=VALUE flags of a mapping field into its dict."""
    factory = {"default_factory": dict} if default == {} else {"default": default}
    return field(**factory, metadata={"help": help, "flag": flag, "short": short, "result": result,
                                      "plural": plural, "check": check, "metavar": metavar,
                                      "parse": parse})


@dataclass
class TrainConfig:
    """Everything that defines a run. ``lr`` is the (base) learning rate."""

    model: str = _spec("cnn", f"network: {', '.join(MODELS)} (default: cnn, the course's MNIST)",
                       plural="models", check=_one_of(MODELS))
    optimizer: str = _spec("sgd", "optimizer by name, see `paddle-mnist optimizers` (default: sgd)",
                           plural="optimizers", check=_optimizer)
    lr: Optional[float] = _spec(None, "learning rate (default: the optimizer's usual lr, the 'typical lr' column of "
                                "`paddle-mnist optimizers`, e.g. sgd 0.1, adam 0.001, adadelta 1.0)",
                                short="lr", plural="lrs", check=_number())
    batch_size: int = _spec(100, "images per step (default: 100)", short="bs", plural="batch_sizes",
                            check=_number(integer=True))
    epochs: int = _spec(5, "passes over the training split (default: 5)", short="ep", check=_number(integer=True))
    seed: int = _spec(0, f"fixes initial weights and batch order, 0..{SEED_MAX} (default: 0)", short="s",
                      plural="seeds", check=_number(integer=True, zero_ok=True, high=SEED_MAX))
    schedule: str = _spec("constant", f"learning-rate schedule: {', '.join(SCHEDULES)}", plural="schedules",
                          check=_one_of(SCHEDULES))
    warmup_steps: int = _spec(0, "linear warm-up steps in front of the schedule", short="warm",
                              check=_number(integer=True, zero_ok=True))
    schedule_args: dict = _spec({}, "a schedule parameter, e.g. gamma=0.5 (repeatable)", flag="--schedule-arg",
                                metavar="KEY=VALUE", check=_mapping,
                                parse=lambda items: parse_overrides(items, option="--schedule-arg"))
    loss: str = _spec("cross_entropy", f"loss function: {', '.join(LOSSES)}", plural="losses", check=_one_of(LOSSES))
    weight_decay: Optional[float] = _spec(
        None, "weight decay (L2; decoupled for adamw; default: the optimizer's own, adamw 0.01, others 0)",
        short="wd", plural="weight_decays", check=_number(zero_ok=True))
    grad_clip: Optional[float] = _spec(None, "clip gradients by global norm (10 is a common choice for this net)",
                                       short="clip", metavar="MAX_NORM", check=_number())
    opt_args: dict = _spec({}, "an optimizer argument, e.g. beta1=0.8 (repeatable; see `paddle-mnist optimizers`)",
                           flag="--opt", metavar="KEY=VALUE", check=_mapping, parse=parse_overrides)
    lr_groups: dict = _spec({}, "learning rate for the layers whose name starts with PREFIX, e.g. conv=0.01 fc=0.001",
                            flag="--lr-group", metavar="PREFIX=LR", check=_lr_groups, parse=parse_lr_groups)
    patience: Optional[int] = _spec(None, "stop early after this many epochs without a better valid accuracy",
                                    short="pat", check=_number(integer=True))
    train_images: Optional[int] = _spec(None, "train on N images of the train split, drawn by the project's seeded "
                                        "subset rule (with --batch-size N: full-batch gradient descent)",
                                        short="ntrain", metavar="N", check=_number(integer=True))
    # ---- where and how a run happens: these never change its numbers ----
    data: Optional[str] = _spec(None, "course JSON(.gz) file, IDX directory, or 'synthetic' "
                                "(default: work/mnist.json.gz, then Paddle's cache)", result=False, check=_text)
    out: Optional[str] = _spec(None, "run directory", result=False, check=_text)
    device: Optional[str] = _spec(None, "cpu, gpu or gpu:N (default: gpu if Paddle has CUDA, else cpu)",
                                  result=False, check=_text)
    threads: Optional[int] = _spec(None, "CPU threads for Paddle, >= 1 (default: Paddle's choice)", result=False,
                                   check=_number(integer=True))
    resume: bool = _spec(False, "continue the interrupted run in --out", result=False, check=_flag_value)
    visualdl: Optional[str] = _spec(None, "also log to VisualDL under DIR (needs visualdl)", result=False,
                                    metavar="DIR", check=_text)
    wandb: Optional[str] = _spec(None, "also log to Weights & Biases (needs wandb)", result=False,
                                 metavar="PROJECT", check=_text)
    sharpness_every: Optional[int] = _spec(None, "measure the Hessian's top eigenvalue λmax (and Adam's preconditioned "
                                           "one) before the first step, every N steps and at the end, into the "
                                           "record's sharpness series", result=False, metavar="N",
                                           check=_number(integer=True))
    sharpness_images: Optional[int] = _spec(None, "training images λmax is measured on (the seeded subset rule; "
                                            "default: 500, or all when fewer)", result=False, metavar="M",
                                            check=_number(integer=True))
    trajectory: Optional[int] = _spec(None, "save the weights every EVERY steps (and at each epoch's end) in the run "
                                      "folder's trajectory.npz, for `paddle-mnist trajectory`", result=False,
                                      metavar="EVERY", check=_number(integer=True))

    def check(self, steps_per_epoch=None):
        """Refuse impossible values, naming the argument; with `steps_per_epoch`, also every lr of
        the schedule over the whole run (cheap to compute) must be finite and positive."""
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None or f.default is not None:
                f.metadata["check"](f.name, value)
        valid = optimizer_keywords(self.optimizer)
        for key in self.opt_args:
            if key not in valid:
                raise ConfigError(f"--opt {key}: optimizer {self.optimizer!r} has no option {key!r}; "
                                  f"valid: {', '.join(valid)}")
        check_schedule(resolve_lr(self), steps_per_epoch or self.warmup_steps + 1,
                       whole_run=steps_per_epoch is not None)
        return self


RESULT_FIELDS = tuple(f.name for f in fields(TrainConfig) if f.metadata["result"])
NOT_RESULT_FIELDS = tuple(f.name for f in fields(TrainConfig) if not f.metadata["result"])


# the fields a sweep can vary (scalars that change results), with their value types
AXIS_TYPES = {f.name: value_type(f) for f in fields(TrainConfig)
              if f.metadata["result"] and value_type(f) in (int, float, str)}
LIST_FLAGS = {f.metadata["plural"]: f.name for f in fields(TrainConfig) if f.metadata["plural"]}
SHORT = {f.name: f.metadata["short"] for f in fields(TrainConfig) if f.metadata["short"]}

# the most steps a schedule is checked over before training (a huge run is checked at its start)
CHECKED_STEPS = 200_000


def check_schedule(config, steps_per_epoch, whole_run=True):
    """Build the run's schedule and, over the whole run, refuse a non-finite or non-positive lr
    (e.g. ``--schedule step --schedule-arg gamma=-1`` would train by gradient *ascent*).
    A plateau schedule is stepped with a valid loss that never improves: its lowest lrs."""
    schedule = build_schedule(config.schedule, config.lr, epochs=config.epochs, steps_per_epoch=steps_per_epoch,
                              warmup_steps=config.warmup_steps, **config.schedule_args)
    total = config.epochs * steps_per_epoch if whole_run else 1
    for step in range(min(total, CHECKED_STEPS)):
        lr = schedule()
        warming_up = step < config.warmup_steps  # a warmup may start at 0 (warmup_start_lr)
        if not math.isfinite(lr) or lr < 0 or (lr == 0 and not warming_up):
            raise ConfigError(f"--schedule {config.schedule} {_args_text(config)}gives lr {lr:g} at step {step + 1} "
                              f"of {total}; every lr must be a positive number")
        step_after_batch(schedule)
        if (step + 1) % steps_per_epoch == 0:
            step_after_epoch(schedule, 1.0)
    return schedule


def _args_text(config):
    items = " ".join(f"--schedule-arg {k}={v}" for k, v in config.schedule_args.items())
    return items + " " if items else ""


def resolve_lr(config):
    """The config with its lr filled in: no lr (None) means the optimizer's usual lr (OPTIMIZERS'
    typical_lr). The one place this default is applied: train, config_id and run_name go through
    it, so `--optimizer adadelta` and `--optimizer adadelta --lr 1` are the same run, same id."""
    if config.lr is not None:
        return config
    check_optimizer(config.optimizer, option="--optimizer")
    return replace(config, lr=OPTIMIZERS[config.optimizer].typical_lr)


def lr_default_note(config):
    """One line saying which lr a config without one will use, or None when it names its lr."""
    if config.lr is not None:
        return None
    lr = resolve_lr(config).lr
    return (f"lr {lr:g}: {config.optimizer}'s usual learning rate (no --lr given; the 'typical lr' column "
            f"of `paddle-mnist optimizers`)")


def config_id(config):
    """A short hash of the fields that decide the result: equal ids, equal curves (same data)."""
    d = {k: v for k, v in asdict(resolve_lr(config)).items() if k in RESULT_FIELDS}
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


def run_name(config):
    """A readable default name, e.g. ``adam-lr0.001-s0``."""
    return f"{config.optimizer}-lr{resolve_lr(config).lr:g}-s{config.seed}"


def as_config(config):
    """A TrainConfig from a TrainConfig or a dict of its fields (an unknown key is a ConfigError)."""
    if isinstance(config, TrainConfig):
        return config
    known = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(config) - known)
    if unknown:
        raise ConfigError(f"unknown config field(s) {', '.join(unknown)}; fields are: {', '.join(sorted(known))}")
    return TrainConfig(**config)
