"""Training: the course's loop on Paddle 3, with every step recorded.

``train(config) -> record`` runs one training run and writes its record (see record.py) after every
epoch, so an interrupted run keeps what it did and ``resume=True`` continues it to the very same
curves. The loop itself is the course's: forward, loss, backward, step, clear_grad.
"""

import hashlib
import json
import math
import os
import platform
import signal
import time
from dataclasses import asdict, dataclass, field
from typing import Optional

import numpy as np
import paddle
from tqdm.auto import tqdm

from paddle_mnist import __version__, runtime
from paddle_mnist.checkpoints import BEST_OPT, BEST_PARAMS, LAST_CHECKPOINT, load_state, save_best, save_last  # noqa: F401
from paddle_mnist.data import batches, epoch_order, load_dataset
from paddle_mnist.errors import ConfigError
from paddle_mnist.loss import LOSSES, build_loss
from paddle_mnist.model import MODELS, build_model
from paddle_mnist.optim import (
    OPTIMIZERS,
    SCHEDULES,
    build_optimizer,
    build_schedule,
    optimizer_keywords,
    parse_overrides,
    step_after_batch,
    step_after_epoch,
)
from paddle_mnist.loop import evaluate, is_diverged
from paddle_mnist.record import SCHEMA, finite_or_none, load_record, save_record



@dataclass
class TrainConfig:
    """Everything that defines a run. ``lr`` is the (base) learning rate."""

    model: str = "cnn"
    optimizer: str = "sgd"
    lr: float = 0.01
    epochs: int = 5
    batch_size: int = 100
    seed: int = 0
    schedule: str = "constant"
    warmup_steps: int = 0
    loss: str = "cross_entropy"
    weight_decay: Optional[float] = None  # None: the optimizer's default (AdamW 0.01, others none)
    grad_clip: Optional[float] = None
    opt_args: dict = field(default_factory=dict)
    schedule_args: dict = field(default_factory=dict)
    lr_groups: dict = field(default_factory=dict)
    patience: Optional[int] = None
    data: Optional[str] = None
    out: Optional[str] = None
    device: Optional[str] = None
    threads: Optional[int] = None
    resume: bool = False
    visualdl: Optional[str] = None
    wandb: Optional[str] = None

    def check(self):
        """Reject impossible values early, with the option's name in the message."""
        if self.model not in MODELS:
            raise ConfigError(f"--model {self.model!r} is unknown; choose one of: {', '.join(MODELS)}")
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"--optimizer {self.optimizer!r} is unknown; choose one of: {', '.join(OPTIMIZERS)}")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"--schedule {self.schedule!r} is unknown; choose one of: {', '.join(SCHEDULES)}")
        if self.loss not in LOSSES:
            raise ConfigError(f"--loss {self.loss!r} is unknown; choose one of: {', '.join(LOSSES)}")
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise ConfigError(f"--lr must be a positive number, not {self.lr!r}")
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be a positive integer, not {value!r}")
        if self.patience is not None and self.patience < 1:
            raise ConfigError(f"--patience must be a positive integer, not {self.patience!r}")
        if self.warmup_steps < 0:
            raise ConfigError(f"--warmup-steps must be >= 0, not {self.warmup_steps!r}")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ConfigError(f"--grad-clip must be a positive max norm, not {self.grad_clip!r}")
        valid = optimizer_keywords(self.optimizer)
        for key in self.opt_args:
            if key not in valid:
                raise ConfigError(f"--opt {key}: optimizer {self.optimizer!r} has no option {key!r}; "
                                  f"valid: {', '.join(valid)}")
        # the schedule's own options are checked by building it once (any step count will do here)
        build_schedule(self.schedule, self.lr, epochs=self.epochs, steps_per_epoch=self.warmup_steps + 1,
                       warmup_steps=self.warmup_steps, **self.schedule_args)
        return self


# Fields that do not change the numbers a run produces (where it writes, how it is shown, ...).
NOT_RESULT_FIELDS = ("data", "out", "device", "threads", "resume", "visualdl", "wandb")


