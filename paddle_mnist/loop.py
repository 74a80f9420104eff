"""The course's training loop, in pieces every tool shares: one step, one evaluation, the divergence rule.

``train`` (training.py), ``lr_find`` and every later tool use these, so a step means the same
thing everywhere: forward, loss, backward, optimizer step, clear_grad.
"""

import paddle

from paddle_mnist.data import batches

# Divergence rule (see README): a run has diverged when its loss is not finite, or when the mean of
# its last DIVERGE_WINDOW losses is more than DIVERGE_FACTOR times its first loss. A single spike
# (SGD at lr 0.3 jumps to ~11 on step 2, then trains) does not move a 20-step mean that far;
# a run that never recovers (SGD at lr 100 sits at 40-60, with no NaN) does.
DIVERGE_WINDOW = 20
DIVERGE_FACTOR = 4.0


def train_step(model, optimizer, loss_fn, x, y):
    """The course's step: forward, loss, backward, step, clear_grad. Returns (loss, logits)."""
    logits = model(x)
    loss = loss_fn(logits, y)
    loss.backward()
    optimizer.step()
    optimizer.clear_grad()
    return loss, logits


def evaluate(model, split, loss_fn, batch_size=250):
    """Mean loss and accuracy of `model` on one split (no gradients).

    Batches of 250: at 1000 the activations fall out of the CPU's cache (10k images: 2.1-2.4 s
    against ~1.6 s)."""
    model.eval()
    total_loss, correct = 0.0, 0
    with paddle.no_grad():
        for imgs, labels in batches(split, batch_size):
            logits = model(paddle.to_tensor(imgs))
            y = paddle.to_tensor(labels)
            total_loss += float(loss_fn(logits, y)) * len(labels)
            correct += int((logits.argmax(axis=1) == y[:, 0]).sum())
    n = len(split.labels)
    return total_loss / n, correct / n


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
