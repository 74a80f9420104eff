"""Training: the course's loop, with every step recorded.

``train(config) -> record`` runs one training run and writes its record (see record.py) after every
epoch, so an interrupted run keeps what it did and ``resume=True`` continues it to the very same
curves. The loop itself is the course's (loop.py): forward, loss, backward, step, clear_grad.
This file is the set-up around it: model and optimizer, the record, checkpoints, resume, early stop.
"""

import hashlib
import math
import os
import time
from dataclasses import asdict
from types import SimpleNamespace

import numpy as np
import paddle

from paddle_mnist.core import runtime
from paddle_mnist.core.checkpoints import BEST_PARAMS, LAST_CHECKPOINT, load_state, save_best, save_last
from paddle_mnist.core.config import (TrainConfig, as_config, config_id, lr_default_note,  # noqa: F401  (course names)
                                      resolve_lr, run_name)
from paddle_mnist.core.data import epoch_order, load_dataset
from paddle_mnist.core.errors import ConfigError
from paddle_mnist.core.files import ensure_writable_dir
from paddle_mnist.core.loop import FETCH_EVERY, device_batches, evaluate, host_batches, is_diverged, train_epoch
from paddle_mnist.core.loss import build_loss
from paddle_mnist.core.model import build_model
from paddle_mnist.core.optim import build_optimizer
from paddle_mnist.core.progress import tqdm
from paddle_mnist.core.weights import weights_hash
from paddle_mnist.core.trajectory_log import TrajectoryLog
from paddle_mnist.core.schedules import build_schedule, step_after_epoch
from paddle_mnist.schemas.run import best_epoch, finite_or_none, load_record, new_record, save_record, set_timing
from paddle_mnist.runners.runpoint import take_train_images
from paddle_mnist.runners.sharpness import SharpnessLog, check_sharpness
from paddle_mnist.runners.tracking import open_trackers


def train(config, *, data=None, progress=True, name=None, on_save=None, on_steps=None):
    """Train one run and return its record (also written to ``config.out``/record.json when set).

    ``data``: an already loaded ``MnistData`` (sweeps load it once); otherwise ``config.data`` is
    resolved like every command's ``--data``. ``on_save(out)`` is called each time the run folder's
    files have been written (after every epoch and at the end), e.g. to ship them elsewhere.
    ``on_steps(record)`` is called each time new steps reach the record (every ``FETCH_EVERY``
    steps, when the loop copies them to the host anyway) and after each epoch: a live view reads
    the record there, without one more device -> host copy. It must return quickly.
    """
    # Paddle names parameters from a global counter (conv2d_7.w_0, ...) and keys the optimizer's
    # state by those names: a fresh counter per run lets a checkpoint resume in any process.
    config = as_config(config)
    defaults = {"lr": lr_default_note(config)} if config.lr is None else {}  # said in the record
    with paddle.utils.unique_name.guard():
        return _train(resolve_lr(config).check(), data, progress, name, on_save or (lambda out: None), defaults,
                      on_steps or (lambda record: None))


