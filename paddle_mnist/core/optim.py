"""Optimizers by name, so a run is chosen with a word and a number (schedules: schedules.py).

Everything here is Paddle's own ``paddle.optimizer`` / ``paddle.optimizer.lr`` classes; this module
only holds sensible defaults, checks options (a typo is a ConfigError listing what is valid), and
knows when each schedule must be stepped.
"""

import ast
import inspect
from dataclasses import dataclass

import paddle
from paddle.optimizer import lr as lr_sched

from paddle_mnist.core import checks
from paddle_mnist.core.errors import ConfigError

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
    since       the Paddle version that first has the class and every default argument
    """

    class_name: str
    defaults: dict
    typical_lr: float
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
    "sgd": OptimizerSpec("SGD", {}, 0.1),
    "momentum": OptimizerSpec("Momentum", {"momentum": 0.9}, 0.01),
    "nesterov": OptimizerSpec("Momentum", {"momentum": 0.9, "use_nesterov": True}, 0.01),
    "adagrad": OptimizerSpec("Adagrad", {"epsilon": 1e-6}, 0.01),
    "rmsprop": OptimizerSpec("RMSProp", {"rho": 0.95, "epsilon": 1e-6, "momentum": 0.0}, 0.001),
    # Adadelta scales its own step, so Paddle's learning_rate is only a multiplier: 1.0 is the paper's
    "adadelta": OptimizerSpec("Adadelta", {"rho": 0.95, "epsilon": 1e-6}, 1.0),
    "adam": OptimizerSpec("Adam", dict(_ADAM_BETAS), 0.001),
    "amsgrad": OptimizerSpec("Adam", dict(_ADAM_BETAS, amsgrad=True), 0.001, since="3.0"),
    "adamax": OptimizerSpec("Adamax", dict(_ADAM_BETAS), 0.002),
    "adamw": OptimizerSpec("AdamW", dict(_ADAM_BETAS, weight_decay=0.01), 0.001),
    "radam": OptimizerSpec("RAdam", dict(_ADAM_BETAS), 0.001, since="3.0"),
    "nadam": OptimizerSpec("NAdam", dict(_ADAM_BETAS, momentum_decay=0.004), 0.002, since="3.0"),
}
# each optimizer's colour and marker in the figures: paddle_mnist/analysis/style.py (OPTIMIZER_STYLES)


def check_optimizer(name, option="--optimizer"):
    """The spec of optimizer `name`, or a ConfigError: unknown, or not in the installed Paddle."""
    if name not in OPTIMIZERS:
        raise ConfigError(f"{option} {name!r} is unknown; choose one of: {', '.join(OPTIMIZERS)}", option=option)
    spec = OPTIMIZERS[name]
    if not spec.available:
        raise ConfigError(f"{option} {name!r} needs Paddle >= {spec.since} (paddle.optimizer.{spec.class_name}"
                          f"{' with ' + ', '.join(sorted(spec.defaults)) if spec.cls else ''}); "
                          f"the installed Paddle is {paddle.__version__}", option=option)
    return spec


def check_optimizers(option, optimizers):
    """"sgd,adam" or a list -> the list of names (repeats dropped, order kept), each known to this Paddle."""
    if isinstance(optimizers, str):
        optimizers = [x.strip() for x in optimizers.split(",") if x.strip()]
    names = list(dict.fromkeys(optimizers))
    if not names:
        raise ConfigError(f"{option} needs at least one optimizer, e.g. sgd,adam (choose from {', '.join(OPTIMIZERS)})",
                          option=option)
    for one in names:
        check_optimizer(one, option)  # unknown, or missing from this Paddle
    return names


# Arguments build_optimizer sets itself; they are not `--opt` overrides.
_OWN_ARGS = ("self", "learning_rate", "parameters", "weight_decay", "grad_clip", "name")


def optimizer_keywords(name):
    """The keyword arguments `--opt key=value` may set for optimizer `name` (from Paddle's signature)."""
    cls = check_optimizer(name).cls
    return [p for p in inspect.signature(cls).parameters if p not in _OWN_ARGS]


def check_value(what, key, value, default):
    """Type-check one override against its default (values from the CLI arrive as Python literals):
    a bool for a bool, a whole number for an int, a finite number for a float (core/checks.py)."""
    name = f"{what}: {key}"
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{name} must be True or False, not {value!r}")
        return value
    if isinstance(default, int):
        return checks.whole(name, value)
    if isinstance(default, float):
        return float(checks.number(name, value))
    return value


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
        checks.positive(f"learning rate of lr group {prefix!r}", lr)
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
        kwargs[key] = check_value(f"optimizer {name!r}", key, value, default)

    if not isinstance(learning_rate, lr_sched.LRScheduler):
        learning_rate = float(checks.positive("learning rate", learning_rate))
    if weight_decay is not None:
        checks.number("weight decay", weight_decay, low=0)
        if cls is paddle.optimizer.AdamW:
            kwargs["weight_decay"] = float(weight_decay)
        else:  # 0 means no regularizer at all, rather than an L2Decay(0.0) that costs an op per step
            kwargs["weight_decay"] = float(weight_decay) if weight_decay > 0 else None
    if grad_clip is not None and not isinstance(grad_clip, paddle.nn.clip.GradientClipBase):
        grad_clip = paddle.nn.ClipGradByGlobalNorm(float(checks.positive("gradient clip norm", grad_clip)))

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
         "typical_lr": s.typical_lr, "available": s.available, "since": s.since}
        for name, s in OPTIMIZERS.items()
    ]


# `paddle-mnist optimizers` (the table of everything above) lives in paddle_mnist/cli/optimizers.py.
