"""The learning-rate range test (L. Smith 2015; fastai's ``lr_find``): a good first learning rate in a minute.

Train for a few hundred batches while the learning rate grows exponentially from tiny to huge,
and watch the loss: at first nothing happens (the lr is too small), then the loss falls (good
learning rates), then it shoots up (too large). We stop when it diverges, put the network back
as it was, and suggest two learning rates, as fastai does:

* **steepest descent**: where the smoothed loss falls fastest (per factor of lr), on the way
  down to its minimum;
* **minimum / 10**: a tenth of the lr at the lowest smoothed loss (the minimum itself is already
  on the edge of divergence).

Too large a learning rate does not always end in NaN: SGD on the cnn often "dies" instead, its
loss settling at ln 10 ≈ 2.3 (every digit guessed at 10%). That, too, is the end of the useful range.

Both are a place to start, not an answer: train with them and compare (``paddle-mnist compare``).
"""

import math
import os
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from functools import partial
from typing import Optional, Union

import numpy as np
import paddle
from tqdm import tqdm

from paddle_mnist.core import checks
from paddle_mnist.core.data import batches, load_dataset
from paddle_mnist.core.errors import ConfigError
from paddle_mnist.core.files import ensure_writable_dir
from paddle_mnist.core.loop import train_step
from paddle_mnist.core.loss import LOSSES, build_loss
from paddle_mnist.core.model import build_model
from paddle_mnist.core.optim import build_optimizer, check_optimizer, parse_overrides
from paddle_mnist.core.options import Options, option
from paddle_mnist.schemas.lr_find import SCHEMA, write_lr_find

DIVERGE_FACTOR = 4.0   # stop once the smoothed loss exceeds 4× its best
SKIP_END = 5           # the last points (the blow-up) are not used for suggestions
MIN_FALL = 0.1         # a suggestion needs the smoothed loss 10 % below where it began
MAX_STEPS = 100_000    # 200 steps take about a minute on a CPU; more than this is a typo


def _optimizer(name, value):
    check_optimizer(value, option=name)
    return value


@dataclass(frozen=True)
class LrFindOptions(Options):
    """What the range test ramps, and over what. `model` and `data` may also be a network and
    loaded digits (from Python); the fields marked echo go into lr_find.json as they are."""

    optimizer: str = option("sgd", "optimizer to test (default: sgd; see `paddle-mnist optimizers`)",
                            check=_optimizer, echo=True)
    opt_args: dict = option({}, "an optimizer argument, e.g. momentum=0.5 (repeatable)", flag="--opt",
                            metavar="KEY=VALUE", parse=parse_overrides, check=checks.mapping, echo=True)
    start: float = option(1e-5, "first learning rate (default: 1e-5)", check=checks.positive, echo=True)
    end: float = option(10.0, "last learning rate (default: 10)", echo=True)  # checked with start
    steps: int = option(200, "batches from --start to --end (default: 200)",
                        check=partial(checks.whole, low=10, high=MAX_STEPS), echo=True)
    model: Union[str, object] = option("cnn", "network: cnn, linear or mlp (default: cnn)")
    batch_size: int = option(100, "images per batch (default: 100)", check=partial(checks.whole, low=1), echo=True)
    data: Optional[str] = option(None, "course JSON(.gz) file, IDX directory, or 'synthetic' (default: as `train`)")
    seed: int = option(0, "fixes the initial weights and batch order (default: 0)", check=checks.seed, echo=True)
    out: Optional[str] = option(None, "directory for lr_find.png/.json (default: work/lr-find/OPTIMIZER)")
    loss: str = option("cross_entropy", "the loss function", flag=False, check=partial(checks.one_of, choices=LOSSES))
    smoothing: Optional[float] = option(None, "beta of the loss's moving average (None: smoothing_for(steps))",
                                        flag=False, check=partial(checks.number, low=0, high=0.999))

    def check_together(self):
        checks.number("end", self.end, low=self.start, low_open=True)
        if not math.isfinite(self.end / self.start):
            raise ConfigError(f"end / start must be a finite ratio, not {self.end!r} / {self.start!r}")

    @property
    def beta(self):
        """The moving average's beta: `smoothing`, or one that fits the number of steps."""
        return smoothing_for(self.steps) if self.smoothing is None else self.smoothing


