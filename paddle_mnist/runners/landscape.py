"""Slices through the loss landscape around a trained network, and the run's point in weight space.

Three pictures of the training loss (and accuracy) on a fixed subset, from a run folder:

* ``random``: L(w + α·d) along one random direction d, normalised filter by filter (Li et al. 2018,
  "Visualizing the Loss Landscape of Neural Nets"): each filter of d (an output channel of a conv,
  an output unit of a linear layer) gets the norm of the same filter of w, so a step α = 1 changes
  every filter by its own size, whatever the layer's scale. Biases get a zero direction (Li et al.'s
  ``ignore biasbn``): they are few and moving them says little about the filters' landscape.
* ``interpolate``: L((1 − α)·w_init + α·w) from the run's initial weights (α = 0) to its trained ones
  (α = 1): Goodfellow, Vinyals and Saxe's (2015) question, is there a barrier on the straight line?
* ``plane``: L(w + α·d1 + β·d2) on a grid, with two such directions.

``load_run`` (the run's record, its weights and a fixed draw of N training images) is shared with
``paddle_mnist.runners.hessian``.
"""

import hashlib
import os
from dataclasses import dataclass

import numpy as np
import paddle
from tqdm.auto import tqdm

from paddle_mnist.core.checkpoints import BEST_PARAMS, LAST_CHECKPOINT, load_state
from paddle_mnist.core.data import load_dataset
from paddle_mnist.core.errors import ConfigError, DataError
from paddle_mnist.core.loss import build_loss
from paddle_mnist.core.model import build_model
from paddle_mnist.schemas.run import load_record

SCHEMA = "paddle_mnist.landscape/1"
WEIGHTS = ("best", "last", "init")
KINDS = ("random", "interpolate", "plane")
DEFAULT_RANGES = {"random": "-1:1:41", "interpolate": "-0.25:1.25:31", "plane": "-1:1:21"}
CHUNK = 250  # images per forward pass
SUBSET_SEED = 0  # which training images are measured (subset_indices): the same for every run
SUBSET_RULE = f"images of the train split drawn without replacement with seed {SUBSET_SEED}, in file order"


# ---------------------------------------------------------------------------------------------
# A run's point in weight space: record, weights, the fixed subset
# ---------------------------------------------------------------------------------------------

@dataclass
class RunPoint:
    """A run's network at one set of weights, and the subset it is measured on."""

    record: dict
    model: paddle.nn.Layer
    images: np.ndarray
    labels: np.ndarray
    subset_sha256: str
    weights: str


def initial_model(record):
    """The run's initial weights, recomputed from its seed as training does, checked by hash."""
    from paddle_mnist.runners.train import weights_hash

    config = record["config"]
    with paddle.utils.unique_name.guard():  # fresh parameter names, as in training
        paddle.seed(int(config["seed"]))
        model = build_model(config["model"])
    expected = (record.get("fairness") or {}).get("init_weights_sha256")
    if expected and weights_hash(model) != expected:
        raise DataError(f"{record['name']}: cannot reproduce the run's initial weights from its seed "
                        "(another Paddle or model code than the run's?)")
    return model


def _fit(model, state, path, model_name):
    """Load `state` into `model`; a state that does not fit, or is not finite, is a DataError."""
    if not isinstance(state, dict):
        raise DataError(f"{path}: not a state_dict")
    want = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    have = {k: tuple(np.shape(v)) for k, v in state.items()}
    if want != have:
        wrong = sorted(set(want) ^ set(have)) or [k for k in want if want[k] != have[k]]
        raise DataError(f"{path}: does not fit the record's model {model_name!r} "
                        f"(differs at {', '.join(wrong[:3])}{', ...' if len(wrong) > 3 else ''})")
    bad = [k for k, v in state.items() if not np.all(np.isfinite(v))]
    if bad:
        raise DataError(f"{path}: weights are not finite ({bad[0]}): nothing to measure")
    model.set_state_dict({k: np.asarray(v, dtype=np.float32) for k, v in state.items()})


