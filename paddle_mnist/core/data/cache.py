"""The cache of parsed course files: .npy arrays under ``$PADDLE_MNIST_CACHE/<sha256>/``
(by default ``~/.cache/paddle_mnist``), so every load after the first takes a fraction of a second.

An entry is keyed by the file's sha256, written to a temporary folder and renamed (never half
there), and memory-mapped when read. A damaged entry is removed and rebuilt; a cache that cannot
be written only costs speed.
"""

import json
import os
import shutil
import sys
import tempfile

import numpy as np

from paddle_mnist.core.data.coursejson import SPLITS

CACHE_VERSION = 1


def cache_root():
    """The folder of parsed files: $PADDLE_MNIST_CACHE, else ~/.cache/paddle_mnist."""
    return os.environ.get("PADDLE_MNIST_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "paddle_mnist")


def cache_read(sha):
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


def cache_write(sha, splits, pixel_range):
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
