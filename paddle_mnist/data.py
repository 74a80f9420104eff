"""MNIST for the course: where the digits come from, how they are read, how they are batched.

One convention everywhere: images are float32 [N, 1, 28, 28] with pixels in [0, 1] (0 = background),
labels are int64 [N]. Files that spell pixels as 0..1, -1..1 or 0..255 all load to the same tensors;
``info["pixel_range"]`` says which spelling the file used.

Where the data comes from (``--data`` / ``load_dataset(data)``):

* a path: the course's JSON file ``[train, valid, eval]``, each ``[images, labels]`` (gzipped or not),
  or a directory of the official IDX files (``train*-images-idx3-ubyte[.gz]`` and ``t10k-*``);
* ``"synthetic"``: generated digit-like images (``paddle_mnist.synthetic``), reported as synthetic;
* nothing: ``work/mnist.json.gz`` (relative to the current directory), then Paddle's MNIST cache
  (``paddle.dataset.common.DATA_HOME/mnist``), then a download into that cache, unless
  ``PADDLE_MNIST_OFFLINE=1`` or ``CI`` is set; else a ``DataError`` saying how to provide data.
  Nothing is ever substituted silently.

The course reads its 429 MB JSON text with ``json.load`` (14 s, 3.3 GB of Python floats). Here a
numpy parser (``paddle_mnist.coursejson``) reads it several times faster in a fraction of the
memory, and the parsed arrays
are cached as ``.npy`` files keyed by the file's sha256 (``$PADDLE_MNIST_CACHE``, by default
``~/.cache/paddle_mnist``), so every later load takes a fraction of a second.
"""

import argparse
import hashlib
import itertools
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass

import numpy as np

from paddle_mnist.coursejson import GZIP_MAGIC, SPLITS, _TO_FLOAT, read_course_json, write_course_json
from paddle_mnist.errors import ConfigError, DataError

MODE_ALIASES = {"test": "eval"}  # paddle.vision.datasets.MNIST calls the eval split "test"
LOCAL_FILE = os.path.join("work", "mnist.json.gz")
SYNTHETIC_FILE = os.path.join("work", "synthetic.json.gz")  # `data build --synthetic` never writes LOCAL_FILE unasked
CACHE_VERSION = 1


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
    return _load_course_file(path, progress)


def _load_synthetic(seed, sizes):
    from paddle_mnist.synthetic import make_synthetic

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
    from paddle_mnist.idx import load_idx_dir

    splits, meta = load_idx_dir(path)
    splits = {name: (_TO_FLOAT.take(images), labels.astype(np.int64)) for name, (images, labels) in splits.items()}
    return _make_data(splits, {"path": os.path.abspath(path), "sha256": meta["sha256"], "pixel_range": "0..255",
                               "synthetic": False, "source": f"{path} (IDX files)",
                               "split_rule": meta["rule"]})


def _load_course_file(path, progress):
    """A course JSON file, from the cache when this content was read before."""
    sha = file_digest(path)
    info = {"path": os.path.abspath(path), "sha256": sha, "synthetic": False, "source": path}
    cached = _cache_read(sha)
    if cached is not None:
        splits, pixel_range = cached
    else:
        splits, pixel_range = read_course_json(path, progress=progress)
        _cache_write(sha, splits, pixel_range)
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
    if os.path.exists(LOCAL_FILE):
        return {"source": "local file", "path": LOCAL_FILE, "tried": tried}
    tried.append(f"{LOCAL_FILE} (no such file in {os.getcwd()})")
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

        try:
            for name, url, md5 in _paddle_mnist_files()[1]:
                common.download(url, "mnist", md5)  # Paddle's own downloader, with its progress bar
            return plan["path"]
        except Exception as e:  # no network, a proxy, a full disk: all end the same way
            tried.append(f"downloading from {plan['url']} (failed: {e})")
    raise DataError("no MNIST data found; tried: " + "; ".join(tried) + ". Provide data with --data PATH "
                    "(the course's mnist.json.gz or a folder of IDX files), build the course file with "
                    "`paddle-mnist data build --idx DIR`, or try the code on generated digits with --data synthetic")