def load_weights(run_dir, record, weights):
    """The run's network at its `weights`: "best" (best.pdparams), "last" (last.pdckpt) or "init"."""
    if weights not in WEIGHTS:
        raise ConfigError(f"--weights must be one of {', '.join(WEIGHTS)}, not {weights!r}")
    if weights != "init" and record.get("status") == "diverged":
        why = (record.get("divergence") or {}).get("reason", "diverged")
        raise DataError(f"{run_dir}: the run diverged ({why}): no trained weights to measure "
                        "(--weights init measures its starting point)")
    model = initial_model(record)
    if weights != "init":
        path = os.path.join(run_dir, BEST_PARAMS if weights == "best" else LAST_CHECKPOINT)
        state = load_state(path)
        if weights == "last":
            state = state.get("model") if isinstance(state, dict) else None
        _fit(model, state, path, record["config"]["model"])
    model.eval()
    return model


def subset_indices(n_train, images):
    """Which training images are measured: `images` of them drawn by a fixed seed, in file order.

    Not simply the first N: a file may be sorted by label (the project's 5,000 real training digits
    are, 500 of each: its first 1,000 are only 0s and 1s). The seed never depends on the run, so every
    run trained on the same data is measured on the same images."""
    return np.sort(np.random.default_rng(SUBSET_SEED).permutation(n_train)[:images])


def load_subset(record, data=None, images=1000):
    """`images` training images of the run's data (``subset_indices``); `data` must hash the same."""
    n_train = ((record.get("data") or {}).get("sizes") or {}).get("train")
    if not isinstance(images, int) or images < 1 or (n_train and images > n_train):
        raise ConfigError(f"--images must be between 1 and {n_train or 'the train split size'}"
                          f"{' (the train split)' if n_train else ''}, not {images!r}")
    source = data or record["data"]["path"]
    dataset = load_dataset(source, progress=False)
    want = record["data"].get("sha256")
    if want and dataset.info["sha256"] != want:
        flag = "--data " if data else ""
        raise DataError(f"{flag}{source}: not the data this run was trained on "
                        f"(sha256 {dataset.info['sha256'][:12]}, the record's {want[:12]})")
    if images > len(dataset.train.labels):
        raise ConfigError(f"--images must be at most {len(dataset.train.labels)} (the train split), not {images}")
    chosen = subset_indices(len(dataset.train.labels), images)
    x = np.asarray(dataset.train.images[chosen], dtype=np.float32)
    y = np.asarray(dataset.train.labels[chosen], dtype=np.int64).reshape(-1)
    digest = hashlib.sha256(x.tobytes() + y.tobytes()).hexdigest()
    return x, y, digest


def load_run(run_dir, weights="best", data=None, images=1000):
    """A run folder's record, its network at `weights`, and the subset: a RunPoint."""
    record = load_record(run_dir)
    model = load_weights(run_dir, record, weights)  # before the data: a bad run folder costs nothing
    x, y, digest = load_subset(record, data, images)
    return RunPoint(record, model, x, y, digest, weights)


# ---------------------------------------------------------------------------------------------
# Weights as one flat vector, and the loss at any point
# ---------------------------------------------------------------------------------------------

def trainable(model):
    return [p for p in model.parameters() if not p.stop_gradient]


def get_flat(params):
    """The parameters as one float64 vector (in ``model.parameters()`` order)."""
    return np.concatenate([p.numpy().astype(np.float64).ravel() for p in params])


def set_flat(params, flat):
    sizes = [int(np.prod(p.shape)) for p in params]
    for p, piece in zip(params, np.split(np.asarray(flat), np.cumsum(sizes)[:-1])):
        p.set_value(piece.reshape(p.shape).astype(np.float32))


