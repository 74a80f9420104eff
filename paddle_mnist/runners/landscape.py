"""`paddle-mnist landscape`: slices through the loss landscape around a trained network.

Three pictures of the training loss (and accuracy) on a fixed subset, from a run folder:

* ``random``: L(w + α·d) along one random direction d, normalised filter by filter (Li et al. 2018,
  "Visualizing the Loss Landscape of Neural Nets"): each filter of d (an output channel of a conv,
  an output unit of a linear layer) gets the norm of the same filter of w, so a step α = 1 changes
  every filter by its own size, whatever the layer's scale. Biases get a zero direction (Li et al.'s
  ``ignore biasbn``): they are few and moving them says little about the filters' landscape.
* ``interpolate``: L((1 − α)·w_init + α·w) from the run's initial weights (α = 0) to its trained ones
  (α = 1): Goodfellow, Vinyals and Saxe's (2015) question, is there a barrier on the straight line?
* ``plane``: L(w + α·d1 + β·d2) on a grid, with two such directions.

The run's point in weight space (record, weights, the seeded image subset) comes from
``runners/runpoint.py``; weights as one flat vector from ``core/weights.py``.
"""

from dataclasses import dataclass
from functools import partial
from typing import Optional

import numpy as np
import paddle
from paddle_mnist.core.progress import tqdm

from paddle_mnist.core import checks
from paddle_mnist.core.errors import ConfigError
from paddle_mnist.core.options import Options, option
from paddle_mnist.core.weights import get_flat, loss_and_accuracy, set_flat, trainable
from paddle_mnist.runners.runpoint import SUBSET_RULE, WEIGHTS, check_writable, initial_model, load_run
from paddle_mnist.schemas.landscape import KINDS, SCHEMA, write_landscape

DEFAULT_RANGES = {"random": "-1:1:41", "interpolate": "-0.25:1.25:31", "plane": "-1:1:21"}

# ---------------------------------------------------------------------------------------------
# Directions and slices
# ---------------------------------------------------------------------------------------------

def filter_normalised_direction(model, rng):
    """A Gaussian direction with every filter scaled to the norm of the same filter of the weights
    (Li et al. 2018), and zero for biases (1-D parameters). Paddle stores a Linear weight as
    [in, out], so its filters (output units) are columns; a conv weight's are its first axis."""
    pieces = []
    for layer in model.sublayers(include_self=True):
        for p in layer.parameters(include_sublayers=False):
            if p.stop_gradient:
                continue
            w = p.numpy().astype(np.float64)
            if w.ndim < 2:
                pieces.append((p.name, np.zeros_like(w)))
                continue
            axis = 1 if isinstance(layer, paddle.nn.Linear) else 0
            d = rng.standard_normal(w.shape)
            other = tuple(i for i in range(w.ndim) if i != axis)
            norm = lambda a: np.sqrt(np.square(a).sum(axis=other, keepdims=True))  # noqa: E731
            scale = norm(w) / norm(d)
            pieces.append((p.name, d * scale))
    by_name = dict(pieces)
    return np.concatenate([by_name[p.name].ravel() for p in trainable(model)])


def parse_span(text, name="--range"):
    """"START:STOP:N" -> N evenly spaced values from START to STOP, both included."""
    parts = str(text).split(":")
    try:
        start, stop, n = float(parts[0]), float(parts[1]), int(parts[2])
        ok = len(parts) == 3 and np.isfinite([start, stop]).all() and start < stop and 2 <= n <= 1001
    except (ValueError, IndexError):
        ok = False
    if not ok:
        raise ConfigError(f"{name} must be START:STOP:N with START < STOP and 2 <= N <= 1001 "
                          f"(e.g. -1:1:41), not {text!r}", option=name)
    return np.linspace(start, stop, n)


def _span(name, text):
    """The check of a span: parsed once to refuse a bad one, kept as the text it was given."""
    parse_span(text, name)
    return text


