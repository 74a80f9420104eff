"""Where the digits come from: a course JSON file, a folder of IDX files, synthetic digits, or the
default chain (``work/mnist.json.gz``, Paddle's MNIST cache, a download); each becomes an ``MnistData``.

A course file is parsed once (``coursejson``) and its arrays kept in the cache (``cache``); IDX
files are small enough to read every time.
"""

import contextlib
import hashlib
import io
import os
import sys
from dataclasses import dataclass

import numpy as np

from paddle_mnist.core.data.cache import cache_read, cache_write
from paddle_mnist.core.data.coursejson import GZIP_MAGIC, SPLITS, _TO_FLOAT, read_course_json, write_course_json
from paddle_mnist.core.data.idx import load_idx_dir
from paddle_mnist.core.data.synthetic import make_synthetic
from paddle_mnist.core.errors import ConfigError, DataError

MODE_ALIASES = {"test": "eval"}  # paddle.vision.datasets.MNIST calls the eval split "test"
LOCAL_FILE = os.path.join("work", "mnist.json.gz")
SYNTHETIC_FILE = os.path.join("work", "synthetic.json.gz")  # `data build --synthetic` never writes LOCAL_FILE unasked


@dataclass
class Split:
    """One split, normalised: images float32 [N, 1, 28, 28] in [0, 1], labels int64 [N].

    The arrays are read-only (a warm load maps them straight from the cache files)."""

    images: np.ndarray
    labels: np.ndarray

    def __len__(self):
        return len(self.labels)


@dataclass
class MnistData:
    """The three splits plus ``info``: path, sha256, sizes, pixel_range, synthetic, source."""

    train: Split
    valid: Split
    eval: Split
    info: dict

    def split(self, mode):
        """The split called `mode`: "train", "valid" or "eval" ("test" is accepted for "eval")."""
        name = MODE_ALIASES.get(mode, mode)
        if name not in SPLITS:
            raise ConfigError(f"unknown data split {mode!r}; choose one of: train, valid, eval (or test)")
        return getattr(self, name)


def _make_data(splits, info):
    """MnistData from {split: (images, labels)}, with read-only arrays and sizes filled in."""
    parts = {}
    for name in SPLITS:
        images, labels = splits[name]
        images = np.asarray(images).reshape(-1, 1, 28, 28)
        labels = np.asarray(labels)
        for a in (images, labels):
            if a.flags.writeable:
                a.flags.writeable = False
        parts[name] = Split(images, labels)
    info = dict(info, sizes={name: len(parts[name].labels) for name in SPLITS})
    return MnistData(info=info, **parts)


# ---------------------------------------------------------------------------------------------
# Loading: the resolution chain and the three kinds of source
# ---------------------------------------------------------------------------------------------

def load_dataset(data=None, *, seed=0, synthetic_size=(1000, 200, 200), progress=True):
    """Load MNIST as an ``MnistData``.

    data            a course JSON file (.json or .json.gz), a directory of IDX files, "synthetic",
                    an MnistData (returned as is), or None for the default chain (module docstring)
    seed            the seed of the synthetic data set (real data does not depend on it)
    synthetic_size  (train, valid, eval) sizes of the synthetic data set
    progress        show progress bars (reading a new file, downloading) on a terminal
    """
    if isinstance(data, MnistData):
        return data
    if data is None:
        data = find_data(progress=progress)
    if isinstance(data, str) and data == "synthetic":
        return _load_synthetic(seed, synthetic_size)
    path = os.fspath(data)
    if os.path.isdir(path):
        return _load_idx_dir(path)
    if not os.path.exists(path):
        raise DataError(f"{path}: no such file")
    if not os.path.isfile(path):  # a pipe, /dev/zero, a socket: read once, or never ending
        raise DataError(f"{path}: not a regular file (a pipe or a device?); save the data to a file first "
                        "and give its path")
    return _load_course_file(path, progress)


def _load_synthetic(seed, sizes):
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"the synthetic data seed must be a whole number >= 0, got {seed!r}")
    splits = make_synthetic(tuple(sizes), int(seed))
    digest = hashlib.sha256(f"synthetic v1 seed {seed}".encode())
    for name in SPLITS:
        for a in splits[name]:
            digest.update(np.ascontiguousarray(a).tobytes())
    return _make_data(splits, {"path": "synthetic", "sha256": digest.hexdigest(), "pixel_range": "0..1",
                               "synthetic": True, "source": f"synthetic (seed {seed})"})


def _load_idx_dir(path):
    splits, meta = load_idx_dir(path)
    splits = {name: (_TO_FLOAT.take(images), labels.astype(np.int64)) for name, (images, labels) in splits.items()}
    return _make_data(splits, {"path": os.path.abspath(path), "sha256": meta["sha256"], "pixel_range": "0..255",
                               "synthetic": False, "source": f"{path} (IDX files)",
                               "split_rule": meta["rule"]})


def _load_course_file(path, progress):
    """A course JSON file, from the cache when this content was read before."""
    sha = file_digest(path)
    info = {"path": os.path.abspath(path), "sha256": sha, "synthetic": False, "source": path}
    cached = cache_read(sha)
    if cached is not None:
        splits, pixel_range = cached
    else:
        splits, pixel_range = read_course_json(path, progress=progress)
        cache_write(sha, splits, pixel_range)
    return _make_data(splits, dict(info, pixel_range=pixel_range))


def file_digest(path, algorithm="sha256"):
    """Hex digest of a file's bytes (the content hash that names a data file in records and the cache)."""
    digest = hashlib.new(algorithm)
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror or e})") from None
    return digest.hexdigest()