def loss_and_accuracy(model, images, labels, loss="cross_entropy", chunk=CHUNK):
    """Mean loss (the run's loss function, summed in float64) and accuracy on the subset."""
    loss_fn, n = build_loss(loss), len(labels)
    total, correct = 0.0, 0
    with paddle.no_grad():
        for i in range(0, n, chunk):
            logits = model(paddle.to_tensor(images[i:i + chunk]))
            y = paddle.to_tensor(labels[i:i + chunk].reshape(-1, 1))
            total += float(loss_fn(logits, y)) * len(y)
            correct += int((logits.argmax(axis=1) == y[:, 0]).sum())
    return total / n, correct / n


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


def parse_range(text, option="--range"):
    """"START:STOP:N" -> N evenly spaced values from START to STOP, both included."""
    parts = str(text).split(":")
    try:
        start, stop, n = float(parts[0]), float(parts[1]), int(parts[2])
        ok = len(parts) == 3 and np.isfinite([start, stop]).all() and start < stop and 2 <= n <= 1001
    except (ValueError, IndexError):
        ok = False
    if not ok:
        raise ConfigError(f"{option} must be START:STOP:N with START < STOP and 2 <= N <= 1001 "
                          f"(e.g. -1:1:41), not {text!r}")
    return np.linspace(start, stop, n)


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


def check_writable(directory):
    """Refuse before the long computation, not after it."""
    if not os.access(directory, os.W_OK):
        raise DataError(f"{directory}: not writable (the results go into the run folder)")


def output_name(prefix, weights):
    """landscape-random.json for the best weights, landscape-random-last.json for the others."""
    return prefix if weights == "best" else f"{prefix}-{weights}"


def landscape(run_dir, kind="random", *, span=None, images=1000, seed=0, weights="best", data=None,
              formats=("png",), progress=True, write=True):
    """Loss and accuracy on a slice through the run's weights; writes RUN_DIR/landscape-KIND.json
    (every value) and its figure, redrawable from the JSON (``analysis.curvature.figure_landscape``)."""
    from paddle_mnist.analysis.hessian import figure_landscape
    from paddle_mnist.analysis.style import save_figure
    from paddle_mnist.core.files import write_json

    if kind not in KINDS:
        raise ConfigError(f"--kind must be one of {', '.join(KINDS)}, not {kind!r}")
    if kind == "interpolate" and weights == "init":
        raise ConfigError("--kind interpolate runs from the initial weights to --weights best or last, not init")
    alphas = parse_range(span or DEFAULT_RANGES[kind])
    if write:
        check_writable(run_dir)
    run = load_run(run_dir, weights, data, images)
    loss = run.record["config"]["loss"]
    w = get_flat(trainable(run.model))
    centre_loss, centre_acc = loss_and_accuracy(run.model, run.images, run.labels, loss)
    result = {"schema": SCHEMA, "kind": kind, "run": run.record["name"], "weights": weights,
              "images": len(run.labels), "subset": SUBSET_RULE, "subset_sha256": run.subset_sha256,
              "data_sha256": run.record["data"].get("sha256"), "loss_function": loss,
              "config": {k: run.record["config"].get(k) for k in ("model", "optimizer", "lr", "epochs", "seed")},
              "centre": {"loss": centre_loss, "accuracy": centre_acc}, "alphas": alphas.tolist()}
    rng = np.random.default_rng(seed)
    total = len(alphas) ** (2 if kind == "plane" else 1)
    bar = tqdm(total=total, desc=f"landscape {kind}", unit="point", disable=not progress, leave=False)
    try:
        if kind == "interpolate":
            init = initial_model(run.record)
            w0 = get_flat(trainable(init))
            result["init"] = dict(zip(("loss", "accuracy"), loss_and_accuracy(init, run.images, run.labels, loss)))
            points = ((1 - a) * w0 + a * w for a in alphas)
        else:
            result["seed"] = seed
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
        name = output_name(f"landscape-{kind}", weights)
        fig = figure_landscape(result)
        result["files"] = save_figure(fig, run_dir, name, formats) + [os.path.join(run_dir, f"{name}.json")]
        write_json(os.path.join(run_dir, f"{name}.json"), {k: v for k, v in result.items() if k != "files"})
    return result
