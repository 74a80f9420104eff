"""Optimizers and learning-rate schedules by name, so a run is chosen with a word and a number.

Everything here is Paddle's own ``paddle.optimizer`` / ``paddle.optimizer.lr`` classes; this module
only holds sensible defaults, checks options (a typo is a ConfigError listing what is valid), and
knows when each schedule must be stepped.
"""

import ast
import inspect
import math
from dataclasses import dataclass

import paddle
from paddle.optimizer import lr as lr_sched

from paddle_mnist.errors import ConfigError

# --------------------------------------------------------------------------------------------------
# Optimizers
# --------------------------------------------------------------------------------------------------

_ADAM_BETAS = {"beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8}


@dataclass(frozen=True)
class OptimizerSpec:
    """One optimizer by name: everything the project knows about it, in one place.

    class_name  the ``paddle.optimizer`` class (looked up when used: older Paddles lack some)
    defaults    keyword arguments, written out (most equal Paddle's own) so the table can show them
    typical_lr  a usual first learning rate to try (the PyTorch/Keras defaults)
    colour      its colour in every figure of the project (red is left out: it marks divergence)
    since       the Paddle version that first has the class and every default argument
    """

    class_name: str
    defaults: dict
    typical_lr: float
    colour: str
    since: str = "2.6"

    @property
    def cls(self):
        """The Paddle class, or None when the installed Paddle does not have it."""
        return getattr(paddle.optimizer, self.class_name, None)

    @property
    def available(self):
        """Feature test, not a version test: the class exists and takes every default argument."""
        cls = self.cls
        return cls is not None and set(self.defaults) <= set(inspect.signature(cls).parameters)


OPTIMIZERS = {
    "sgd": OptimizerSpec("SGD", {}, 0.1, "#1f77b4"),
    "momentum": OptimizerSpec("Momentum", {"momentum": 0.9}, 0.01, "#ff7f0e"),
    "nesterov": OptimizerSpec("Momentum", {"momentum": 0.9, "use_nesterov": True}, 0.01, "#9467bd"),
    "adagrad": OptimizerSpec("Adagrad", {"epsilon": 1e-6}, 0.01, "#8c564b"),
    "rmsprop": OptimizerSpec("RMSProp", {"rho": 0.95, "epsilon": 1e-6, "momentum": 0.0}, 0.001, "#e377c2"),
    # Adadelta scales its own step, so Paddle's learning_rate is only a multiplier: 1.0 is the paper's
    "adadelta": OptimizerSpec("Adadelta", {"rho": 0.95, "epsilon": 1e-6}, 1.0, "#7f7f7f"),
    "adam": OptimizerSpec("Adam", dict(_ADAM_BETAS), 0.001, "#2ca02c"),
    "amsgrad": OptimizerSpec("Adam", dict(_ADAM_BETAS, amsgrad=True), 0.001, "#393b79", since="3.0"),
    "adamax": OptimizerSpec("Adamax", dict(_ADAM_BETAS), 0.002, "#17becf"),
    "adamw": OptimizerSpec("AdamW", dict(_ADAM_BETAS, weight_decay=0.01), 0.001, "#bcbd22"),
    "radam": OptimizerSpec("RAdam", dict(_ADAM_BETAS), 0.001, "#637939", since="3.0"),
    "nadam": OptimizerSpec("NAdam", dict(_ADAM_BETAS, momentum_decay=0.004), 0.002, "#7b4173", since="3.0"),
}

# colours for names outside the table (e.g. a record from a newer version of this project)
SPARE_COLOURS = ["#843c39", "#3182bd", "#e6550d", "#31a354", "#756bb1", "#636363"]


def optimizer_colours(names):
    """The fixed colour of each optimizer (table order); unknown names get spare colours in order."""
    order = list(OPTIMIZERS)
    spare = iter(SPARE_COLOURS * 4)
    ordered = sorted(set(names), key=lambda n: (order.index(n) if n in order else len(order), n))
    return {n: OPTIMIZERS[n].colour if n in OPTIMIZERS else next(spare) for n in ordered}


def check_optimizer(name, option="--optimizer"):
    """The spec of optimizer `name`, or a ConfigError: unknown, or not in the installed Paddle."""
    if name not in OPTIMIZERS:
        what = f"{option} {name!r} is unknown" if option.startswith("-") else f"unknown {option} {name!r}"
        raise ConfigError(f"{what}; choose one of: {', '.join(OPTIMIZERS)}")
    spec = OPTIMIZERS[name]
    if not spec.available:
        raise ConfigError(f"{option} {name!r} needs Paddle >= {spec.since} (paddle.optimizer.{spec.class_name}"
                          f"{' with ' + ', '.join(sorted(spec.defaults)) if spec.cls else ''}); "
                          f"the installed Paddle is {paddle.__version__}")
    return spec


# Arguments build_optimizer sets itself; they are not `--opt` overrides.
_OWN_ARGS = ("self", "learning_rate", "parameters", "weight_decay", "grad_clip", "name")


def optimizer_keywords(name):
    """The keyword arguments `--opt key=value` may set for optimizer `name` (from Paddle's signature)."""
    cls = check_optimizer(name).cls
    return [p for p in inspect.signature(cls).parameters if p not in _OWN_ARGS]


def _check_value(what, key, value, default):
    """Type-check one override against its default (values from the CLI arrive as Python literals)."""
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{what}: {key} must be True or False, got {value!r}")
        return value
    if isinstance(default, (int, float)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ConfigError(f"{what}: {key} must be a number, got {value!r}")
        if isinstance(default, int) and not float(value).is_integer():
            raise ConfigError(f"{what}: {key} must be a whole number, got {value!r}")
        return float(value) if isinstance(default, float) else int(value)
    return value


def _check_positive(option, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{option} must be a positive number, got {value!r}")
    return float(value)


def _reference_lr(learning_rate):
    """The absolute lr that lr_groups are measured against (Paddle's group lr is a multiplier of it)."""
    if isinstance(learning_rate, lr_sched.LRScheduler):
        # build_schedule stores the user's lr; LinearWarmup's own base_lr is its start lr
        return getattr(learning_rate, "reference_lr", learning_rate.base_lr)
    return learning_rate


def _param_groups(parameters, lr_groups, base_lr):
    """Paddle parameter groups: one per distinct lr, with 'learning_rate' = absolute lr / base lr.

    A parameter belongs to the longest prefix of its name ("conv1.weight" starts with "conv");
    parameters that match no prefix keep the base lr (multiplier 1.0).
    """
    if not lr_groups:
        params = list(parameters.parameters() if isinstance(parameters, paddle.nn.Layer) else parameters)
        return [{"params": params}]
    if not isinstance(lr_groups, dict):
        raise ConfigError(f"lr_groups must map layer-name prefixes to learning rates, got {lr_groups!r}")
    if not isinstance(parameters, paddle.nn.Layer):
        raise ConfigError("lr_groups needs the model itself (not model.parameters()) to match layer names")
    if not base_lr or base_lr <= 0:
        raise ConfigError(f"lr_groups need a positive base learning rate, got {base_lr!r}")
    for prefix, lr in lr_groups.items():
        _check_positive(f"learning rate of lr group {prefix!r}", lr)
    groups = {}  # multiplier -> params, in model order
    used = set()
    for pname, param in parameters.named_parameters():
        matches = [p for p in lr_groups if pname.startswith(p)]
        multiplier = 1.0
        if matches:
            prefix = max(matches, key=len)
            used.add(prefix)
            multiplier = float(lr_groups[prefix]) / base_lr
        groups.setdefault(multiplier, []).append(param)
    unused = [p for p in lr_groups if p not in used]
    if unused:
        layers = ", ".join(n for n, _ in parameters.named_children())
        raise ConfigError(f"lr group prefix {unused[0]!r} matches no layer; the model's layers are: {layers}")
    return [{"params": ps, "learning_rate": m} for m, ps in groups.items()]


def build_optimizer(name, parameters, learning_rate, *, weight_decay=None, grad_clip=None,
                    lr_groups=None, **overrides):
    """A Paddle optimizer by name.

    parameters     model.parameters(), or the model itself (needed for lr_groups)
    learning_rate  a float or a paddle.optimizer.lr.LRScheduler (see build_schedule)
    weight_decay   None: the optimizer's default (AdamW 0.01, the others none); 0: none.
                   AdamW's decay is decoupled (param -= lr * wd * param, beside the Adam step);
                   for every other optimizer Paddle turns the float into an L2Decay regularizer,
                   i.e. wd * param is added to the gradient before the optimizer sees it.
    grad_clip      max global gradient norm (paddle.nn.ClipGradByGlobalNorm), None: no clipping
    lr_groups      {"conv": 0.01, "fc": 0.001}: absolute lrs for parameters whose names start with
                   a prefix; a schedule scales every group alike
    overrides      keyword arguments of the Paddle class, e.g. momentum=0.5
    """
    spec = check_optimizer(name, option="optimizer")
    cls, defaults = spec.cls, spec.defaults
    allowed = optimizer_keywords(name)
    signature = inspect.signature(cls).parameters
    kwargs = dict(defaults)
    for key, value in overrides.items():
        if key not in allowed:
            raise ConfigError(f"optimizer {name!r} has no option {key!r}; valid: {', '.join(allowed)}")
        default = kwargs.get(key, signature[key].default)
        kwargs[key] = _check_value(f"optimizer {name!r}", key, value, default)

    if not isinstance(learning_rate, lr_sched.LRScheduler):
        learning_rate = _check_positive("learning rate", learning_rate)
    if weight_decay is not None:
        if isinstance(weight_decay, bool) or not isinstance(weight_decay, (int, float)) or weight_decay < 0:
            raise ConfigError(f"weight decay must be a number >= 0, got {weight_decay!r}")
        if cls is paddle.optimizer.AdamW:
            kwargs["weight_decay"] = float(weight_decay)
        else:  # 0 means no regularizer at all, rather than an L2Decay(0.0) that costs an op per step
            kwargs["weight_decay"] = float(weight_decay) if weight_decay > 0 else None
    if grad_clip is not None and not isinstance(grad_clip, paddle.nn.clip.GradientClipBase):
        grad_clip = paddle.nn.ClipGradByGlobalNorm(_check_positive("gradient clip norm", grad_clip))

    # Paddle stores a group's lr multiplier and regularizer on the parameter itself, so we always
    # pass groups: a second optimizer on the same model then never inherits the first one's settings.
    groups = _param_groups(parameters, lr_groups, _reference_lr(learning_rate))
    if cls is paddle.optimizer.AdamW:  # AdamW's groups do not reset the L2 regularizer; we must
        for group in groups:
            for param in group["params"]:
                param.regularizer = None
    try:
        return cls(learning_rate=learning_rate, parameters=groups, grad_clip=grad_clip, **kwargs)
    except (TypeError, ValueError, AssertionError) as e:
        raise ConfigError(f"optimizer {name!r}: {e}") from None


def parse_overrides(items, option="--opt"):
    """["momentum=0.5", "use_nesterov=true"] -> {"momentum": 0.5, "use_nesterov": True}.

    Values are Python literals (numbers, True/False, lists); true/false/none are accepted in lower
    case too; anything else stays a string. A repeated key: the last one wins.
    """
    result = {}
    for item in items or []:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise ConfigError(f"{option} {item!r}: expected key=value, e.g. {option} momentum=0.5")
        text = text.strip()
        lowered = {"true": "True", "false": "False", "none": "None"}.get(text.lower(), text)
        try:
            value = ast.literal_eval(lowered)
        except (ValueError, SyntaxError):
            value = text
        result[key] = value
    return result


def list_optimizers():
    """One dict per optimizer: name, Paddle class, default arguments, a usual first lr, and whether
    the installed Paddle has it (``since``: the Paddle version that does)."""
    return [
        {"name": name, "class": f"paddle.optimizer.{s.class_name}", "defaults": dict(s.defaults),
         "typical_lr": s.typical_lr, "colour": s.colour, "available": s.available, "since": s.since}
        for name, s in OPTIMIZERS.items()
    ]


# --------------------------------------------------------------------------------------------------
# Learning-rate schedules
# --------------------------------------------------------------------------------------------------

SCHEDULES = ("constant", "step", "multistep", "exponential", "cosine", "onecycle", "plateau")

# name -> (Paddle class, how it is stepped, defaults as the table shows them)
SCHEDULE_INFO = {
    "constant": ("LambdaDecay", "per batch", "lr throughout"),
    "step": ("StepDecay", "per batch", "step_size=max(1, epochs//3) epochs, gamma=0.1"),
    "multistep": ("MultiStepDecay", "per batch", "milestones=[50%, 75% of epochs] (in epochs), gamma=0.1"),
    "exponential": ("ExponentialDecay", "per batch", "gamma=0.9 per epoch, spread over its batches"),
    "cosine": ("CosineAnnealingDecay", "per batch", "eta_min=0, reached at the end of the run"),
    "onecycle": ("OneCycleLR", "per batch", "max_learning_rate=lr, divide_factor=25, end_learning_rate=1e-4, "
                 "phase_pct=0.3"),
    "plateau": ("ReduceOnPlateau", "per epoch", "on valid loss: factor=0.5, patience=1, threshold=1e-4"),
}



def _steps(value, steps_per_epoch, key):
    """An epoch-valued option in batches (at least 1)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ConfigError(f"schedule option {key} must be a positive number of epochs, got {value!r}")
    return max(1, math.floor(value * steps_per_epoch + 0.5))


def _schedule_defaults(name, learning_rate, epochs):
    """Default options of each schedule (epoch-valued ones in epochs)."""
    return {
        "constant": {},
        "step": {"step_size": max(1, epochs // 3), "gamma": 0.1},
        "multistep": {"milestones": [epochs * 0.5, epochs * 0.75], "gamma": 0.1},
        "exponential": {"gamma": 0.9},
        "cosine": {"eta_min": 0.0},
        "onecycle": {"max_learning_rate": learning_rate, "divide_factor": 25.0, "end_learning_rate": 1e-4,
                     "phase_pct": 0.3, "anneal_strategy": "cos", "three_phase": False},
        "plateau": {"factor": 0.5, "patience": 1, "threshold": 1e-4, "threshold_mode": "rel",
                    "cooldown": 0, "min_lr": 0.0},
    }[name]


def _one_flat(lr):
    """LambdaDecay's factor for the constant schedule (a named function, so it can be pickled)."""
    return 1.0


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


def build_schedule(name, learning_rate, *, epochs, steps_per_epoch, warmup_steps=0, **kwargs):
    """A paddle.optimizer.lr scheduler by name; constant is one too, so the trainer is uniform.

    How each schedule is stepped (the trainer records the lr of every batch, so that is what you see):

        schedule     Paddle class           stepped    epoch-valued options
        constant     LambdaDecay(1.0)       per batch  -
        step         StepDecay              per batch  step_size (epochs -> batches)
        multistep    MultiStepDecay         per batch  milestones (epochs -> batches)
        exponential  ExponentialDecay       per batch  gamma per epoch -> gamma**(1/steps_per_epoch) per batch
        cosine       CosineAnnealingDecay   per batch  T_max = the whole run (minus the warmup)
        onecycle     OneCycleLR             per batch  total_steps = the whole run (minus the warmup)
        plateau      ReduceOnPlateau        per epoch  needs the epoch's valid loss

    Everything but plateau is stepped per batch, with epoch-valued options converted to batches
    (rounded to the nearest batch): step and multistep change the lr at epoch boundaries when given
    whole epochs (the multistep default, 50% and 75% of the run, may fall inside an epoch);
    exponential decays smoothly but is exactly lr * gamma**e at the start of epoch e.

    Warmup (`warmup_steps` batches, Paddle's LinearWarmup) goes in front of any schedule: the lr rises
    linearly from warmup_start_lr (0) to the schedule's first lr, and the schedule's clock starts when
    the warmup ends (that is how LinearWarmup works). So cosine and onecycle are fitted into the
    steps left after the warmup and still end with the run, while step/multistep/exponential happen
    warmup_steps batches later than their epoch boundaries. Plateau behind a warmup judges the valid
    loss only of epochs that end after the warmup.

    kwargs override the schedule's defaults (from `--schedule-arg key=value`); `warmup_start_lr`
    sets where a warmup starts (0). The scheduler gets attributes `schedule_name`, `per_epoch` and
    `reference_lr` (= learning_rate, for lr_groups).
    """
    if name not in SCHEDULES:
        raise ConfigError(f"unknown schedule {name!r}; choose one of: {', '.join(SCHEDULES)}")
    learning_rate = _check_positive("learning rate", learning_rate)
    for key, value in (("epochs", epochs), ("steps_per_epoch", steps_per_epoch)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{key} must be a positive integer, got {value!r}")
    total = epochs * steps_per_epoch
    if isinstance(warmup_steps, bool) or not isinstance(warmup_steps, int) or warmup_steps < 0:
        raise ConfigError(f"warmup steps must be an integer >= 0, got {warmup_steps!r}")
    if warmup_steps >= total:
        raise ConfigError(f"warmup steps ({warmup_steps}) must be fewer than the run's {total} steps")
    warmup_start_lr = kwargs.pop("warmup_start_lr", 0.0)

    options = _schedule_defaults(name, learning_rate, epochs)
    for key, value in kwargs.items():
        if key not in options:
            valid = ", ".join(list(options) + ["warmup_start_lr"])
            raise ConfigError(f"schedule {name!r} has no option {key!r}; valid: {valid}")
        options[key] = _check_value(f"schedule {name!r}", key, value, options[key])
    o = options
    after_warmup = total - warmup_steps
    try:
        if name == "constant":
            sched = lr_sched.LambdaDecay(learning_rate, _one_flat)
        elif name == "step":
            sched = lr_sched.StepDecay(learning_rate, _steps(o["step_size"], steps_per_epoch, "step_size"),
                                       gamma=o["gamma"])
        elif name == "multistep":
            if not isinstance(o["milestones"], (list, tuple)) or not o["milestones"]:
                raise ConfigError(f"schedule option milestones must be a list of epochs, got {o['milestones']!r}")
            steps = sorted({_steps(m, steps_per_epoch, "milestones") for m in o["milestones"]})
            sched = lr_sched.MultiStepDecay(learning_rate, steps, gamma=o["gamma"])
        elif name == "exponential":
            gamma = _check_positive("schedule option gamma", o["gamma"])
            sched = lr_sched.ExponentialDecay(learning_rate, gamma ** (1.0 / steps_per_epoch))
        elif name == "cosine":
            sched = lr_sched.CosineAnnealingDecay(learning_rate, T_max=after_warmup, eta_min=o["eta_min"])
        elif name == "onecycle":
            sched = lr_sched.OneCycleLR(total_steps=after_warmup, **o)
        else:  # plateau: Paddle's defaults are mode="min" (a loss), epsilon=1e-8
            sched = lr_sched.ReduceOnPlateau(learning_rate, **o)
        if warmup_steps > 0:
            warmup = _WarmupThenPlateau if name == "plateau" else lr_sched.LinearWarmup
            sched = warmup(sched, warmup_steps, start_lr=float(warmup_start_lr), end_lr=sched.last_lr)
    except (TypeError, ValueError, AssertionError) as e:
        raise ConfigError(f"schedule {name!r}: {e}") from None
    sched.schedule_name = name
    sched.per_epoch = name == "plateau"
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


# `paddle-mnist optimizers` (the table of everything above) lives in paddle_mnist/cli/optimizers.py.
