"""The course's training loop, in pieces every tool shares: one step, one epoch, evaluation, divergence.

``train`` (training.py), ``lr_find`` and every later tool use these, so a step means the same
thing everywhere: forward, loss, backward, optimizer step, clear_grad.

Per-step numbers stay on the device and come to the host in chunks (``FETCH_EVERY`` steps and at the
end of an epoch): ``float(loss)`` at every step would make the host wait for a GPU at every step,
so Python's kernel launches and the GPU's work could never overlap. On a CPU it changes nothing.
"""

import numpy as np
import paddle

from paddle_mnist.core.data import batches, epoch_order
from paddle_mnist.core.schedules import step_after_batch

# Divergence rule (see README): a run has diverged when its loss is not finite, or when the mean of
# its last DIVERGE_WINDOW losses is more than DIVERGE_FACTOR times its first loss. A single spike
# (SGD at lr 0.3 jumps to ~11 on step 2, then trains) does not move a 20-step mean that far;
# a run that never recovers (SGD at lr 100 sits at 40-60, with no NaN) does.
DIVERGE_WINDOW = 20
DIVERGE_FACTOR = 4.0

FETCH_EVERY = 50  # steps between two device -> host copies of the per-step losses


def train_step(model, optimizer, loss_fn, x, y):
    """The course's step: forward, loss, backward, step, clear_grad. Returns (loss, logits)."""
    logits = model(x)
    loss = loss_fn(logits, y)
    loss.backward()
    optimizer.step()
    optimizer.clear_grad()
    return loss, logits


def host_batches(split, batch_size, *, seed, epoch):
    """One shuffled epoch, each batch copied from host memory (the CPU path: no copy at all)."""
    for imgs, labels in batches(split, batch_size, shuffle=True, seed=seed, epoch=epoch):
        yield paddle.to_tensor(imgs), paddle.to_tensor(labels)


def device_batches(images, labels, batch_size, *, seed, epoch):
    """The same batches as ``host_batches`` from a split already on the device (``images``, ``labels``:
    tensors made once per run), so a GPU gets one index per batch instead of a copy of the images."""
    order = paddle.to_tensor(epoch_order(labels.shape[0], seed, epoch))
    for i in range(0, labels.shape[0], batch_size):
        idx = order[i:i + batch_size]
        yield paddle.index_select(images, idx), paddle.index_select(labels, idx).reshape([-1, 1])


def train_epoch(model, optimizer, schedule, loss_fn, batch_iter, take_steps, on_step=None):
    """One pass over `batch_iter`. ``take_steps(losses, corrects, lrs, sizes)`` receives each chunk of
    steps as host numbers, in order, and returns False to stop the run (it diverged); returns that."""
    model.train()
    pending = []
    try:
        for x, y in batch_iter:
            lr = optimizer.get_lr()  # the lr this step uses
            loss, logits = train_step(model, optimizer, loss_fn, x, y)
            step_after_batch(schedule)
            correct = (logits.argmax(axis=1) == y[:, 0]).astype("int64").sum()
            pending.append((loss.detach(), correct, lr, int(y.shape[0])))
            if on_step:
                on_step()
            if len(pending) == FETCH_EVERY:
                chunk, pending = pending, []
                if not take_steps(*_fetch(chunk)):
                    return False
    except KeyboardInterrupt:
        if pending:  # keep what was computed before the interrupt
            take_steps(*_fetch(pending))
        raise
    return take_steps(*_fetch(pending)) if pending else True


def _fetch(chunk):
    """Per-step values of a chunk as Python numbers: one device -> host copy for all of them."""
    losses = paddle.stack([c[0].reshape([]) for c in chunk]).numpy().astype(np.float64).tolist()
    corrects = paddle.stack([c[1] for c in chunk]).numpy().tolist()
    return losses, corrects, [c[2] for c in chunk], [c[3] for c in chunk]


def evaluate(model, split, loss_fn, batch_size=250):
    """Mean loss and accuracy of `model` on one split (no gradients).

    Batches of 250: at 1000 the activations fall out of the CPU's cache (10k images: 2.1-2.4 s
    against ~1.6 s). The sums are made on the host in float64, after one copy of the batch values."""
    model.eval()
    losses, corrects, sizes = [], [], []
    with paddle.no_grad():
        for imgs, labels in batches(split, batch_size):
            logits = model(paddle.to_tensor(imgs))
            y = paddle.to_tensor(labels)
            losses.append(loss_fn(logits, y).reshape([]))
            corrects.append((logits.argmax(axis=1) == y[:, 0]).astype("int64").sum())
            sizes.append(len(labels))
    total_loss = 0.0
    for loss, n in zip(paddle.stack(losses).numpy().tolist(), sizes):
        total_loss += loss * n
    n = len(split.labels)
    return total_loss / n, int(paddle.stack(corrects).sum()) / n


def is_diverged(losses):
    """Apply the divergence rule to the losses so far; returns a reason or None."""
    last = losses[-1]
    if last is None:
        return "loss is not finite"
    if len(losses) >= DIVERGE_WINDOW and losses[0] is not None:
        mean = sum(losses[-DIVERGE_WINDOW:]) / DIVERGE_WINDOW
        if mean > DIVERGE_FACTOR * losses[0]:
            return (f"mean loss of the last {DIVERGE_WINDOW} steps ({mean:.3g}) is over "
                    f"{DIVERGE_FACTOR:g}x the first loss ({losses[0]:.3g})")
    return None