def config_id(config):
    """A short hash of the fields that decide the result: equal ids, equal curves (same data)."""
    d = {k: v for k, v in asdict(config).items() if k not in NOT_RESULT_FIELDS}
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


def run_name(config):
    """A readable default name, e.g. ``adam-lr0.001-s0``."""
    return f"{config.optimizer}-lr{config.lr:g}-s{config.seed}"


def choose_device(device=None):
    """GPU when Paddle was built with CUDA and sees a GPU, else CPU; ``device`` overrides."""
    if device is None:
        has_gpu = paddle.device.is_compiled_with_cuda() and paddle.device.cuda.device_count() > 0
        device = "gpu" if has_gpu else "cpu"
    try:
        return paddle.device.set_device(device)
    except (ValueError, RuntimeError) as e:
        raise ConfigError(f"--device {device!r} cannot be used: {str(e).splitlines()[0]}") from None


def weights_hash(model):
    h = hashlib.sha256()
    for key, value in sorted(model.state_dict().items()):
        h.update(key.encode())
        h.update(np.ascontiguousarray(value.numpy()).tobytes())
    return h.hexdigest()


def batch_order_hash(n, batch_size, seed, epochs):
    h = hashlib.sha256(f"{n}/{batch_size}".encode())
    for epoch in range(epochs):
        h.update(epoch_order(n, seed, epoch).astype(np.int64).tobytes())
    return h.hexdigest()


def environment(device, threads):
    """Versions and machine; `threads` is what the run asked Paddle for (null: Paddle's default)."""
    return {
        "paddle_mnist": __version__,
        "paddle": paddle.__version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "device": str(device),
        "threads": threads or (int(os.environ["OMP_NUM_THREADS"]) if os.environ.get("OMP_NUM_THREADS") else None),
        "cpus": os.cpu_count(),
        "mkl_cpu_type": os.environ.get("MKL_DEBUG_CPU_TYPE"),  # see paddle_mnist/__init__.py
        "platform": platform.platform(),
    }


def train(config, *, data=None, progress=True, name=None):
    """Train one run and return its record (also written to ``config.out``/record.json when set).

    ``data``: an already loaded ``MnistData`` (sweeps load it once); otherwise ``config.data`` is
    resolved like every command's ``--data``.
    """
    # Paddle names parameters from a global counter (conv2d_7.w_0, ...) and keys the optimizer's
    # state by those names: a fresh counter per run lets a checkpoint resume in any process.
    with paddle.utils.unique_name.guard():
        return _train(config, data=data, progress=progress, name=name)