def _train(config, data, progress, name, on_save, defaults, on_steps):
    if config.trajectory and not config.out:
        raise ConfigError("--trajectory needs a run folder (--out): the weights are saved there")
    if config.threads:
        runtime.set_threads(config.threads)
    device = choose_device(config.device)
    data = data if data is not None else load_dataset(config.data)  # never depends on the training seed
    whole_train, data = data.train, take_train_images(data, config.train_images)  # --train-images
    check_sharpness(config, len(data.train.labels))  # --sharpness-images, before any work
    steps_per_epoch = math.ceil(len(data.train.labels) / config.batch_size)
    config.check(steps_per_epoch)  # now the schedule can be checked over the whole run
    run = build_run(config, steps_per_epoch)  # checks the optimizer's own arguments too
    out = config.out and ensure_writable_dir(config.out)  # before any work, not after it
    record = new_record(
        name or (os.path.basename(os.path.normpath(out)) if out else run_name(config)), asdict(config),
        config_id(config), data.info,
        {"init_weights_sha256": weights_hash(run.model),
         "batch_order_sha256": batch_order_hash(len(data.train.labels), config.batch_size, config.seed,
                                                config.epochs)},
        runtime.environment(device, config.threads), steps_per_epoch)
    record["defaults"] = defaults  # {field: why its value was chosen} for fields the caller left out
    if out and config.resume:
        record = resume_from(out, record, run.model, run.optimizer)
    run.sharpness = SharpnessLog(config, run, whole_train, record)  # --sharpness-every (measures step 0)
    trackers = open_trackers(record["config"], record["name"])
    try:
        status, best_state = run_epochs(config, run, data, record, trackers, progress, on_save, on_steps, device)
        run.sharpness.finish(record)  # the last step's point, before the best weights are loaded
        if status not in ("interrupted", "diverged") and record["best"] is not None:
            # the eval split is scored once, with the best checkpoint (by valid accuracy)
            run.model.set_state_dict(best_state or load_state(os.path.join(out, BEST_PARAMS)))
            eval_loss, eval_acc = evaluate(run.model, data.eval, run.loss_fn)
            record["eval"] = {"loss": finite_or_none(eval_loss), "acc": eval_acc, "epoch": record["best"]["epoch"]}
        record["status"] = status
        set_timing(record, run.wall_start, run.train_seconds)
        trackers.log_final({"eval_loss": (record["eval"] or {}).get("loss"),
                            "eval_acc": (record["eval"] or {}).get("acc"), "status": status})
    finally:
        trackers.close()
    if out:
        save_record(out, record)
        on_save(out)
    return record


def build_run(config, steps_per_epoch):
    """Model, schedule, optimizer and loss of a run. The seed is set first: same seed, same initial
    weights whatever the optimizer, which is what makes comparisons fair."""
    paddle.seed(config.seed)
    model = build_model(config.model)
    schedule = build_schedule(config.schedule, config.lr, epochs=config.epochs, steps_per_epoch=steps_per_epoch,
                              warmup_steps=config.warmup_steps, **config.schedule_args)
    optimizer = build_optimizer(config.optimizer, model, schedule, weight_decay=config.weight_decay,
                                grad_clip=config.grad_clip, lr_groups=config.lr_groups or None, **config.opt_args)
    return SimpleNamespace(model=model, schedule=schedule, optimizer=optimizer, loss_fn=build_loss(config.loss),
                           wall_start=time.perf_counter(), train_seconds=0.0)


def run_epochs(config, run, data, record, trackers, progress, on_save, on_steps, device):
    """The epochs of a run (from where a resumed one stopped); returns (status, best weights in memory)."""
    run.wall_start -= record["timing"]["wall_seconds"]
    run.train_seconds = record["timing"]["train_seconds"]
    start = len(record["epochs"])
    spe = record["steps_per_epoch"]
    if start and config.patience is not None and start - record["best"]["epoch"] >= config.patience:
        return "stopped_early", None  # resumed after its early stop, before its evaluation
    weights_log = TrajectoryLog(run.model, config.trajectory, config.out, step=start * spe)  # --trajectory
    batches_of = batch_source(data.train, config, device)
    bar = tqdm(total=config.epochs * spe, initial=start * spe, disable=not progress, desc=record["name"],
               unit="step", mininterval=0.5, leave=progress)

    def show():  # after each chunk of steps and each epoch: the bar's numbers, then the live view
        bar.set_postfix(live_numbers(record), refresh=False)
        on_steps(record)

    log = StepLog(record, trackers, show)
    best_state, status = None, "completed"
    try:
        for epoch in range(start, config.epochs):
            epoch_start = time.perf_counter()
            log.loss_sum, log.correct = 0.0, 0
            ok = train_epoch(run.model, run.optimizer, run.schedule, run.loss_fn, batches_of(epoch), log,
                             on_step=lambda: (bar.update(1), weights_log.on_step(), run.sharpness.on_step()))
            train_time = time.perf_counter() - epoch_start  # the steps alone (time to target reads it)
            run.train_seconds += train_time
            if not ok:
                return "diverged", None
            valid_loss, valid_acc = evaluate(run.model, data.valid, run.loss_fn)
            step_after_epoch(run.schedule, valid_loss)
            n_train = len(data.train.labels)
            metrics = {"epoch": epoch + 1, "train_loss": log.loss_sum / n_train, "train_acc": log.correct / n_train,
                       "valid_loss": valid_loss, "valid_acc": valid_acc, "lr": record["steps"]["lr"][-1],
                       "seconds": time.perf_counter() - epoch_start, "train_seconds": train_time}
            record["epochs"].append({k: finite_or_none(v) if isinstance(v, float) else v for k, v in metrics.items()})
            trackers.log_epoch(epoch + 1, metrics)
            show()
            best_state = keep_best(record, run, config.out) or best_state
            stop = config.patience is not None and len(record["epochs"]) - record["best"]["epoch"] >= config.patience
            status = "stopped_early" if stop else "completed"
            set_timing(record, run.wall_start, run.train_seconds)
            if config.out:
                # record first, then the resume point: a kill between the two costs one epoch of
                # rework on --resume, never a wrong curve. The record stays "running" until the
                # eval split is scored (in _train): a kill before that leaves a run to resume.
                weights_log.end_epoch(record)  # the weights file first: the record names it
                save_record(config.out, record)
                save_last(config.out, run.model, run.optimizer, epoch + 1)
                on_save(config.out)
            if stop:
                break
    except KeyboardInterrupt:
        status = "interrupted"
    finally:
        bar.close()
    return status, best_state


