"""course.py, the course's own code, trains exactly as the project's train() does."""

import numpy as np
import paddle

from paddle_mnist import course
from paddle_mnist.core.config import TrainConfig
from paddle_mnist.core.data import build_synthetic_json
from paddle_mnist.runners.train import train


def test_the_course_loop_gives_the_losses_of_train(tmp_path):
    datafile = str(tmp_path / "mnist.json.gz")
    build_synthetic_json(datafile, seed=3, sizes=(250, 50, 50))  # 3 steps an epoch, the last one short

    record = train(TrainConfig(optimizer="sgd", lr=0.01, epochs=2, batch_size=100, seed=0, threads=1,
                               data=datafile), progress=False)

    with paddle.utils.unique_name.guard():
        paddle.seed(0)
        net = course.MNIST()
        losses = course.train(net, course.load_data("train", datafile, batch_size=100, seed=0), epoch_num=2)

    assert len(losses) == len(record["steps"]["loss"]) == 6
    np.testing.assert_allclose(losses, record["steps"]["loss"], rtol=1e-5)
    assert losses[0] != losses[-1]  # it trained


def test_the_course_loader_yields_the_course_shapes(tmp_path):
    datafile = str(tmp_path / "mnist.json.gz")
    build_synthetic_json(datafile, seed=3, sizes=(250, 50, 50))
    batches = list(course.load_data("valid", datafile, batch_size=20)())
    assert [b[0].shape for b in batches] == [(20, 1, 28, 28), (20, 1, 28, 28), (10, 1, 28, 28)]
    assert batches[0][1].shape == (20, 1) and batches[0][1].dtype == np.int64