def _train(config, *, data, progress, name):
    if isinstance(config, dict):
        config = TrainConfig(**config)
    config.check()
    if config.threads:
        runtime.set_threads(config.threads)
    device = choose_device(config.device)
    if data is None:
        data = load_dataset(config.data)  # the data never depends on the training seed
    train_split, valid_split, eval_split = data.train, data.valid, data.eval
    n_train = len(train_split.labels)
    steps_per_epoch = math.ceil(n_train / config.batch_size)

    # Same seed -> same initial weights, whatever the optimizer: this is what makes comparisons fair.
    paddle.seed(config.seed)
    model = build_model(config.model)
    init_hash = weights_hash(model)
    schedule = build_schedule(config.schedule, config.lr, epochs=config.epochs,
                              steps_per_epoch=steps_per_epoch, warmup_steps=config.warmup_steps,
                              **config.schedule_args)
    optimizer = build_optimizer(config.optimizer, model, schedule, weight_decay=config.weight_decay,
                                grad_clip=config.grad_clip, lr_groups=config.lr_groups or None,
                                **config.opt_args)
    loss_fn = build_loss(config.loss)

    out = config.out
    record = {
        "schema": SCHEMA,
        "name": name or (os.path.basename(os.path.normpath(out)) if out else run_name(config)),
        "status": "running",
        "config": asdict(config),
        "config_id": config_id(config),
        "data": dict(data.info),
        "fairness": {
            "init_weights_sha256": init_hash,
            "batch_order_sha256": batch_order_hash(n_train, config.batch_size, config.seed, config.epochs),
        },
        "environment": environment(device, config.threads),
        "steps_per_epoch": steps_per_epoch,
        "steps": {"loss": [], "lr": []},
        "epochs": [],
        "best": None,
        "eval": None,
        "divergence": None,
        "timing": {"wall_seconds": 0.0, "train_seconds": 0.0, "images_per_second": None},
    }
    if out and config.resume:
        record = resume_from(out, record, model, optimizer)
    start_epoch = len(record["epochs"])
    best_acc = record["best"]["valid_acc"] if record["best"] else -1.0
    best_state = None  # kept in memory when there is no run directory to hold best.pdparams
    bad_epochs = epochs_since_best(record)

    from paddle_mnist.tracking import open_trackers

    trackers = open_trackers(record["config"], record["name"])
    losses, lrs = record["steps"]["loss"], record["steps"]["lr"]
    wall_start = time.perf_counter() - record["timing"]["wall_seconds"]
    train_seconds = record["timing"]["train_seconds"]
    bar = tqdm(total=config.epochs * steps_per_epoch, initial=start_epoch * steps_per_epoch,
               disable=not progress, desc=record["name"], unit="step", mininterval=0.5, leave=progress)
    status = "completed"
    try:
        for epoch in range(start_epoch, config.epochs):
            # ---- the course's training loop ----
            model.train()
            epoch_start = time.perf_counter()
            loss_sum, correct = 0.0, 0
            for imgs, labels in batches(train_split, config.batch_size, shuffle=True,
                                        seed=config.seed, epoch=epoch):
                x, y = paddle.to_tensor(imgs), paddle.to_tensor(labels)
                logits = model(x)
                loss = loss_fn(logits, y)
                loss.backward()
                lr = optimizer.get_lr()  # the lr this step used
                optimizer.step()
                optimizer.clear_grad()
                step_after_batch(schedule)
                # ---- recording ----
                loss_value = float(loss)
                losses.append(finite_or_none(loss_value))
                lrs.append(lr)
                loss_sum += loss_value * len(labels)
                correct += int((logits.argmax(axis=1) == y[:, 0]).sum())
                trackers.log_step(len(losses), losses[-1], lr)
                bar.update(1)
                reason = is_diverged(losses)
                if reason:
                    record["divergence"] = {"step": len(losses), "reason": reason}
                    break
            train_seconds += time.perf_counter() - epoch_start
            if record["divergence"]:
                status = "diverged"
                break
            valid_loss, valid_acc = evaluate(model, valid_split, loss_fn)
            step_after_epoch(schedule, valid_loss)
            metrics = {
                "epoch": epoch + 1,
                "train_loss": loss_sum / n_train,
                "train_acc": correct / n_train,
                "valid_loss": valid_loss,
                "valid_acc": valid_acc,
                "lr": lrs[-1],
                "seconds": time.perf_counter() - epoch_start,
            }
            record["epochs"].append({k: finite_or_none(v) if isinstance(v, float) else v
                                     for k, v in metrics.items()})
            trackers.log_epoch(epoch + 1, metrics)
            bar.set_postfix(epoch=epoch + 1, loss=f"{metrics['train_loss']:.3f}",
                            acc=f"{valid_acc:.1%}")
            if valid_acc > best_acc:
                best_acc, bad_epochs = valid_acc, 0
                record["best"] = {"epoch": epoch + 1, "valid_acc": valid_acc}
                if out:
                    save_best(out, model, optimizer)
                else:
                    best_state = {k: v.numpy().copy() for k, v in model.state_dict().items()}
            else:
                bad_epochs += 1
            stop = config.patience is not None and bad_epochs >= config.patience
            if stop:
                status = "stopped_early"
            set_timing(record, wall_start, train_seconds)
            if out:
                # record first, then the resume point: a kill between the two costs one epoch of
                # rework on --resume, never a wrong curve.
                record["status"] = status if stop or epoch + 1 == config.epochs else "running"
                save_record(out, record)
                save_last(out, model, optimizer, epoch + 1)
            if stop:
                break
    except KeyboardInterrupt:
        status = "interrupted"
    finally:
        bar.close()

    if status != "interrupted" and record["best"] is not None and status != "diverged":
        # Final eval with the best checkpoint (by valid accuracy), as the issue and the course want.
        model.set_state_dict(best_state or load_state(os.path.join(out, BEST_PARAMS)))
        eval_loss, eval_acc = evaluate(model, eval_split, loss_fn)
        record["eval"] = {"loss": finite_or_none(eval_loss), "acc": eval_acc, "epoch": record["best"]["epoch"]}
    record["status"] = status
    set_timing(record, wall_start, train_seconds)
    trackers.log_final({"eval_loss": (record["eval"] or {}).get("loss"),
                        "eval_acc": (record["eval"] or {}).get("acc"), "status": status})
    trackers.close()
    if out:
        save_record(out, record)
    return record