# ---------------------------------------------------------------------------------------------
# The cache of parsed files: .npy arrays under $PADDLE_MNIST_CACHE/<sha256>/
# ---------------------------------------------------------------------------------------------

def cache_root():
    return os.environ.get("PADDLE_MNIST_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "paddle_mnist")


def _cache_read(sha):
    """({split: (images, labels)}, pixel_range) memory-mapped from the cache, or None (a damaged
    entry is removed, to be rebuilt)."""
    entry = os.path.join(cache_root(), sha)
    if not os.path.isdir(entry):
        return None
    try:
        with open(os.path.join(entry, "meta.json"), encoding="utf-8") as f:
            meta = json.load(f)
        if meta.get("version") != CACHE_VERSION or meta.get("sha256") != sha:
            raise ValueError("another version")
        splits = {}
        for name in SPLITS:
            images = np.load(os.path.join(entry, f"{name}-images.npy"), mmap_mode="r")
            labels = np.load(os.path.join(entry, f"{name}-labels.npy"), mmap_mode="r")
            n = meta["sizes"][name]
            if images.shape != (n, 1, 28, 28) or images.dtype != np.float32 or labels.shape != (n,) \
                    or labels.dtype != np.int64:
                raise ValueError("arrays of the wrong shape")
            splits[name] = (images, labels)
        return splits, meta["pixel_range"]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        shutil.rmtree(entry, ignore_errors=True)
        return None


def _cache_write(sha, splits, pixel_range):
    """Save the parsed arrays; written to a temporary folder and renamed, so never half there.
    A cache that cannot be written (read-only home, full disk) only costs speed: a warning."""
    root = cache_root()
    tmp = None
    try:
        os.makedirs(root, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix=f".{sha[:12]}.", dir=root)
        sizes = {}
        for name in SPLITS:
            images, labels = splits[name]
            np.save(os.path.join(tmp, f"{name}-images.npy"), np.asarray(images, np.float32).reshape(-1, 1, 28, 28))
            np.save(os.path.join(tmp, f"{name}-labels.npy"), np.asarray(labels, np.int64))
            sizes[name] = len(labels)
        with open(os.path.join(tmp, "meta.json"), "w", encoding="utf-8") as f:
            json.dump({"version": CACHE_VERSION, "sha256": sha, "sizes": sizes, "pixel_range": pixel_range}, f)
        entry = os.path.join(root, sha)
        shutil.rmtree(entry, ignore_errors=True)
        os.rename(tmp, entry)
        tmp = None
    except OSError as e:
        if not os.path.isdir(os.path.join(root, sha)):  # not another process winning the same race
            print(f"paddle-mnist: warning: cannot cache the parsed data in {root} ({e.strerror or e}); "
                  "every load will parse the file again", file=sys.stderr)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# Batches: the course's generator, vectorised
# ---------------------------------------------------------------------------------------------

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

    MnistDataset.__module__ = __name__
    return MnistDataset


def __getattr__(name):
    if name == "MnistDataset":
        cls = _dataset_class()
        globals()["MnistDataset"] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ---------------------------------------------------------------------------------------------
# build and inspect
# ---------------------------------------------------------------------------------------------

def build_json(idx_dir, out):
    """Write the course's JSON file from a directory of IDX files (atomically); return a summary."""
    from paddle_mnist.idx import load_idx_dir

    splits, meta = load_idx_dir(idx_dir)
    write_course_json(out, splits)
    return {"out": out, "files": meta["files"], "rule": meta["rule"],
            "sizes": {name: len(splits[name][1]) for name in SPLITS},
            "bytes": os.path.getsize(out), "sha256": file_digest(out)}


def build_synthetic_json(out, seed=0, sizes=(1000, 200, 200)):
    """Write a synthetic data set in the course's JSON layout; return a summary."""
    from paddle_mnist.synthetic import make_synthetic

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


def _sizes(text):
    try:
        sizes = tuple(int(x) for x in text.split(","))
    except ValueError:
        sizes = ()
    if len(sizes) != 3 or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"expected three positive numbers TRAIN,VALID,EVAL, got {text!r}")
    return sizes


