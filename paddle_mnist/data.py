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
numpy parser reads it several times faster in a fraction of the memory, and the parsed arrays
are cached as ``.npy`` files keyed by the file's sha256 (``$PADDLE_MNIST_CACHE``, by default
``~/.cache/paddle_mnist``), so every later load takes a fraction of a second.
"""

import argparse
import collections
import gzip
import hashlib
import itertools
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import zlib
from dataclasses import dataclass

import numpy as np

from paddle_mnist.errors import ConfigError, DataError
from paddle_mnist.files import atomic_path

SPLITS = ("train", "valid", "eval")
MODE_ALIASES = {"test": "eval"}  # paddle.vision.datasets.MNIST calls the eval split "test"
LOCAL_FILE = os.path.join("work", "mnist.json.gz")
SYNTHETIC_FILE = os.path.join("work", "synthetic.json.gz")  # `data build --synthetic` never writes LOCAL_FILE unasked
PIXELS = 784  # 28 x 28
CACHE_VERSION = 1
GZIP_MAGIC = b"\x1f\x8b"
_TO_FLOAT = (np.arange(256) / 255).astype(np.float32)  # byte k -> float32(k / 255), as the course file has it


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


def find_data(progress=True):
    """The default data source: work/mnist.json.gz, Paddle's cache, a download; else a DataError."""
    tried = []
    if os.path.exists(LOCAL_FILE):
        return LOCAL_FILE
    tried.append(f"{LOCAL_FILE} (no such file in {os.getcwd()})")
    cache, files = _paddle_mnist_files()
    missing = [name for name, _, md5 in files  # a damaged or half-downloaded file counts as missing
               if not (os.path.exists(os.path.join(cache, name))
                       and file_digest(os.path.join(cache, name), "md5") == md5)]
    if not missing:
        if progress:
            print(f"data: Paddle's MNIST cache, {cache}", file=sys.stderr)
        return cache
    tried.append(f"Paddle's MNIST cache {cache} (missing or damaged: {', '.join(missing)})")
    why_not = _offline()
    if why_not is None:
        import paddle.dataset.common as common

        try:
            for name, url, md5 in files:
                common.download(url, "mnist", md5)  # Paddle's own downloader, with its progress bar
            return cache
        except Exception as e:  # no network, a proxy, a full disk: all end the same way
            tried.append(f"downloading from {files[0][1].rsplit('/', 1)[0]}/ (failed: {e})")
    else:
        tried.append(f"no download ({why_not})")
    raise DataError("no MNIST data found; tried: " + "; ".join(tried) + ". Provide data with --data PATH "
                    "(the course's mnist.json.gz or a folder of IDX files), build the course file with "
                    "`paddle-mnist data build --idx DIR`, or try the code on generated digits with --data synthetic")


# ---------------------------------------------------------------------------------------------
# The course's JSON file, read fast
# ---------------------------------------------------------------------------------------------
# json.load turns the 429 MB text into 55 million Python floats. This parser never makes a Python
# object per number:
# 1. Every number is a "field" between two structural characters , [ ]; np.flatnonzero finds them.
# 2. An 8-bit image uses only a few hundred distinct number texts. Each field's text (up to 24
#    bytes, read as three 8-byte words) makes a 64-bit key; a table maps keys to small ids and
#    each distinct text is parsed once, with float(). The file becomes one int32 id per field.
# 3. The brackets alone (two per image) give the structure. Every image has 784 fields, so the
#    ids of one split's images form an [n, 786] block: 784 pixels and the 2 empty fields around
#    the comma between two images. np.take turns ids into pixels.
# Texts of up to 8 bytes are their own key; longer ones share a key only through a 64-bit hash
# collision (odds about 1 in 10**15 for the few hundred distinct texts of an 8-bit file).
# The text goes in ~1 MB pieces, un-gzipped on the calling thread and parsed on up to two others
# (zlib and numpy release the GIL). A bad file is caught on the way (a field that is not a number,
# an image of 783 values, ...) and named in a DataError.

