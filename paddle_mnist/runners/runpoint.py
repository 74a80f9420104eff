"""A run's point in weight space: its record, its network at chosen weights, and the fixed seeded
subset of training images every exploring tool measures on (the same images for every run)."""

import hashlib
import os
from dataclasses import dataclass, replace

import numpy as np
import paddle

from paddle_mnist.core.checks import whole
from paddle_mnist.core.checkpoints import BEST_PARAMS, LAST_CHECKPOINT, check_weights, load_state
from paddle_mnist.core.data import Split, load_dataset
from paddle_mnist.core.errors import ConfigError, DataError
from paddle_mnist.core.model import build_model
from paddle_mnist.core.weights import weights_hash
from paddle_mnist.schemas.run import load_record

WEIGHTS = ("best", "last", "init")
DEFAULT_IMAGES = 1000  # measured when not told: enough for a stable estimate, a minute on a CPU
SUBSET_SEED = 0  # which training images are measured (subset_indices): the same for every run
SUBSET_RULE = f"images of the train split drawn without replacement with seed {SUBSET_SEED}, in file order"


@dataclass
class RunPoint:
    """A run's network at one set of weights, and the subset it is measured on."""

    record: dict
    model: paddle.nn.Layer
    images: np.ndarray
    labels: np.ndarray
    subset_sha256: str
    weights: str


def initial_model(record, run_dir=None):
    """The run's initial weights, recomputed from its seed as training does, checked by hash
    (a failure names `run_dir`, the folder the user gave, when known)."""
    config = record["config"]
    with paddle.utils.unique_name.guard():  # fresh parameter names, as in training
        paddle.seed(int(config["seed"]))
        model = build_model(config["model"])
    expected = (record.get("fairness") or {}).get("init_weights_sha256")
    if expected and weights_hash(model) != expected:
        raise DataError(f"{run_dir or record['name']}: cannot reproduce the run's initial weights from its seed "
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
    check_weights(state, model, path)
    model.set_state_dict(state)


def load_weights(run_dir, record, weights):
    """The run's network at its `weights`: "best" (best.pdparams), "last" (last.pdckpt) or "init"."""
    if weights not in WEIGHTS:
        raise ConfigError(f"--weights must be one of {', '.join(WEIGHTS)}, not {weights!r}")
    if weights != "init" and record.get("status") == "diverged":
        why = (record.get("divergence") or {}).get("reason", "diverged")
        raise DataError(f"{run_dir}: the run diverged ({why}): no trained weights to measure "
                        "(--weights init measures its starting point)")
    model = initial_model(record, run_dir)
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


def take_train_images(data, images):
    """`data` with only `images` of its training images (``train --train-images``), chosen by
    ``subset_indices``: the first M of them are the M that ``--sharpness-images``, ``hessian`` and
    ``landscape`` measure. None keeps them all. ``info`` says how many and by which rule."""
    if images is None:
        return data
    n_train = len(data.train.labels)
    if images > n_train:
        raise ConfigError(f"--train-images must be at most {n_train} (the train split), not {images}")
    chosen = subset_indices(n_train, images)
    info = dict(data.info, sizes=dict(data.info["sizes"], train=images),
                train_subset={"images": images, "of": n_train, "rule": SUBSET_RULE})
    return replace(data, train=Split(data.train.images[chosen], data.train.labels[chosen]), info=info)


def subset_size(record, images=None):
    """How many training images are measured: `images` (at most the run's train split), or with
    None DEFAULT_IMAGES, or the whole train split when it is smaller."""
    n_train = ((record.get("data") or {}).get("sizes") or {}).get("train")
    if images is None:
        return min(DEFAULT_IMAGES, n_train) if n_train else DEFAULT_IMAGES
    return whole("images", images, low=1, high=n_train)


def load_subset(record, data=None, images=None):
    """`images` training images of the run's data (``subset_indices``; None: ``subset_size``);
    `data` must hash the same."""
    images = subset_size(record, images)
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


def load_run(run_dir, weights="best", data=None, images=None):
    """A run folder's record, its network at `weights`, and the subset: a RunPoint."""
    record = load_record(run_dir)
    model = load_weights(run_dir, record, weights)  # before the data: a bad run folder costs nothing
    x, y, digest = load_subset(record, data, images)
    return RunPoint(record, model, x, y, digest, weights)


def check_writable(directory):
    """Refuse before the long computation, not after it."""
    if not os.access(directory, os.W_OK):
        raise DataError(f"{directory}: not writable (the results go into the run folder)")