@contextmanager
def output_dir(out, option="--out"):
    """Create `out` and write a test file there before minutes of work are spent; if the block
    fails (a refused option, Ctrl-C), remove the folders this made, so a refusal leaves nothing."""
    made, path = [], os.path.abspath(out)
    while not os.path.exists(path):
        made.append(path)
        path = os.path.dirname(path)
    ensure_writable_dir(out, option)
    try:
        yield out
    except BaseException:
        for folder in made:  # deepest first; a folder that now holds something stays
            try:
                os.rmdir(folder)
            except OSError:
                break
        raise


def exponential_lrs(start, end, steps):
    """`steps` learning rates from `start` to `end`, each a constant factor above the previous one."""
    return [start * (end / start) ** (i / (steps - 1)) for i in range(steps)]


def smoothing_for(steps):
    """The moving average's beta: it spans about 1/20 of the test (beta 0.9 for 200 steps).

    fastai uses 0.98 for its 100 steps; that lags so far behind the raw loss that the smoothed
    minimum lands well past the real one. Between 0.8 and 0.98.
    """
    return min(0.98, max(0.8, 1.0 - 20.0 / steps))


def smooth(losses, beta):
    """Debiased exponential moving average (as Adam's moments): early values are not pulled towards zero."""
    out, avg = [], 0.0
    for i, loss in enumerate(losses):
        avg = beta * avg + (1 - beta) * loss
        out.append(avg / (1 - beta ** (i + 1)))
    return out


def suggest(lrs, smoothed, planned_steps, start=None):
    """fastai's suggestions from the smoothed curve, skipping the first tenth and the last few points,
    and only where the loss fell: by at least MIN_FALL below where it began.

    Returns {"steepest": lr where d(loss)/d(log lr) is most negative before the lowest loss,
    "minimum_div10": lr at the lowest loss / 10 (None when below `start`, untested), "minimum":
    lr at the lowest loss, "reason": why a suggestion is missing, or None}.
    """
    none = {"steepest": None, "minimum_div10": None, "minimum": None}
    lrs, smoothed = np.asarray(lrs, dtype=np.float64), np.asarray(smoothed, dtype=np.float64)
    lo, hi = planned_steps // 10, len(lrs) - SKIP_END
    if hi - lo < 3:  # stopped very early: use what there is
        lo, hi = 0, len(lrs)
    if hi - lo < 2:
        return dict(none, reason="too few steps for a suggestion: lower the start of the range or take more steps")
    first, tested_lrs = float(smoothed[0]), f"from {lrs[0]:.3g} to {lrs[-1]:.3g}"
    lrs, smoothed = lrs[lo:hi], smoothed[lo:hi]
    best = int(np.argmin(smoothed))
    if not smoothed[best] <= (1 - MIN_FALL) * first:  # a flat or rising curve has no good lr in it
        return dict(none, reason=f"the loss never fell: from {first:.3g} its lowest was {float(smoothed[best]):.3g} "
                                 f"(a fall of {MIN_FALL:.0%} is needed); no learning rate {tested_lrs} trains "
                                 "this network: test another range")
    # the steepest descent is looked for on the way *down* to the minimum: past it, a network that
    # blew up and then collapsed to guessing (loss ln 10 = 2.3) can show a spurious steep fall
    slope = np.gradient(smoothed, np.log(lrs))[: best + 1]
    minimum = float(lrs[best])
    tested = start is None or minimum / 10 >= start
    return {"steepest": float(lrs[np.argmin(slope)]), "minimum_div10": minimum / 10 if tested else None,
            "minimum": minimum,
            "reason": None if tested else f"minimum / 10 ({minimum / 10:.3g}) is below the tested range "
                                          f"(from {start:.3g}): lower its start to test it"}


