"""The course's MNIST chapter as the course writes it, on today's Paddle: read this beside the text.

"零基础实践深度学习" builds handwritten-digit recognition from three pieces, kept here in its words:
``load_data(mode)`` reads the gzipped JSON file and returns a generator of batches, ``MNIST`` is the
conv/pool/linear network, and ``train(model)`` is the loop: forward, loss, backward, step, clear_grad.

One change from the course, on purpose: the course shuffles with ``random.shuffle(index_list)``;
here each epoch's order is the project's seeded order (``epoch_order(n, seed, epoch)``). With it this
file trains exactly as ``paddle_mnist.train`` does (same weights, same batches, same losses:
tests/test_course.py checks it), so everything the rest of the project shows applies to this loop.

Run it: ``python -m paddle_mnist.course path/to/mnist.json.gz``.
"""

import gzip
import json
import sys

import numpy as np
import paddle
import paddle.nn.functional as F
from paddle.nn import Conv2D, Linear, MaxPool2D

from paddle_mnist.core.data import epoch_order

IMG_ROWS, IMG_COLS = 28, 28


def load_data(mode="train", datafile="./work/mnist.json.gz", batch_size=100, seed=0):
    """The course's loader: a function that yields one epoch of (images [B,1,28,28], labels [B,1])."""
    data = json.load(gzip.open(datafile))
    train_set, val_set, eval_set = data
    imgs, labels = {"train": train_set, "valid": val_set, "eval": eval_set}[mode]
    assert len(imgs) == len(labels), "images and labels must be as many"
    epochs_done = [0]

    def data_generator():
        index_list = list(range(len(imgs)))
        if mode == "train":  # the course: random.shuffle(index_list)
            index_list = epoch_order(len(imgs), seed, epochs_done[0])
            epochs_done[0] += 1
        imgs_list, labels_list = [], []
        for i in index_list:
            img = np.reshape(imgs[i], [1, IMG_ROWS, IMG_COLS]).astype("float32")
            label = np.reshape(labels[i], [1]).astype("int64")
            imgs_list.append(img)
            labels_list.append(label)
            if len(imgs_list) == batch_size:
                yield np.array(imgs_list), np.array(labels_list)
                imgs_list, labels_list = [], []
        if imgs_list:  # the last, smaller batch
            yield np.array(imgs_list), np.array(labels_list)

    return data_generator


class MNIST(paddle.nn.Layer):
    """The course's network: conv 5x5 (20) - ReLU - pool, conv 5x5 (20) - ReLU - pool, linear 980 -> 10."""

    def __init__(self):
        super().__init__()
        self.conv1 = Conv2D(in_channels=1, out_channels=20, kernel_size=5, stride=1, padding=2)
        self.max_pool1 = MaxPool2D(kernel_size=2, stride=2)
        self.conv2 = Conv2D(in_channels=20, out_channels=20, kernel_size=5, stride=1, padding=2)
        self.max_pool2 = MaxPool2D(kernel_size=2, stride=2)
        self.fc = Linear(in_features=980, out_features=10)

    def forward(self, inputs):
        x = self.conv1(inputs)
        x = F.relu(x)
        x = self.max_pool1(x)
        x = self.conv2(x)
        x = F.relu(x)
        x = self.max_pool2(x)
        x = paddle.reshape(x, [x.shape[0], 980])
        x = self.fc(x)
        return x


def train(model, train_loader, epoch_num=5, learning_rate=0.01):
    """The course's loop with SGD; returns every step's loss (the course prints every 200th)."""
    model.train()
    opt = paddle.optimizer.SGD(learning_rate=learning_rate, parameters=model.parameters())
    losses = []
    for epoch_id in range(epoch_num):
        for batch_id, data in enumerate(train_loader()):
            images, labels = data
            images = paddle.to_tensor(images)
            labels = paddle.to_tensor(labels)
            predicts = model(images)
            loss = F.cross_entropy(predicts, labels)
            avg_loss = paddle.mean(loss)
            if batch_id % 200 == 0:
                print(f"epoch: {epoch_id}, batch: {batch_id}, loss is: {float(avg_loss):.4f}")
            avg_loss.backward()
            opt.step()
            opt.clear_grad()
            losses.append(float(avg_loss))
    return losses


if __name__ == "__main__":
    paddle.seed(0)  # the project's runs seed Paddle before building the network: same initial weights
    net = MNIST()
    train(net, load_data("train", sys.argv[1] if len(sys.argv) > 1 else "./work/mnist.json.gz"), epoch_num=1)
    paddle.save(net.state_dict(), "mnist.pdparams")
