"""The official MNIST files (IDX format, http://yann.lecun.com/exdb/mnist/), read with numpy.

An IDX file is a 4-byte magic number (two zero bytes, a type code, the number of dimensions),
one big-endian uint32 per dimension, then the values. MNIST uses unsigned bytes:
``*-images-idx3-ubyte`` holds [n, 28, 28] pixels 0..255, ``*-labels-idx1-ubyte`` holds [n] labels.
The files are usually gzipped; gzip is recognised by its magic bytes, not by the name.
"""

import gzip
import hashlib
import os
import re
import zlib

import numpy as np

from paddle_mnist.core.errors import DataError

GZIP_MAGIC = b"\x1f\x8b"
UBYTE = 0x08
# train-images-idx3-ubyte.gz, train5k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte, train-images.idx3-ubyte
_NAME = re.compile(r"^(train|t10k)([^-.]*)[-.](images|labels)[-.]idx([13])[-.]ubyte(\.gz)?$")
OFFICIAL_TRAIN = 60000  # the full training set: the course splits it 50,000 train + 10,000 valid


def read_bytes(path):
    """The file's bytes, un-gzipped when it starts with gzip's magic bytes."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror or e})") from None
    if raw[:2] != GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except EOFError:
        raise DataError(f"{path}: truncated gzip file (it ends before the data does)") from None
    except (OSError, zlib.error) as e:
        raise DataError(f"{path}: corrupt gzip file ({e})") from None


def read_idx(path, ndim):
    """An IDX file of unsigned bytes with `ndim` dimensions, as a uint8 array (checked, never partial)."""
    data = read_bytes(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise DataError(f"{path}: not an IDX file (bad magic number {data[:4].hex() or 'none'})")
    if data[2] != UBYTE or data[3] != ndim:
        raise DataError(f"{path}: not an IDX file of unsigned bytes with {ndim} dimension(s) "
                        f"(magic number {data[:4].hex()})")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path}: truncated IDX file (the header is cut short)")
    shape = tuple(int(d) for d in np.frombuffer(data, ">u4", count=ndim, offset=4))
    expected = int(np.prod(shape))
    found = len(data) - header
    if found != expected:
        what = "truncated" if found < expected else "too long"
        raise DataError(f"{path}: {what} IDX file (header says {' x '.join(map(str, shape))} = "
                        f"{expected:,} bytes of data, found {found:,})")
    return np.frombuffer(data, np.uint8, offset=header).reshape(shape)


def read_images(path):
    images = read_idx(path, 3)
    if images.shape[1:] != (28, 28):
        raise DataError(f"{path}: images are {images.shape[1]}x{images.shape[2]}, expected 28x28")
    return images


def read_labels(path):
    labels = read_idx(path, 1)
    if labels.size and labels.max() > 9:
        i = int(np.argmax(labels > 9))
        raise DataError(f"{path}: label {i} is {labels[i]}, expected a digit 0-9")
    return labels


def find_idx_files(directory):
    """{'train': (images, labels), 't10k': (images, labels)} paths in `directory`.

    Names as LeCun's site and Paddle's cache spell them (``train-images-idx3-ubyte.gz``), also
    with an infix (``train5k-...``) or dots (``train-images.idx3-ubyte``). When several sets of one
    kind are present, the one with the shortest name wins (``train-`` before ``train5k-``).
    """
    if not os.path.isdir(directory):
        raise DataError(f"{directory}: no such directory")
    found = {}
    for name in sorted(os.listdir(directory), key=lambda n: (len(n), n)):
        m = _NAME.match(name)
        if not m:
            continue
        kind, infix, what, dims = m.group(1), m.group(2), m.group(3), m.group(4)
        if (what == "images") != (dims == "3"):
            continue
        found.setdefault((kind, infix), {}).setdefault(what, os.path.join(directory, name))
    pairs = {}
    for (kind, _), files in sorted(found.items(), key=lambda kv: (len(kv[0][1]), kv[0][1])):
        if len(files) == 2 and kind not in pairs:
            pairs[kind] = (files["images"], files["labels"])
    missing = [k for k in ("train", "t10k") if k not in pairs]
    if missing:
        raise DataError(f"{directory}: no IDX {' and '.join(missing)} files (expected "
                        "train*-images-idx3-ubyte[.gz], train*-labels-idx1-ubyte[.gz], "
                        "t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz])")
    return pairs


def split_rule(n_train, n_test):
    """How training and test digits become the course's three splits, as slices and in words."""
    if n_train == OFFICIAL_TRAIN:
        valid = n_train - 10000
        return ({"train": ("train", slice(0, valid)), "valid": ("train", slice(valid, None)),
                 "eval": ("test", slice(None))},
                f"train = the first {valid:,} training digits, valid = the last 10,000, "
                f"eval = the {n_test:,} test digits (the course's split)")
    half = n_test // 2
    return ({"train": ("train", slice(None)), "valid": ("test", slice(0, half)),
             "eval": ("test", slice(half, None))},
            f"fewer than {OFFICIAL_TRAIN:,} training digits: train = all {n_train:,} training digits, "
            f"valid = test[:{half:,}], eval = test[{half:,}:] (the layout of mnist-real15k.json.gz)")


def load_idx_dir(directory):
    """Read an IDX directory: (splits {name: (uint8 images [n,28,28], uint8 labels [n])}, info).

    info: ``files`` (the four paths), ``rule`` (how the splits were made, in words),
    ``sha256`` (of the four files' bytes, in a fixed order).
    """
    pairs = find_idx_files(directory)
    sets, files = {}, []
    digest = hashlib.sha256()
    for kind, name in (("train", "train"), ("t10k", "test")):
        img_path, lab_path = pairs[kind]
        images, labels = read_images(img_path), read_labels(lab_path)
        if len(images) != len(labels):
            raise DataError(f"{img_path}: {len(images):,} images but {lab_path} has {len(labels):,} labels")
        sets[name] = (images, labels)
        files += [img_path, lab_path]
        for path in (img_path, lab_path):
            with open(path, "rb") as f:
                digest.update(hashlib.sha256(f.read()).digest())
    rule, words = split_rule(len(sets["train"][0]), len(sets["test"][0]))
    splits = {}
    for split, (source, part) in rule.items():
        images, labels = sets[source]
        splits[split] = (images[part], labels[part])
    return splits, {"files": files, "rule": words, "sha256": digest.hexdigest()}