_PIECE = 1 << 20  # text parsed at a time
_ROWS = 4096      # images turned from ids into pixels at a time
_PAD = b" " * 32  # room to read 24 bytes past any field start
_MAX_FIELD = 24   # longer fields (a pretty-printed file's indentation) are parsed one by one
_EMPTY, _NUMBER, _BAD = 0, 1, 2
_NO_KEY = np.uint64(2**64 - 1)
_MIX = [np.uint64(k) for k in (0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9)]
_TABLE_BITS = 20
_SHIFT = np.uint64(64 - _TABLE_BITS)
_WS = b" \t\n\r"
_JSON_NUMBER = re.compile(rb"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")


def _low_bytes(n):
    return (1 << (8 * max(0, min(n, 8)))) - 1


# _MASKS[w][gap]: keeps the bytes of word w (bytes 8w..8w+7) that belong to a field of gap - 1 bytes
_MASKS = [np.array([_low_bytes(gap - 1 - 8 * w) for gap in range(_MAX_FIELD + 3)], np.uint64) for w in range(3)]


def _field_value(text):
    """(kind, value) of one field's text: empty (whitespace), a JSON number, or bad."""
    text = text.strip(_WS)
    if not text:
        return _EMPTY, 0.0
    if _JSON_NUMBER.fullmatch(text):
        return _NUMBER, float(text)
    return _BAD, float("nan")


class _FieldTable:
    """Distinct field texts and their ids: a slot per key in a 2**20 table, overflow in a dict."""

    def __init__(self):
        size = 1 << _TABLE_BITS
        self.keys = np.full(size, _NO_KEY, np.uint64)
        self.kind = np.full(size, _BAD, np.int8)  # a slot never filled reads as "not a number"
        self.value = np.zeros(size)
        self.extra = {}  # key (or, for a long field, its text) -> id, for keys whose slot was taken
        self.extra_kind, self.extra_value = [], []
        self.texts = {}  # id -> text of a bad field, for the error message
        self.lock = threading.Lock()  # pieces are parsed on several threads

    def ids(self, buf, bounds, keys, skip):
        """The id of every field (field i lies between bounds[i] and bounds[i + 1]) but those in `skip`
        (in a reused buffer: copy it before the next call on this thread)."""
        slot = np.multiply(keys, _MIX[0], out=_buffer("slot", len(keys), np.uint64))
        slot >>= _SHIFT
        slot = slot.view(np.int64)
        known = self.keys.take(slot, out=_buffer("known", len(keys), np.uint64))
        miss = np.flatnonzero(np.not_equal(known, keys, out=_buffer("miss", len(keys), bool)))
        if skip.size:
            miss = np.setdiff1d(miss, skip, assume_unique=True)
        if miss.size:  # new texts (or a key whose slot holds another): parse each distinct one once
            uniq, first, inverse = np.unique(keys[miss], return_index=True, return_inverse=True)
            with self.lock:
                new = [self.add(key, bytes(buf[bounds[i] + 1:bounds[i + 1]]))
                       for key, i in zip(uniq.tolist(), miss[first].tolist())]
            slot[miss] = np.array(new, np.int64)[inverse]
        return slot

    def add(self, key, text):
        if key in self.extra:
            return self.extra[key]
        slot = None if isinstance(key, bytes) else ((key * int(_MIX[0])) % 2**64) >> (64 - _TABLE_BITS)
        if slot is not None and self.keys[slot] == key:  # added meanwhile by another thread
            return slot
        kind, value = _field_value(text)
        if slot is not None and self.keys[slot] == _NO_KEY:
            self.kind[slot], self.value[slot] = kind, value
            self.keys[slot] = key  # last: a thread that finds the key finds its kind and value
            i = slot
        else:
            i = len(self.keys) + len(self.extra_kind)
            self.extra[key] = i
            self.extra_kind.append(kind)
            self.extra_value.append(value)
        if kind == _BAD:
            self.texts[i] = text.strip(_WS)
        return i

    def finish(self):
        """(kind, value) arrays indexed by id."""
        return (np.concatenate([self.kind, np.array(self.extra_kind, np.int8)]),
                np.concatenate([self.value, np.array(self.extra_value, np.float64)]))