def _offline():
    """Why downloading is off, or None when it is allowed."""
    if os.environ.get("PADDLE_MNIST_OFFLINE", "") not in ("", "0"):
        return "PADDLE_MNIST_OFFLINE is set"
    if os.environ.get("CI"):
        return "CI is set"
    return None


def _paddle_mnist_files():
    """Paddle's MNIST cache folder and its four (file name, url, md5), read from paddle itself."""
    import paddle.dataset.common as common
    from paddle.vision.datasets import MNIST

    files = []
    for key in ("TRAIN_IMAGE", "TRAIN_LABEL", "TEST_IMAGE", "TEST_LABEL"):
        url, md5 = getattr(MNIST, f"{key}_URL"), getattr(MNIST, f"{key}_MD5")
        files.append((url.rsplit("/", 1)[-1], url, md5))
    return os.path.join(common.DATA_HOME, "mnist"), files


def default_source():
    """What a bare ``train`` would read, found without downloading or parsing anything.

    Returns {"source": "local file" | "paddle cache" | "download" | "none", "path": the file or
    folder (None for "none"), "tried": what was looked at and why it was passed over}. Paddle's
    cached files count only when their MD5s match (a half-downloaded file counts as missing).
    """
    tried = []
    if os.path.isfile(LOCAL_FILE):
        return {"source": "local file", "path": LOCAL_FILE, "tried": tried}
    what = "not a file" if os.path.exists(LOCAL_FILE) else "no such file"
    tried.append(f"{LOCAL_FILE} ({what} in {os.getcwd()})")
    cache, files = _paddle_mnist_files()
    missing = [name for name, _, md5 in files
               if not (os.path.exists(os.path.join(cache, name))
                       and file_digest(os.path.join(cache, name), "md5") == md5)]
    if not missing:
        return {"source": "paddle cache", "path": cache, "tried": tried}
    tried.append(f"Paddle's MNIST cache {cache} (missing or damaged: {', '.join(missing)})")
    why_not = _offline()
    if why_not is None:
        return {"source": "download", "path": cache, "url": files[0][1].rsplit("/", 1)[0] + "/", "tried": tried}
    tried.append(f"no download ({why_not})")
    return {"source": "none", "path": None, "tried": tried}


def find_data(progress=True):
    """The default data source: work/mnist.json.gz, Paddle's cache, a download; else a DataError."""
    plan = default_source()
    tried = plan["tried"]
    if plan["source"] == "paddle cache" and progress:
        print(f"data: Paddle's MNIST cache, {plan['path']}", file=sys.stderr)
    if plan["source"] in ("local file", "paddle cache"):
        return plan["path"]
    if plan["source"] == "download":
        import paddle.dataset.common as common

        if progress:
            print(f"data: downloading MNIST from {plan['url']} into {plan['path']}", file=sys.stderr)
        try:
            # Paddle's own downloader, with its progress bar (stdout); its stderr chatter ("Begin to
            # download", three times per file when offline) is dropped: a failure is our one line below
            with contextlib.redirect_stderr(io.StringIO()):
                for name, url, md5 in _paddle_mnist_files()[1]:
                    common.download(url, "mnist", md5)
            return plan["path"]
        except Exception as e:  # no network, a proxy, a full disk: all end the same way
            tried.append(f"downloading from {plan['url']} (failed: {e})")
    raise DataError("no MNIST data found; tried: " + "; ".join(tried) + ". Provide data with --data PATH "
                    "(the course's mnist.json.gz or a folder of IDX files), build the course file with "
                    "`paddle-mnist data build --idx DIR`, or try the code on generated digits with --data synthetic")


# ---------------------------------------------------------------------------------------------
# build and inspect
# ---------------------------------------------------------------------------------------------

def build_json(idx_dir, out):
    """Write the course's JSON file from a directory of IDX files (atomically); return a summary."""
    splits, meta = load_idx_dir(idx_dir)
    write_course_json(out, splits)
    return {"out": out, "files": meta["files"], "rule": meta["rule"],
            "sizes": {name: len(splits[name][1]) for name in SPLITS},
            "bytes": os.path.getsize(out), "sha256": file_digest(out)}


def build_synthetic_json(out, seed=0, sizes=(1000, 200, 200)):
    """Write a synthetic data set in the course's JSON layout; return a summary."""
    splits = make_synthetic(tuple(sizes), seed)
    write_course_json(out, splits)
    return {"out": out, "sizes": {name: len(splits[name][1]) for name in SPLITS}, "seed": seed,
            "bytes": os.path.getsize(out), "sha256": file_digest(out)}


def _file_format(path):
    if os.path.isdir(path):
        return "IDX files"
    with open(path, "rb") as f:
        return "course JSON, gzipped" if f.read(2) == GZIP_MAGIC else "course JSON"


def inspect(path=None, *, progress=False):
    """Check a data source and summarise it: sizes, pixel range, label histograms, sha256."""
    data = load_dataset(path, progress=progress)
    info = data.info
    return {"path": info["path"], "source": info["source"], "sha256": info["sha256"],
            "format": "synthetic" if info["synthetic"] else _file_format(info["path"]),
            "synthetic": info["synthetic"], "sizes": info["sizes"], "pixel_range": info["pixel_range"],
            "labels": {name: np.bincount(data.split(name).labels, minlength=10).tolist() for name in SPLITS},
            **({"split_rule": info["split_rule"]} if "split_rule" in info else {})}