def set_timing(record, wall_start, train_seconds):
    steps = len(record["steps"]["loss"])
    batch = record["config"]["batch_size"]
    n_train = record["data"]["sizes"]["train"]
    spe = record["steps_per_epoch"]
    # images seen: full epochs plus the steps of a partial one
    images = (steps // spe) * n_train + (steps % spe) * batch
    record["timing"] = {
        "wall_seconds": time.perf_counter() - wall_start,
        "train_seconds": train_seconds,
        "images_per_second": images / train_seconds if train_seconds > 0 else None,
    }


def epochs_since_best(record):
    if not record["best"]:
        return 0
    return len(record["epochs"]) - record["best"]["epoch"]


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
    model.set_state_dict(ckpt["model"])
    optimizer.set_state_dict(ckpt["optimizer"])
    done = int(ckpt["epoch"])
    record = dict(old)
    record["epochs"] = old["epochs"][:done]
    keep = done * fresh["steps_per_epoch"]
    record["steps"] = {k: v[:keep] for k, v in old["steps"].items()}
    record["best"] = None
    for m in record["epochs"]:
        if record["best"] is None or m["valid_acc"] > record["best"]["valid_acc"]:
            record["best"] = {"epoch": m["epoch"], "valid_acc": m["valid_acc"]}
    record["status"] = "running"
    record["eval"] = None
    record["divergence"] = None
    record["environment"] = fresh["environment"]
    record["config"] = fresh["config"]
    return record


# ---------------------------------------------------------------------------------------------
# command line: `paddle-mnist train ...` and tools/train.py


def add_train_arguments(p):
    """The flags that make a TrainConfig (shared by `train` and, as lists, `compare`)."""
    d = TrainConfig()
    p.add_argument("--model", default=d.model, help=f"network: {', '.join(MODELS)} (default: cnn, the course's MNIST)")
    p.add_argument("--optimizer", default=d.optimizer, help=f"one of: {', '.join(OPTIMIZERS)} (default: sgd)")
    p.add_argument("--lr", type=float, default=d.lr, help="learning rate (default: 0.01)")
    p.add_argument("--epochs", type=int, default=d.epochs, help="passes over the training split (default: 5)")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help="images per step (default: 100)")
    p.add_argument("--seed", type=int, default=d.seed, help="fixes initial weights and batch order (default: 0)")
    p.add_argument("--schedule", default=d.schedule, help=f"learning-rate schedule: {', '.join(SCHEDULES)}")
    p.add_argument("--schedule-arg", action="append", default=[], metavar="KEY=VALUE",
                   help="a schedule parameter, e.g. gamma=0.5 (repeatable)")
    p.add_argument("--warmup-steps", type=int, default=0, help="linear warm-up steps in front of the schedule")
    p.add_argument("--loss", default=d.loss, help=f"loss function: {', '.join(LOSSES)}")
    p.add_argument("--weight-decay", type=float, default=None,
                   help="weight decay (L2; decoupled for adamw; default: the optimizer's own, adamw 0.01, others 0)")
    p.add_argument("--grad-clip", type=float, default=None, metavar="MAX_NORM",
                   help="clip gradients by global norm (10 is a common choice for this net)")
    p.add_argument("--opt", action="append", default=[], metavar="KEY=VALUE",
                   help="an optimizer argument, e.g. beta1=0.8 (repeatable; see `paddle-mnist optimizers`)")
    p.add_argument("--lr-group", action="append", default=[], metavar="PREFIX=LR",
                   help="learning rate for the layers whose name starts with PREFIX, e.g. conv=0.01 fc=0.001")
    p.add_argument("--patience", type=int, default=None,
                   help="stop early after this many epochs without a better valid accuracy")
    p.add_argument("--data", default=None,
                   help="course JSON(.gz) file, IDX directory, or 'synthetic' (default: work/mnist.json.gz, then Paddle's cache)")
    p.add_argument("--device", default=None, help="cpu, gpu or gpu:N (default: gpu if Paddle has CUDA, else cpu)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for Paddle (default: Paddle's choice)")
    p.add_argument("--visualdl", default=None, metavar="DIR", help="also log to VisualDL under DIR (needs visualdl)")
    p.add_argument("--wandb", default=None, metavar="PROJECT", help="also log to Weights & Biases (needs wandb)")


