"""The course's JSON file (``[train, valid, eval]``, each ``[images, labels]``), read fast and written.

json.load turns the full course file's 429 MB of text into 55 million Python floats (14 s, 3 GB).
The reader here never makes a Python object per number; how, is told below.

A reader of this code may skip this module: it is only a faster ``json.load`` for one file layout
(near 500 lines, for 4.3x the speed at a fifth of the memory: README, `tools/bench.py data`).
``paddle_mnist.core.data`` is the package to use: it adds the cache, IDX files and synthetic digits
around these two functions.
"""

import collections
import gzip
import json
import os
import re
import threading
import zlib

import numpy as np

from paddle_mnist.core.errors import DataError
from paddle_mnist.core.files import atomic_path

SPLITS = ("train", "valid", "eval")
PIXELS = 784  # 28 x 28
GZIP_MAGIC = b"\x1f\x8b"
_TO_FLOAT = (np.arange(256) / 255).astype(np.float32)  # byte k -> float32(k / 255), as the course file has it

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