def lr_find(optimizer="sgd", data=None, *, model="cnn", start=1e-5, end=10.0, steps=200, batch_size=100,
            seed=0, out=None, loss="cross_entropy", opt_args=None, smoothing=None, progress=False):
    """Run the range test; return {lrs, losses, smoothed, stopped, suggestions, ...}.

    optimizer   a name from paddle_mnist.core.optim (`opt_args`: its keyword overrides, e.g. momentum=0.9)
    data        as `--data` (a file, an IDX directory, "synthetic", None: the default chain),
                or an already loaded MnistData
    model       a name (a fresh network, seeded by `seed`) or a paddle.nn.Layer; either way its
                weights are put back afterwards, so the test leaves no trace
    out         a directory for lr_find.json (None: write nothing; ``paddle_mnist.lr_find`` also draws
                lr_find.png there); checked before the data is read, removed again if the test is refused
    smoothing   beta of the loss's moving average (None: smoothing_for(steps))
    """
    o = LrFindOptions(optimizer=optimizer, opt_args=opt_args, start=start, end=end, steps=steps, model=model,
                      batch_size=batch_size, data=data, seed=seed, out=out, loss=loss, smoothing=smoothing)
    loss_fn = build_loss(o.loss)
    paddle.seed(o.seed)
    net = build_model(o.model) if isinstance(o.model, str) else o.model
    # the lr grows by the same factor every batch: LambdaDecay multiplies the start lr by lambda(step)
    factor, n = o.end / o.start, o.steps
    schedule = paddle.optimizer.lr.LambdaDecay(o.start, lambda i: factor ** (min(i, n - 1) / (n - 1)))
    opt = build_optimizer(o.optimizer, net, schedule, **o.opt_args)  # checks the --opt values too
    with output_dir(o.out) if o.out else nullcontext():
        dataset = load_dataset(o.data, seed=o.seed, progress=progress)
        if o.batch_size > len(dataset.train):
            raise ConfigError(f"batch_size {o.batch_size} is larger than the training split "
                              f"({len(dataset.train)} images)", option="batch_size")
        with tqdm(total=n, disable=not progress, desc=f"lr-find {o.optimizer}", unit="step", mininterval=0.5) as bar:
            lrs, losses, smoothed, stopped = _ramp(net, opt, schedule, loss_fn, dataset.train, n, o.batch_size,
                                                   o.seed, o.beta, bar.update)

        result = {
            "schema": SCHEMA, **o.echo(),
            "model": o.model if isinstance(o.model, str) else type(o.model).__name__, "smoothing": o.beta,
            "data": getattr(dataset, "info", None),
            "lrs": lrs, "losses": losses, "smoothed": smoothed, "stopped": stopped,
            "suggestions": suggest(lrs, smoothed, n, o.start),
        }
        if o.out:
            result["files"] = {"json": write_lr_find(o.out, result)}
    return result


def _ramp(net, opt, schedule, loss_fn, split, steps, batch_size, seed, beta, tick):
    """The course's step (loop.train_step) at a rising lr, epoch after epoch, until `steps` or divergence.

    The network's weights and train/eval mode are put back afterwards, whatever happens.
    Returns (lrs, losses, smoothed, stopped)."""
    initial = {k: v.numpy().copy() for k, v in net.state_dict().items()}
    was_training = net.training
    lrs, losses, smoothed, stopped = [], [], [], None
    average = 0.0  # the moving average of smooth(), kept as we go
    try:
        net.train()
        epoch = 0
        while len(lrs) < steps and stopped is None:
            for imgs, labels in batches(split, batch_size, shuffle=True, seed=seed, epoch=epoch):
                lr = opt.get_lr()
                value = float(train_step(net, opt, loss_fn, paddle.to_tensor(imgs), paddle.to_tensor(labels))[0])
                if not math.isfinite(value):  # this step is not recorded (and its update is undone below)
                    stopped = {"step": len(lrs) + 1, "lr": lr, "reason": f"the loss is {value}"}
                    break
                schedule.step()
                lrs.append(lr)
                losses.append(value)
                average = beta * average + (1 - beta) * value
                smoothed.append(average / (1 - beta ** len(losses)))  # as smooth(losses, beta)
                tick(1)
                if smoothed[-1] > DIVERGE_FACTOR * min(smoothed):
                    stopped = {"step": len(lrs), "lr": lr,
                               "reason": f"smoothed loss {smoothed[-1]:.3g} > {DIVERGE_FACTOR:g}x its best {min(smoothed):.3g}"}
                    break
                if len(lrs) == steps:
                    break
            epoch += 1
    finally:
        net.set_state_dict(initial)  # the test must leave the network as it found it
        net.train() if was_training else net.eval()  # Paddle 2.6's Layer.train() takes no mode
    return lrs, losses, smoothed, stopped