def config_from_args(args, **extra):
    lr_groups = {}
    for item in args.lr_group:
        key, sep, value = item.partition("=")
        try:
            lr_groups[key] = float(value)
        except ValueError:
            raise ConfigError(f"--lr-group expects PREFIX=LR, not {item!r}") from None
        if not sep or not key:
            raise ConfigError(f"--lr-group expects PREFIX=LR, not {item!r}")
    values = dict(
        model=args.model, optimizer=args.optimizer, lr=args.lr, epochs=args.epochs,
        batch_size=args.batch_size, seed=args.seed, schedule=args.schedule,
        warmup_steps=args.warmup_steps, loss=args.loss, weight_decay=args.weight_decay,
        grad_clip=args.grad_clip, opt_args=parse_overrides(args.opt),
        schedule_args=parse_overrides(args.schedule_arg, option="--schedule-arg"), lr_groups=lr_groups,
        patience=args.patience, data=args.data, device=args.device, threads=args.threads,
        visualdl=args.visualdl, wandb=args.wandb,
    )
    values.update(extra)
    return TrainConfig(**values)


def summary_line(record):
    """One line a learner reads at the end of a run."""
    parts = [f"{record['name']}: {record['status']}"]
    if record["epochs"]:
        last = record["epochs"][-1]
        parts.append(f"epochs {last['epoch']}, train loss {last['train_loss']:.4f}, "
                     f"valid acc {last['valid_acc']:.2%}")
    if record["eval"]:
        parts.append(f"eval acc {record['eval']['acc']:.2%} (best epoch {record['eval']['epoch']})")
    if record["divergence"]:
        parts.append(f"diverged at step {record['divergence']['step']}: {record['divergence']['reason']}")
    ips = record["timing"]["images_per_second"]
    if ips:
        parts.append(f"{ips:,.0f} images/s")
    return "; ".join(parts)


def raise_keyboard_interrupt(signum, frame):
    raise KeyboardInterrupt


def run_train(args):
    config = config_from_args(args, resume=args.resume)
    config.out = args.out or os.path.join("work", "runs", run_name(config))
    # SIGTERM (e.g. a notebook's stop, `kill`) ends the run like Ctrl-C: recorded as interrupted.
    signal.signal(signal.SIGTERM, raise_keyboard_interrupt)
    record = train(config, progress=not args.quiet)
    print(summary_line(record))
    print(f"record: {os.path.join(config.out, 'record.json')}")
    from paddle_mnist.cli.common import EXIT_DIVERGED, EXIT_INTERRUPTED

    return {"diverged": EXIT_DIVERGED, "interrupted": EXIT_INTERRUPTED}.get(record["status"], 0)


def add_parser(subparsers):
    p = subparsers.add_parser(
        "train", help="train one run and record its loss curve",
        description="Train the course's network with one optimizer and learning rate; write "
                    "OUT/record.json (after every epoch), OUT/best.pdparams and OUT/best.pdopt. "
                    "Exit codes: 0 completed or stopped early, 1 bad input, 3 diverged, 130 interrupted.")
    add_train_arguments(p)
    p.add_argument("--out", default=None, help="run directory (default: work/runs/OPTIMIZER-lrLR-sSEED)")
    p.add_argument("--resume", action="store_true", help="continue the interrupted run in --out")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run_train)