_scratch = threading.local()


def _buffer(name, n, dtype):
    """A reusable array of n elements (one per thread and name). Temporaries of a few MB made anew
    for every piece cost page faults, which took a fifth of the parse's time."""
    kept = _scratch.__dict__.get(name)
    if kept is None or len(kept) < n:
        kept = _scratch.__dict__[name] = np.empty(n + n // 4, dtype)
    return kept[:n]


def _parse_piece(buf, end, table):
    """Ids of the fields in buf[:end] (a structural character, then fields each ended by one).

    Returns (ids, bounds: where the structural characters are, brackets: which of them are [ or ])."""
    a = np.frombuffer(buf, np.uint8, count=end)
    found = sorted(_find_all(buf, b"[", end) + _find_all(buf, b"]", end))  # a few per 784 commas
    commas = np.flatnonzero(np.equal(a, 44, out=_buffer("commas", end, bool)))
    at = np.searchsorted(commas, found)
    bounds = np.insert(commas, at, found)
    brackets = at + np.arange(len(found))
    n = len(bounds) - 1
    gap = np.subtract(bounds[1:], bounds[:-1], out=_buffer("gap", n, np.int64))  # field length + 1
    starts = bounds[:-1]
    keys = np.ndarray((len(buf) - 9,), "<u8", buf, 1, (1,))[starts]  # the 8 bytes after each start
    keys &= _MASKS[0].take(gap, mode="wrap", out=_buffer("mask", n, np.uint64))  # (fields > 24 bytes: redone)
    huge = np.zeros(0, np.int64)
    more = np.flatnonzero(gap > 9)  # fields longer than 8 bytes: mix in their next 16 bytes
    if more.size:
        g = gap[more]
        w = np.ndarray((len(buf) - 25,), "V16", buf, 9, (1,))[starts[more]].view("<u8")
        w1, w2 = w[0::2], w[1::2]
        w1 &= _MASKS[1].take(g, mode="wrap")
        w2 &= _MASKS[2].take(g, mode="wrap")
        w1 *= _MIX[1]
        w2 *= _MIX[2]
        w1 ^= w2
        keys[more] ^= w1
        huge = more[g > _MAX_FIELD + 1]
    ids = table.ids(buf, bounds, keys, skip=huge)
    for i in huge.tolist():  # too long for a key: keyed by their whole text
        text = bytes(buf[bounds[i] + 1:bounds[i + 1]])
        ids[i] = table.add(text, text)
    return ids.astype(np.int32), bounds, brackets


def _find_all(buf, char, end):
    """Positions of `char` in buf[:end]."""
    out, i = [], buf.find(char, 0, end)
    while i >= 0:
        out.append(i)
        i = buf.find(char, i + 1, end)
    return out


def _json_pieces(path, tail, progress=False):
    """The file's text (un-gzipped if it starts with gzip's magic bytes) in pieces for _parse_piece.

    Yields (buf, end, offset): buf[:end] = the structural character that ended the previous piece
    (a comma for the first one), then text up to and including a structural character; more text
    or padding follows, at least 32 bytes. offset = where buf[1] is in the whole text.
    Appends the text after the last structural character to `tail`.
    """
    from tqdm import tqdm

    try:
        f = open(path, "rb")
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror or e})") from None
    with f, tqdm(total=os.path.getsize(path), unit="B", unit_scale=True, leave=False,
                 desc=f"reading {os.path.basename(path)}", disable=None if progress else True) as bar:
        inflate = zlib.decompressobj(31) if f.read(2) == GZIP_MAGIC else None
        f.seek(0)
        parts, size, offset, checked = [b","], 1, 0, False
        while True:
            raw = f.read(_PIECE // 8)  # about _PIECE of text, for the course file
            bar.update(len(raw))
            text = raw
            if inflate is not None:
                try:
                    text = inflate.decompress(raw)
                    while inflate.eof and inflate.unused_data:  # another gzip member follows
                        rest, inflate = inflate.unused_data, zlib.decompressobj(31)
                        text += inflate.decompress(rest)
                except zlib.error as e:
                    raise DataError(f"{path}: corrupt gzip file ({e})") from None
            if not checked and text.strip(_WS):
                head = b"".join(parts[1:] + [text]).lstrip(_WS)
                if head[:1] != b"[":
                    raise DataError(f"{path}: not the course's JSON file (it starts with {head[:12]!r}, "
                                    "expected '[')")
                checked = True
            parts.append(text)
            size += len(text)
            if size >= _PIECE or not raw:
                buf = b"".join(parts + [_PAD])
                stop = len(buf) - len(_PAD)
                cut = max(buf.rfind(b",", 0, stop), buf.rfind(b"[", 0, stop), buf.rfind(b"]", 0, stop))
                if cut > 0:
                    yield buf, cut + 1, offset
                    offset += cut
                    parts, size = [buf[cut:stop]], stop - cut
                else:
                    parts, size = [buf[:stop]], stop
            if not raw:
                break
    if inflate is not None and not inflate.eof:
        raise DataError(f"{path}: truncated gzip file (it ends before the data does)")
    if not checked:
        raise DataError(f"{path}: empty file (no JSON text)")
    tail.append(b"".join(parts)[1:].strip(_WS))


def _text_size(path):
    """About the length of the file's text: its size, or for gzip what the trailer says (modulo
    4 GiB, and not trusted beyond 40 times the file: a damaged trailer may say anything)."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        if f.read(2) != GZIP_MAGIC or size < 20:
            return size
        f.seek(-4, os.SEEK_END)
        return min(int.from_bytes(f.read(4), "little"), 40 * size)


def _read_piece(path, job, table):
    """Parse one piece: (field ids, number of structural characters, brackets: where, is "[", offset)."""
    buf, end, offset = job
    if buf.find(b"\0", 0, end) >= 0:  # would read as the end of a field's key
        raise DataError(f"{path}: not a JSON text (it holds NUL bytes)")
    ids, bounds, brackets = _parse_piece(buf, end, table)
    brackets = brackets[bounds[brackets] > 0]  # buf[0] belongs to the previous piece
    pos = bounds[brackets]
    return ids, len(bounds), brackets, np.frombuffer(buf, np.uint8)[pos] == 91, offset + pos - 1


def _in_order(func, items, workers):
    """map(func, items) on `workers` threads, results in order, a few items in flight at a time.
    numpy and zlib release the GIL, so decompressing (here) and parsing (there) overlap."""
    if workers < 1:
        yield from map(func, items)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(workers) as pool:
        window = collections.deque()
        for item in items:
            window.append(pool.submit(func, item))
            if len(window) > 2 * workers:
                yield window.popleft().result()
        while window:
            yield window.popleft().result()


def read_course_json(path, progress=False, workers=None):
    """Read and check a course JSON file: ({split: (images float32 [n, 784], labels int64)}, pixel_range).

    workers: threads that parse while this one un-gzips (default: 2, or 0 on a single CPU: all here).
    """
    table = _FieldTable()
    workers = (2 if (os.cpu_count() or 1) > 1 else 0) if workers is None else workers
    # one int32 id per field, in a buffer sized from the text's length: the pages never written
    # (most of it) cost no memory, and a too small guess just grows
    ids, base = np.empty(_text_size(path) // 2 + 4096, np.int32), 0
    marks, tail = [], []  # marks: (struct index, is "[", text offset) of every bracket
    pieces = _json_pieces(path, tail, progress=progress)
    for piece_ids, n_bounds, k, is_open, at in _in_order(lambda job: _read_piece(path, job, table), pieces, workers):
        if base + len(piece_ids) > len(ids):
            ids = np.concatenate([ids[:base], np.empty(len(ids) + len(piece_ids), np.int32)])
        ids[base:base + len(piece_ids)] = piece_ids
        marks.append((base + k - 1, is_open, at))
        base += n_bounds - 1
    ids = ids[:base]
    kind, value = table.finish()
    where, is_open, at = (np.concatenate([m[i] for m in marks]) for i in range(3))
    unclosed = 2 * int(np.count_nonzero(is_open)) - len(is_open)
    if unclosed > 0:
        raise DataError(f"{path}: not valid JSON: the text ends inside {unclosed} open list(s) (a truncated file?)")
    if tail[0]:
        raise DataError(f"{path}: not valid JSON: unexpected text after the last bracket ({tail[0][:20]!r})")
    fault_of = _describe(kind, table.texts)
    layout = _check_layout(path, where, is_open, at, len(ids), lambda g: kind[ids[g]],
                           lambda g: fault_of(ids[g]))
    return _fill_splits(path, ids, kind, value, fault_of, layout)


def _describe(kind, texts):
    """What is wrong with the field of id i (for messages)."""
    def fault_of(i):
        if kind[i] == _EMPTY:
            return "is empty (two commas in a row?)"
        return f"is {texts.get(int(i), b'?').decode('utf-8', 'replace')!r}, not a number"
    return fault_of


def _check_layout(path, where, is_open, at, n_fields, kind_of, fault_of):
    """From the brackets alone: [[images, labels] x 3], images of 784 values, single commas between.

    Field g is the text before structural character g. Returns per split
    (first field of the images block, number of images, first label field, number of labels).
    """
    def fail(j, what):
        raise DataError(f"{path}: not the course's layout (at byte {int(at[j]):,} of the JSON text): {what}")

    if not len(where) or where[0] != 0 or not is_open[0] or kind_of(0) != _EMPTY:
        raise DataError(f"{path}: not the course's JSON file (it does not start with '[')")
    depth = np.cumsum(np.where(is_open, 1, -1))
    if depth.min() < 0:
        fail(int(np.argmax(depth < 0)), "a ']' closes no list")
    if depth[-1] != 0:
        raise DataError(f"{path}: not valid JSON: the text ends inside {int(depth[-1])} open list(s) "
                        "(a truncated file?)")
    top_end = int(np.argmax(depth == 0))
    if top_end != len(where) - 1 or where[-1] != n_fields - 1:
        fail(top_end, "more text after the top-level list")
    level = np.where(is_open, depth, depth + 1)  # 1: the top list, 2: a split, 3: images/labels, 4: an image
    if level.max() > 4:
        fail(int(np.argmax(level > 4)), "lists nested deeper than [split][images][image]")
    opens = np.flatnonzero(is_open & (level == 2))
    closes = np.flatnonzero(~is_open & (level == 2))
    if len(opens) != 3:
        raise DataError(f"{path}: the top level holds {len(opens)} list(s), expected 3 splits: "
                        "[train_set, val_set, eval_set]")
    for k in range(3):
        expected = 1 if k == 0 else where[closes[k - 1]] + 2
        if where[opens[k]] != expected:
            fail(opens[k], "expected [train_set, val_set, eval_set] and nothing else at the top level")
    if where[-1] != where[closes[2]] + 1:
        fail(closes[2], "expected [train_set, val_set, eval_set] and nothing else at the top level")
    layout = []
    for name, a, b in zip(SPLITS, opens, closes):
        inner = a + 1 + np.flatnonzero(is_open[a + 1:b] & (level[a + 1:b] == 3))
        if len(inner) != 2:
            raise DataError(f"{path}: the {name} split holds {len(inner)} list(s), expected 2: [images, labels]")
        p, m = inner  # the images list opens at bracket p, the labels list at bracket m
        q = m - 1     # ... and the images list closes at bracket q
        if is_open[m + 1]:
            fail(m + 1, f"the {name} labels hold a list; labels must be numbers")
        if where[p] != where[a] + 1 or where[m] != where[q] + 2 or where[b] != where[m + 1] + 1:
            fail(p, f"the {name} split must be [images, labels] and nothing else")
        img_open, img_close = where[p + 1:q:2], where[p + 2:q:2]
        n = len(img_open)
        if n:
            size = img_close - img_open
            wrong = np.flatnonzero(size != PIXELS)
            if wrong.size:
                i = int(wrong[0])
                fields = np.arange(img_open[i] + 1, img_close[i] + 1)
                kinds = kind_of(fields)
                if size[i] > 1 and (kinds != _NUMBER).any():  # "1 2" or "1,,2": name the culprit
                    j = int(np.argmax(kinds == _BAD)) if (kinds == _BAD).any() else int(np.argmax(kinds == _EMPTY))
                    raise DataError(f"{path}: {name} image {i}, pixel {j} {fault_of(fields[j])}")
                count = int(size[i]) if size[i] > 1 or kinds[0] != _EMPTY else 0
                raise DataError(f"{path}: {name} image {i} has {count} values, expected {PIXELS} (28 x 28)")
            gaps = np.flatnonzero(img_open[1:] != img_close[:-1] + 2)
            if gaps.size:
                fail(p + 2 + 2 * int(gaps[0]), f"expected one comma between {name} images "
                                               f"{int(gaps[0])} and {int(gaps[0]) + 1}")
            if img_open[0] != where[p] + 1 or where[q] != img_close[-1] + 1:
                fail(p, f"the {name} images list holds something that is not an image")
        elif where[q] != where[p] + 1 or kind_of(where[q]) != _EMPTY:
            fail(p, f"the {name} images must be lists of {PIXELS} numbers")
        lo, lc = int(where[m]), int(where[m + 1])
        n_labels = 0 if lc == lo + 1 and kind_of(lc) == _EMPTY else lc - lo
        layout.append((int(img_open[0]) + 1 if n else None, n, lo + 1, n_labels))
    return layout


def _fill_splits(path, ids, kind, value, fault, layout):
    """Check every field and turn ids into pixels: ({split: (images, labels)}, pixel_range)."""
    raw = np.where(kind == _NUMBER, value, np.nan).astype(np.float32)  # pixel as spelled, per id
    covered = []  # field ranges holding images and labels; all other fields must be empty
    splits, blocks, lo, hi = {}, {}, np.inf, -np.inf
    for name, (first, n, lab_first, n_labels) in zip(SPLITS, layout):
        if n == 0:
            raise DataError(f"{path}: the {name} split is empty (no images)")
        if n != n_labels:
            raise DataError(f"{path}: the {name} split has {n:,} images but {n_labels:,} labels")
        block = ids[first:first + n * (PIXELS + 2)].reshape(n, PIXELS + 2)  # 784 pixels, 2 empty fields
        seps = kind.take(block[:, PIXELS:])
        if (seps != _EMPTY).any():
            raise DataError(f"{path}: unexpected value after {name} image {int(np.argmax((seps != _EMPTY).any(1)))}")
        images = np.empty((n, PIXELS), np.float32)
        for r in range(0, n, _ROWS):  # a few thousand images at a time: small temporaries
            raw.take(block[r:r + _ROWS, :PIXELS], out=images[r:r + _ROWS])
        if not np.isfinite(images.min()) or not np.isfinite(images.max()):  # min/max are NaN if any NaN
            cell = int(np.argmax(~np.isfinite(images)))
            i, j = divmod(cell, PIXELS)
            i_d = block[i, j]
            fault_text = fault(i_d) if kind[i_d] != _NUMBER else f"is {value[i_d]:g} (pixels must be finite)"
            raise DataError(f"{path}: {name} image {i}, pixel {j} {fault_text}")
        lo, hi = min(lo, float(images.min())), max(hi, float(images.max()))
        labels = ids[lab_first:lab_first + n_labels]
        label_kinds = kind.take(labels)
        if (label_kinds != _NUMBER).any():
            i = int(np.flatnonzero(label_kinds != _NUMBER)[0])
            raise DataError(f"{path}: {name} label {i} {fault(labels[i])}")
        label_values = value.take(labels)
        wrong = np.flatnonzero((label_values != np.round(label_values)) | (label_values < 0) | (label_values > 9))
        if wrong.size:
            i = int(wrong[0])
            raise DataError(f"{path}: {name} label {i} is {label_values[i]:g}, expected a whole number 0-9")
        splits[name] = (images, label_values.astype(np.int64))
        blocks[name] = block
        covered += [(first, first + n * (PIXELS + 2)), (lab_first, lab_first + n_labels)]
    edges = [0] + [e for r in sorted(covered) for e in r] + [len(ids)]
    outside = np.concatenate([ids[a:b] for a, b in zip(edges[::2], edges[1::2])])
    if (kind.take(outside) != _EMPTY).any():
        raise DataError(f"{path}: not the course's layout: a value outside the images and labels lists")
    pixel_range, scale = _pixel_range(path, lo, hi, splits)
    if scale is not None:  # not 0..1: scale each distinct value in float64, then take again
        pixels = scale(value).astype(np.float32)
        for name, block in blocks.items():
            images = splits[name][0]
            for r in range(0, len(block), _ROWS):
                pixels.take(block[r:r + _ROWS, :PIXELS], out=images[r:r + _ROWS])
    return splits, pixel_range


def _pixel_range(path, lo, hi, splits):
    """Which spelling the pixels use, from their smallest and largest value, and the function
    that maps it to [0, 1] (None for 0..1, the convention itself)."""
    if lo >= 0 and hi <= 1:
        return "0..1", None
    if lo >= -1 and hi <= 1:
        return "-1..1", lambda v: (v + 1) / 2
    if lo >= 0 and hi <= 255:
        return "0..255", lambda v: v / 255
    odd = hi if hi > 255 or (lo < 0 and hi > 1) else lo  # the value that rules out every spelling
    for name, (images, _) in splits.items():
        cells = np.flatnonzero(images == np.float32(odd))
        if cells.size:
            i, j = divmod(int(cells[0]), PIXELS)
            raise DataError(f"{path}: pixel values run from {lo:g} to {hi:g}, which fits none of 0..1, -1..1, "
                            f"0..255 ({name} image {i}, pixel {j} is {odd:g})")


def write_course_json(path, splits):
    """Write {split: (images, labels)} as the course's gzipped JSON layout, atomically.

    images: uint8 0..255 or floats in [0, 1], any shape [n, ...] of 784 pixels per image; they are
    written as the course writes them, floats in [0, 1] (float32 values as Python floats).
    The gzip header holds no name or time, so the same digits always give the same bytes.
    """
    tokens = np.array([repr(float(v)) for v in _TO_FLOAT], dtype=object)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=6,
                                                   mtime=0) as f:
            f.write(b"[")
            for k, name in enumerate(SPLITS):
                images, labels = splits[name]
                images = np.asarray(images).reshape(len(images), PIXELS)
                if images.dtype != np.uint8:
                    images = images.astype(np.float32)
                    as_bytes = np.clip(np.rint(images * 255), 0, 255).astype(np.uint8)
                    if np.array_equal(_TO_FLOAT.take(as_bytes), images):
                        images = as_bytes  # 8-bit pixels: write each as the course spells k/255
                f.write(b", [[" if k else b"[[")
                for i, row in enumerate(images):
                    if row.dtype == np.uint8:
                        text = ", ".join(tokens.take(row).tolist())
                    else:
                        text = json.dumps(row.tolist())[1:-1]
                    f.write((", [" if i else "[").encode() + text.encode() + b"]")
                f.write(b"], " + json.dumps([int(x) for x in labels]).encode() + b"]")
            f.write(b"]")
    return path


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