@dataclass(frozen=True)
class LandscapeOptions(Options):
    """Which slice `landscape` takes through which weights; kind and weights go into its JSON."""

    kind: str = option("random", "random (default), interpolate or plane", choices=KINDS,
                       check=partial(checks.one_of, choices=KINDS), echo=True)
    span: Optional[str] = option(None, "the values of α (and β): random -1:1:41, interpolate -0.25:1.25:31, "
                                 "plane -1:1:21", flag="--range", metavar="START:STOP:N", check=_span)
    images: Optional[int] = option(None, "evaluate on N training images, a fixed draw, the same for every run "
                                   "(default: 1000, or the whole train split when it is smaller)")
    weights: str = option("best", "best.pdparams (default), last.pdckpt, or the run's initial weights from its seed",
                          choices=WEIGHTS, check=partial(checks.one_of, choices=WEIGHTS), echo=True)
    data: Optional[str] = option(None, "the run's data file if it moved (default: the path in the record; "
                                 "checked by hash)")
    seed: int = option(0, "seed of the random directions (default: 0)", check=checks.seed)

    def check_together(self):
        if self.kind == "interpolate" and self.weights == "init":
            raise ConfigError("kind 'interpolate' runs from the initial weights to the trained ones: weights best "
                              "or last, not init", option="kind")


def _finite(x):
    return float(x) if np.isfinite(x) else None


def slice_values(model, images, labels, loss, points, bar=None):
    """Loss and accuracy at each flat weight vector in `points` (the model ends where it began)."""
    params = trainable(model)
    start = get_flat(params)
    losses, accs = [], []
    try:
        for w in points:
            set_flat(params, w)
            value, acc = loss_and_accuracy(model, images, labels, loss)
            losses.append(_finite(value))
            accs.append(acc)
            if bar is not None:
                bar.update(1)
    finally:
        set_flat(params, start)
    return losses, accs


def landscape(run_dir, kind="random", *, span=None, images=None, seed=0, weights="best", data=None,
              progress=True, write=True):
    """Loss and accuracy on a slice through the run's weights; writes RUN_DIR/landscape-KIND.json
    (every value, ``schemas.landscape``; ``analysis.hessian.figure_landscape`` draws it) and returns
    its content, with ``files`` [that path]."""
    o = LandscapeOptions(kind=kind, span=span, images=images, weights=weights, data=data, seed=seed)
    alphas = parse_span(o.span or DEFAULT_RANGES[kind], "span")
    if write:
        check_writable(run_dir)
    run = load_run(run_dir, weights, data, images)
    loss = run.record["config"]["loss"]
    w = get_flat(trainable(run.model))
    centre_loss, centre_acc = loss_and_accuracy(run.model, run.images, run.labels, loss)
    result = {"schema": SCHEMA, **o.echo(), "run": run.record["name"],
              "images": len(run.labels), "subset": SUBSET_RULE, "subset_sha256": run.subset_sha256,
              "data_sha256": run.record["data"].get("sha256"), "loss_function": loss,
              "config": {k: run.record["config"].get(k) for k in ("model", "optimizer", "lr", "epochs", "seed")},
              "centre": {"loss": centre_loss, "accuracy": centre_acc}, "alphas": alphas.tolist()}
    rng = np.random.default_rng(o.seed)
    total = len(alphas) ** (2 if kind == "plane" else 1)
    bar = tqdm(total=total, desc=f"landscape {kind}", unit="point", disable=not progress, leave=False)
    try:
        if kind == "interpolate":
            init = initial_model(run.record, run_dir)
            w0 = get_flat(trainable(init))
            result["init"] = dict(zip(("loss", "accuracy"), loss_and_accuracy(init, run.images, run.labels, loss)))
            points = ((1 - a) * w0 + a * w for a in alphas)
        else:
            result["seed"] = o.seed
            result["direction"] = {"distribution": "gaussian", "normalisation": "filter-wise (Li et al. 2018)",
                                   "biases": "zero"}
            d1 = filter_normalised_direction(run.model, rng)
            if kind == "random":
                points = (w + a * d1 for a in alphas)
            else:
                d2 = filter_normalised_direction(run.model, rng)
                result["betas"] = alphas.tolist()
                result["direction"]["cosine_d1_d2"] = float(d1 @ d2 / np.linalg.norm(d1) / np.linalg.norm(d2))
                points = (w + a * d1 + b * d2 for b in alphas for a in alphas)
        losses, accs = slice_values(run.model, run.images, run.labels, loss, points, bar)
    finally:
        bar.close()
    if kind == "plane":  # rows: beta, columns: alpha
        n = len(alphas)
        losses, accs = [losses[i * n:(i + 1) * n] for i in range(n)], [accs[i * n:(i + 1) * n] for i in range(n)]
    result.update(loss=losses, accuracy=accs, paddle=paddle.__version__)
    if write:
        result["files"] = [write_landscape(run_dir, result)]
    return result