def add_parser(subparsers):
    p = subparsers.add_parser("data", help="build or inspect a data file",
                              description="Build the course's mnist.json.gz from IDX files, or check a data file.")
    sub = p.add_subparsers(dest="data_command", metavar="ACTION")
    sub.required = True
    b = sub.add_parser("build", help="write the course's JSON file from IDX files (or synthetic digits)",
                       description="Write the course's gzipped JSON layout [train, valid, eval], each "
                                   "[images, labels], atomically. From the official 60,000 training digits: "
                                   "train = the first 50,000, valid = the last 10,000, eval = the 10,000 test "
                                   "digits. From fewer: train = all of them, valid = the first half of the test "
                                   "digits, eval = the second half.")
    source = b.add_mutually_exclusive_group(required=True)
    source.add_argument("--idx", metavar="DIR",
                        help="directory with train*-images-idx3-ubyte[.gz], train*-labels-idx1-ubyte[.gz], "
                             "t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]")
    source.add_argument("--synthetic", action="store_true", help="generated digit-like images instead (not MNIST)")
    b.add_argument("--out", help=f"file to write (default: {LOCAL_FILE}, with --synthetic {SYNTHETIC_FILE}: "
                                 "a synthetic file loads like any course file, so its name should say what it is)")
    b.add_argument("--seed", type=int, help="--synthetic only: random seed (default: 0)")
    b.add_argument("--sizes", type=_sizes, metavar="TRAIN,VALID,EVAL",
                   help="--synthetic only: images per split (default: 1000,200,200)")
    b.set_defaults(func=run_build)
    i = sub.add_parser("inspect", help="check a data file and show its sizes, pixel range, labels, hash",
                       description="Check a data source (exit 1 with one line on stderr when it is bad) and "
                                   "summarise it. Without PATH: what the default chain finds "
                                   f"({LOCAL_FILE}, then Paddle's MNIST cache).")
    i.add_argument("path", nargs="?", help="course JSON file, IDX directory or 'synthetic' (default: the chain)")
    i.add_argument("--json", action="store_true", help="print the summary as JSON")
    i.set_defaults(func=run_inspect)


def run_build(args):
    if args.synthetic:
        seed = 0 if args.seed is None else args.seed
        if seed < 0:
            raise ConfigError(f"--seed must be >= 0, got {seed}")
        out = args.out or SYNTHETIC_FILE
        s = build_synthetic_json(out, seed, args.sizes or (1000, 200, 200))
        print(f"synthetic digits (seed {seed}), not MNIST")
    else:
        if args.seed is not None or args.sizes is not None:
            raise ConfigError("--seed and --sizes go with --synthetic; IDX files hold their own digits")
        out = args.out or LOCAL_FILE
        s = build_json(args.idx, out)
        print("read " + ", ".join(os.path.basename(f) for f in s["files"]) + f" from {args.idx}")
        print(f"split: {s['rule']}")
    sizes = s["sizes"]
    print(f"wrote {out}: train {sizes['train']:,}, valid {sizes['valid']:,}, eval {sizes['eval']:,} images, "
          f"{s['bytes'] / 1e6:.1f} MB, sha256 {s['sha256']}")
    return 0


def run_inspect(args):
    s = inspect(args.path, progress=True)
    if args.json:
        print(json.dumps(s, indent=1))
        return 0
    print(f"source       {s['source']}" + ("  (SYNTHETIC, not MNIST)" if s["synthetic"] else ""))
    print(f"format       {s['format']}")
    print(f"sha256       {s['sha256']}")
    print(f"pixel range  {s['pixel_range']} in the file (loaded as float32 in [0, 1])")
    if "split_rule" in s:
        print(f"splits       {s['split_rule']}")
    print(f"{'split':<7}{'images':>8}   labels 0-9")
    for name in SPLITS:
        print(f"{name:<7}{s['sizes'][name]:>8,}   " + " ".join(f"{c:>5}" for c in s["labels"][name]))
    return 0