class StepLog:
    """Takes the steps of an epoch from ``train_epoch`` chunk by chunk: records each step's loss and
    lr, sums the epoch's loss and accuracy, and applies the divergence rule at every step, cutting
    the record at the first step where it fires (later steps of the chunk are dropped). After each
    whole chunk it calls ``on_chunk()`` (the progress bar and the live view)."""

    def __init__(self, record, trackers, on_chunk):
        self.record, self.trackers, self.on_chunk = record, trackers, on_chunk
        self.losses, self.lrs = record["steps"]["loss"], record["steps"]["lr"]
        self.loss_sum, self.correct = 0.0, 0

    def __call__(self, losses, corrects, lrs, sizes):
        for loss, correct, lr, n in zip(losses, corrects, lrs, sizes):
            self.losses.append(finite_or_none(loss))
            self.lrs.append(lr)
            self.loss_sum += loss * n
            self.correct += correct
            self.trackers.log_step(len(self.losses), self.losses[-1], lr)
            reason = is_diverged(self.losses)
            if reason:
                self.record["divergence"] = {"step": len(self.losses), "reason": reason}
                return False
        self.on_chunk()
        return True


def live_numbers(record):
    """What the progress bar shows while a run trains: the epoch, the mean loss of the last
    ``FETCH_EVERY`` steps, the lr of the last step, and the last epoch's valid accuracy."""
    losses = [x for x in record["steps"]["loss"][-FETCH_EVERY:] if x is not None]
    numbers = {"epoch": math.ceil(len(record["steps"]["loss"]) / record["steps_per_epoch"])}
    if losses:
        numbers["loss"] = f"{sum(losses) / len(losses):.3f}"
    if record["steps"]["lr"]:
        numbers["lr"] = f"{record['steps']['lr'][-1]:.3g}"
    if record["epochs"]:
        numbers["valid_acc"] = f"{record['epochs'][-1]['valid_acc']:.1%}"
    return numbers


class StepsSender:
    """``on_steps`` for a run of a sweep: sends ``send((name, note))`` with what is new in the record
    since the last note: {"first": index of the first new step, "losses": their losses, "total":
    the run's steps, "lr": the last lr, "valid_acc": the last epoch's or None}. A few hundred bytes
    every ``FETCH_EVERY`` steps: cheap enough for a queue between processes."""

    def __init__(self, name, send):
        self.name, self.send, self.sent = name, send, 0

    def __call__(self, record):
        losses, epochs = record["steps"]["loss"], record["epochs"]
        first = min(self.sent, len(losses))
        self.send((self.name, {"first": first, "losses": losses[first:],
                               "total": record["steps_per_epoch"] * record["config"]["epochs"],
                               "lr": record["steps"]["lr"][-1] if record["steps"]["lr"] else None,
                               "valid_acc": epochs[-1]["valid_acc"] if epochs else None}))
        self.sent = len(losses)


