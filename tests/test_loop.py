"""The shared loop: chunked device->host fetches and device-resident batches change no number."""

import numpy as np
import paddle
import pytest

import paddle_mnist.core.loop as loop
from paddle_mnist.core.data import load_dataset
from paddle_mnist.runners.train import TrainConfig, train
from conftest import synthetic_data

KEPT = ("status", "steps", "epochs", "best", "eval", "divergence")


def same_record(a, b):
    """Equal numbers, statuses and steps (the seconds an epoch took aside)."""
    def numbers(r):
        kept = {k: r[k] for k in KEPT}
        kept["epochs"] = [{k: v for k, v in e.items() if k not in ("seconds", "train_seconds")} for e in r["epochs"]]
        return kept
    return numbers(a) == numbers(b)


def run(data, monkeypatch, every, **kw):
    monkeypatch.setattr(loop, "FETCH_EVERY", every)
    return train(TrainConfig(threads=1, **kw), data=data, progress=False)


@pytest.fixture(scope="module")
def seven_steps():
    """700 synthetic training digits: 7 steps an epoch at batch 100."""
    return synthetic_data(700)


@pytest.mark.slow
def test_chunked_fetch_equals_the_per_step_loop(seven_steps, monkeypatch):
    # 7 steps an epoch with chunks of 3: chunks cross epoch ends and end short
    per_step = run(seven_steps, monkeypatch, 1, optimizer="momentum", lr=0.05, epochs=2, schedule="cosine")
    chunked = run(seven_steps, monkeypatch, 3, optimizer="momentum", lr=0.05, epochs=2, schedule="cosine")
    assert per_step["status"] == "completed" and len(per_step["steps"]["loss"]) == 14
    assert same_record(per_step, chunked)


def test_divergence_is_cut_at_the_same_step_when_found_in_a_later_chunk(seven_steps, monkeypatch):
    per_step = run(seven_steps, monkeypatch, 1, lr=1e4, epochs=30, batch_size=10)
    chunked = run(seven_steps, monkeypatch, 50, lr=1e4, epochs=30, batch_size=10)
    assert per_step["status"] == "diverged"
    assert chunked["divergence"] == per_step["divergence"]
    assert len(chunked["steps"]["loss"]) == per_step["divergence"]["step"]
    assert same_record(per_step, chunked)


@pytest.mark.slow
def test_real_digits_divergence_cases_are_bit_identical_per_step_and_chunked(real15k, monkeypatch):
    data = load_dataset(real15k)
    for lr, epochs, status in ((100.0, 1, "diverged"), (0.3, 2, "completed")):
        per_step = run(data, monkeypatch, 1, lr=lr, epochs=epochs)
        chunked = run(data, monkeypatch, loop.FETCH_EVERY if loop.FETCH_EVERY > 1 else 50, lr=lr, epochs=epochs)
        assert per_step["status"] == status
        assert same_record(per_step, chunked), lr


def test_device_batches_are_the_host_batches(seven_steps):
    split = seven_steps.train
    images, labels = paddle.to_tensor(split.images), paddle.to_tensor(split.labels)
    host = list(loop.host_batches(split, 64, seed=3, epoch=2))
    device = list(loop.device_batches(images, labels, 64, seed=3, epoch=2))
    assert len(host) == len(device) == 11  # 700 images: ten of 64 and one of 60
    for (hx, hy), (dx, dy) in zip(host, device):
        assert hx.shape == dx.shape and hy.shape == dy.shape == [hx.shape[0], 1]
        assert np.array_equal(hx.numpy(), dx.numpy()) and np.array_equal(hy.numpy(), dy.numpy())


def test_an_epoch_from_device_batches_gives_the_same_losses(seven_steps):
    from paddle_mnist.core.loss import build_loss
    from paddle_mnist.core.model import build_model
    from paddle_mnist.core.optim import build_optimizer
    from paddle_mnist.core.schedules import build_schedule

    def one_epoch(batch_iter):
        with paddle.utils.unique_name.guard():
            paddle.seed(0)
            model = build_model("cnn")
            schedule = build_schedule("constant", 0.05, epochs=1, steps_per_epoch=7)
            optimizer = build_optimizer("sgd", model, schedule)
            seen = []
            loop.train_epoch(model, optimizer, schedule, build_loss("cross_entropy"), batch_iter,
                             lambda losses, *rest: seen.extend(losses) or True)
            return seen

    split = seven_steps.train
    host = one_epoch(loop.host_batches(split, 100, seed=0, epoch=0))
    device = one_epoch(loop.device_batches(paddle.to_tensor(split.images), paddle.to_tensor(split.labels), 100,
                                           seed=0, epoch=0))
    assert len(host) == 7 and host == device
