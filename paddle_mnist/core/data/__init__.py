"""MNIST for the course: where the digits come from, how they are read, how they are batched.

One convention everywhere: images are float32 [N, 1, 28, 28] with pixels in [0, 1] (0 = background),
labels are int64 [N]. Files that spell pixels as 0..1, -1..1 or 0..255 all load to the same tensors;
``info["pixel_range"]`` says which spelling the file used.

Where the data comes from (``--data`` / ``load_dataset(data)``):

* a path: the course's JSON file ``[train, valid, eval]``, each ``[images, labels]`` (gzipped or not),
  or a directory of the official IDX files (``train*-images-idx3-ubyte[.gz]`` and ``t10k-*``);
* ``"synthetic"``: generated digit-like images (``data.synthetic``), reported as synthetic;
* nothing: ``work/mnist.json.gz`` (relative to the current directory), then Paddle's MNIST cache
  (``paddle.dataset.common.DATA_HOME/mnist``), then a download into that cache, unless
  ``PADDLE_MNIST_OFFLINE=1`` or ``CI`` is set; else a ``DataError`` saying how to provide data.
  Nothing is ever substituted silently.

The course reads its 429 MB JSON text with ``json.load`` (14 s, 3.3 GB of Python floats). Here a
numpy parser (``data.coursejson``) reads it several times faster in a fraction of the memory, and
the parsed arrays are cached as ``.npy`` files keyed by the file's sha256 (``$PADDLE_MNIST_CACHE``,
by default ``~/.cache/paddle_mnist``), so every later load takes a fraction of a second.

The package, module by module: ``sources`` (the chain, the three kinds of source, build and
inspect), ``cache`` (parsed arrays kept on disk), ``batching`` (batches, ``load_data``,
``MnistDataset``), ``idx`` and ``synthetic`` (two sources), ``coursejson`` (the fast reader: a reader
of this code may skip it).
"""

from paddle_mnist.core.data import batching
from paddle_mnist.core.data.batching import batches, epoch_order, load_data
from paddle_mnist.core.data.cache import CACHE_VERSION, cache_root
from paddle_mnist.core.data.coursejson import GZIP_MAGIC, SPLITS, read_course_json, write_course_json
from paddle_mnist.core.data.sources import (LOCAL_FILE, MODE_ALIASES, SYNTHETIC_FILE, MnistData, Split, build_json,
                                       build_synthetic_json, default_source, file_digest, find_data, inspect,
                                       load_dataset)


def __getattr__(name):
    """``MnistDataset`` is made on first use, so that importing the data package does not import paddle."""
    if name == "MnistDataset":
        cls = batching.MnistDataset
        globals()["MnistDataset"] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["CACHE_VERSION", "GZIP_MAGIC", "LOCAL_FILE", "MODE_ALIASES", "MnistData", "MnistDataset", "SPLITS",
           "SYNTHETIC_FILE", "Split", "batches", "build_json", "build_synthetic_json", "cache_root",
           "default_source", "epoch_order", "file_digest", "find_data", "inspect", "load_data", "load_dataset",
           "read_course_json", "write_course_json"]