def keep_best(record, run, out):
    """After an epoch: if its valid accuracy is the best so far, keep its weights (in the run folder,
    or in memory when there is none) and return the in-memory copy."""
    latest = record["epochs"][-1]
    if record["best"] is not None and latest["valid_acc"] <= record["best"]["valid_acc"]:
        return None
    record["best"] = {"epoch": latest["epoch"], "valid_acc": latest["valid_acc"]}
    if out:
        save_best(out, run.model, run.optimizer)
        return None
    return {k: v.numpy().copy() for k, v in run.model.state_dict().items()}


def batch_source(split, config, device):
    """epoch -> that epoch's batches. On a GPU the split is copied to it once per run and batches
    are indexed there; on a CPU batches come straight from host memory (the same batches)."""
    if "gpu" in str(device):
        images, labels = paddle.to_tensor(split.images), paddle.to_tensor(split.labels)
        return lambda epoch: device_batches(images, labels, config.batch_size, seed=config.seed, epoch=epoch)
    return lambda epoch: host_batches(split, config.batch_size, seed=config.seed, epoch=epoch)


def choose_device(device=None):
    """GPU when Paddle was built with CUDA and sees a GPU, else CPU; ``device`` overrides."""
    if device is None:
        has_gpu = paddle.device.is_compiled_with_cuda() and paddle.device.cuda.device_count() > 0
        device = "gpu" if has_gpu else "cpu"
    elif device.startswith("gpu") and not paddle.device.is_compiled_with_cuda():
        raise ConfigError(f"--device {device}: this Paddle ({paddle.__version__}) is a CPU build; install a GPU "
                          "build (paddlepaddle-gpu, see the README's install table, 安装 / Install) or use --device cpu")
    try:
        return paddle.device.set_device(device)
    except (ValueError, RuntimeError) as e:
        raise ConfigError(f"--device {device!r} cannot be used: {str(e).splitlines()[0]}") from None


def batch_order_hash(n, batch_size, seed, epochs):
    h = hashlib.sha256(f"{n}/{batch_size}".encode())
    for epoch in range(epochs):
        h.update(epoch_order(n, seed, epoch).astype(np.int64).tobytes())
    return h.hexdigest()


def resume_from(out, fresh, model, optimizer):
    """Load the last checkpoint of an interrupted run in `out`; return its record cut to that point."""
    ckpt_path = os.path.join(out, LAST_CHECKPOINT)
    if not os.path.exists(ckpt_path) or not os.path.exists(os.path.join(out, "record.json")):
        return fresh  # nothing to resume: start from the beginning
    old = load_record(out)
    if old["config_id"] != fresh["config_id"]:
        raise ConfigError(f"{out}: --resume with a different configuration than the run there "
                          f"(config id {old['config_id']} vs {fresh['config_id']}); use another --out")
    if old["data"].get("sha256") != fresh["data"].get("sha256"):
        raise ConfigError(f"{out}: --resume with different data than the run there")
    ckpt = load_state(ckpt_path)
    if not isinstance(ckpt, dict) or not {"model", "optimizer", "epoch"} <= set(ckpt):
        raise ConfigError(f"{ckpt_path}: not a resume checkpoint (expected model, optimizer and epoch)")
    wanted = {k: list(v.shape) for k, v in model.state_dict().items()}
    found = {k: list(getattr(v, "shape", [])) for k, v in dict(ckpt["model"]).items()}
    if found != wanted:
        raise ConfigError(f"{ckpt_path}: its weights do not fit the run's {fresh['config']['model']!r} model")
    model.set_state_dict(ckpt["model"])
    optimizer.set_state_dict(ckpt["optimizer"])
    done = int(ckpt["epoch"])
    keep = done * fresh["steps_per_epoch"]
    return dict(old, epochs=old["epochs"][:done], steps={k: v[:keep] for k, v in old["steps"].items()},
                best=best_epoch(old["epochs"][:done]), status="running", eval=None, divergence=None,
                environment=fresh["environment"], config=fresh["config"])
