"""The run record: one JSON file per training run (the DeepOBS way).

The trainer writes it (after every epoch, atomically); comparisons and plots only read it.
Layout of ``record.json`` (schema ``paddle_mnist.run/1``)::

    schema        "paddle_mnist.run/1"
    name          run name, e.g. "adam-lr0.01-bs100-s0"
    status        "running" | "completed" | "diverged" | "stopped_early" | "interrupted" | "failed"
                  ("failed": a sweep's Ray worker died past its retries; then failure = {reason})
    config        every TrainConfig field (optimizer, lr, epochs, batch_size, seed, ...), as used
    defaults      {field: why}: fields the caller left out and the value chosen for them, e.g.
                  {"lr": "lr 1: adadelta's usual learning rate ..."}; {} when all were given
    config_id     hash of the config fields that change the result (not out/resume/device)
    data          {path, sha256, sizes: {train, valid, eval}, pixel_range, synthetic}; with
                  --train-images N also train_subset {images: N, of, rule} (sizes.train is then N)
    fairness      {init_weights_sha256, batch_order_sha256}: equal across a fair comparison
    environment   {paddle_mnist, paddle, python, numpy, device, threads, cpus, platform}
    steps_per_epoch  batches per epoch
    steps         {loss: [...], lr: [...]}: one entry per optimizer step, in order
    epochs        [{epoch, train_loss, train_acc, valid_loss, valid_acc, lr, seconds, train_seconds}, ...]
                  (seconds: the whole epoch with validation; train_seconds: its steps alone)
    best          {epoch, valid_acc} of the best checkpoint, or null
    eval          {loss, acc} on the eval split with the best checkpoint, or null
    divergence    null, or {step, reason}
    timing        {wall_seconds, train_seconds, images_per_second}
    sharpness     only with --sharpness-every N (runners/sharpness.py): {every, images, subset,
                  tolerance, lanczos_steps, cold_steps, method, difference (of finite differences),
                  stability {of, rule}, preconditioner,
                  seconds, points: [{step, lambda_max, preconditioned, grad_norm, loss, lr, threshold,
                  products, residual}, ...]}
    trajectory    only with --trajectory EVERY (core/trajectory_log.py): {file ("trajectory.npz" in the
                  run folder), every, points, dtype, saved_at}

Non-finite numbers (a diverged loss) are stored as null, so the file stays valid JSON.
"""

import glob
import math
import os
import time

from paddle_mnist.core.errors import DataError
from paddle_mnist.core.files import read_schema_json, write_json

SCHEMA = "paddle_mnist.run/1"
RECORD_FILE = "record.json"
STATUSES = ("running", "completed", "diverged", "stopped_early", "interrupted", "failed")
FINISHED = ("completed", "diverged", "stopped_early")

# What the analysis side needs to know of ``config`` without importing Paddle (core/config.py, where
# TrainConfig declares these, imports it): the fields that change what a run computes, in declaration
# order; the others (where it wrote, on which device, ...); the short names in run labels; the names
# ``config.optimizer`` takes, in the optimizer table's order. tests/test_layers.py checks that they
# equal TrainConfig's and core.optim.OPTIMIZERS.
RESULT_FIELDS = ("model", "optimizer", "lr", "batch_size", "epochs", "seed", "schedule", "warmup_steps",
                 "schedule_args", "loss", "weight_decay", "grad_clip", "opt_args", "lr_groups", "patience",
                 "train_images")
NOT_RESULT_FIELDS = ("data", "out", "device", "threads", "resume", "visualdl", "wandb", "sharpness_every",
                     "sharpness_images", "trajectory")
SHORT = {"lr": "lr", "batch_size": "bs", "epochs": "ep", "seed": "s", "warmup_steps": "warm", "weight_decay": "wd",
         "grad_clip": "clip", "patience": "pat", "train_images": "ntrain"}
OPTIMIZER_NAMES = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adadelta", "adam", "amsgrad", "adamax",
                   "adamw", "radam", "nadam")


def is_finished(record):
    """True when the run ended and its record holds all it owes: a completed or early-stopped run
    with a best checkpoint has its eval result (a run killed between its last epoch and its
    evaluation is not finished: a rerun resumes it and scores the eval split)."""
    status = record.get("status")
    if status not in FINISHED:
        return False
    return status == "diverged" or record.get("best") is None or record.get("eval") is not None


def finite_or_none(x):
    """A float for JSON: NaN and infinities become null."""
    x = float(x)
    return x if math.isfinite(x) else None


def output_name(prefix, weights):
    """The name of a measurement a tool writes into a run folder: ``hessian`` for the best weights,
    ``hessian-last`` / ``hessian-init`` for the others (then .json, .png)."""
    return prefix if weights == "best" else f"{prefix}-{weights}"


def save_record(run_dir, record):
    write_json(os.path.join(run_dir, RECORD_FILE), record)


def load_record(path):
    """Read one record (a record.json or the run directory holding it); a bad file is a DataError."""
    if os.path.isdir(path):
        path = os.path.join(path, RECORD_FILE)
    return read_schema_json(path, SCHEMA, "run record")


def find_records(directory):
    """All records under `directory` (any depth), sorted by path."""
    if not os.path.isdir(directory):
        raise DataError(f"{directory}: no such directory")
    paths = sorted(glob.glob(os.path.join(glob.escape(directory), "**", RECORD_FILE), recursive=True))
    return [load_record(p) for p in paths]


def new_record(name, config, config_id, data_info, fairness, environment, steps_per_epoch):
    """A fresh record (status "running", no steps yet): the layout above, in one place."""
    return {
        "schema": SCHEMA,
        "name": name,
        "status": "running",
        "config": config,
        "config_id": config_id,
        "data": dict(data_info),
        "fairness": fairness,
        "environment": environment,
        "steps_per_epoch": steps_per_epoch,
        "steps": {"loss": [], "lr": []},
        "epochs": [],
        "best": None,
        "eval": None,
        "divergence": None,
        "timing": {"wall_seconds": 0.0, "train_seconds": 0.0, "images_per_second": None},
    }


def set_timing(record, wall_start, train_seconds):
    """Wall and training time so far, and images per second of training (full epochs plus the
    steps of a partial one)."""
    steps = len(record["steps"]["loss"])
    batch = record["config"]["batch_size"]
    n_train = record["data"]["sizes"]["train"]
    spe = record["steps_per_epoch"]
    images = (steps // spe) * n_train + (steps % spe) * batch
    record["timing"] = {
        "wall_seconds": time.perf_counter() - wall_start,
        "train_seconds": train_seconds,
        "images_per_second": images / train_seconds if train_seconds > 0 else None,
    }


def best_epoch(epochs):
    """{epoch, valid_acc} of the epoch with the best valid accuracy (the first of equals), or None."""
    best = None
    for m in epochs:
        if best is None or m["valid_acc"] > best["valid_acc"]:
            best = {"epoch": m["epoch"], "valid_acc": m["valid_acc"]}
    return best
