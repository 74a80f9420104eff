"""Batches: the course's ``load_data`` generator, vectorised, and ``MnistDataset`` for ``paddle.io``.

One shuffled order per (seed, epoch), so a resumed run and every run of a fair comparison see
the same batches.
"""

import itertools

import numpy as np

from paddle_mnist.core.data.sources import MODE_ALIASES, load_dataset
from paddle_mnist.core.errors import ConfigError


def epoch_order(n, seed, epoch):
    """The shuffled order of the training set in one epoch: a permutation of range(n) that depends
    on (seed, epoch) only, so a resumed run and every run of a fair comparison see the same batches."""
    if int(seed) < 0 or int(epoch) < 0:
        raise ConfigError(f"seed and epoch must be >= 0, got seed={seed}, epoch={epoch}")
    return np.random.default_rng([int(seed), int(epoch)]).permutation(n)


def batches(split, batch_size, *, shuffle=False, seed=0, epoch=0):
    """Yield (images float32 [B, 1, 28, 28], labels int64 [B, 1]) over one epoch of `split`.

    In file order, or in ``epoch_order(n, seed, epoch)`` when shuffled; the last batch may be smaller.
    """
    if int(batch_size) != batch_size or batch_size < 1:
        raise ConfigError(f"batch size must be a whole number >= 1, got {batch_size!r}")
    batch_size = int(batch_size)
    images, labels = split.images, split.labels
    n = len(labels)
    if shuffle:
        order = epoch_order(n, seed, epoch)
        for i in range(0, n, batch_size):
            idx = order[i:i + batch_size]
            yield images.take(idx, axis=0), labels.take(idx).reshape(-1, 1)  # take: faster than images[idx]
    else:
        for i in range(0, n, batch_size):
            yield np.asarray(images[i:i + batch_size]), np.asarray(labels[i:i + batch_size]).reshape(-1, 1)


def load_data(mode="train", batch_size=100, datafile=None, *, seed=0, data=None):
    """The course's ``load_data``: returns a generator function; each call yields one epoch of
    (images float32 [B, 1, 28, 28], labels int64 [B, 1]).

    "train" is shuffled anew on every call (call k uses ``epoch_order(n, seed, k)``);
    "valid" and "eval" ("test") keep file order. `datafile` is the course's name for the path;
    `data` is the same thing under this package's name.
    """
    if datafile is not None and data is not None and datafile != data:
        raise ConfigError(f"datafile={datafile!r} and data={data!r} disagree; give one of them")
    split = load_dataset(datafile if datafile is not None else data, seed=seed).split(mode)
    shuffle = MODE_ALIASES.get(mode, mode) == "train"
    calls = itertools.count()

    def data_generator():
        yield from batches(split, batch_size, shuffle=shuffle, seed=seed, epoch=next(calls))

    return data_generator


def _dataset_class():
    """MnistDataset, defined on first use so that importing this module does not import paddle."""
    import paddle

    class MnistDataset(paddle.io.Dataset):
        """One split as a ``paddle.io.Dataset``: item i is (image float32 [1, 28, 28], label int64 [1]).

        mode: "train", "valid", "eval" ("test"); data: as ``load_dataset`` (a path, "synthetic",
        None for the default chain) or an already loaded MnistData.
        """

        def __init__(self, mode="train", data=None):
            super().__init__()
            dataset = load_dataset(data)
            self.mode = mode
            self.split = dataset.split(mode)
            self.info = dataset.info

        def __getitem__(self, i):
            return np.array(self.split.images[i]), np.array([self.split.labels[i]], np.int64)

        def __len__(self):
            return len(self.split.labels)

    MnistDataset.__module__ = "paddle_mnist.core.data"  # its public name
    return MnistDataset


def __getattr__(name):
    if name == "MnistDataset":
        cls = _dataset_class()
        globals()["MnistDataset"] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
