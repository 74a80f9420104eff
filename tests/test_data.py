"""paddle_mnist.core.data (+ idx, synthetic): formats, pixel spellings, bad files, cache, chain, batches."""

import gzip
import hashlib
import json
import os
import struct
from pathlib import Path

import numpy as np
import pytest

from paddle_mnist.core.data import coursejson as CJ
from paddle_mnist.core import data as D
from paddle_mnist.core.data import sources
from paddle_mnist.core.errors import ConfigError, DataError
from paddle_mnist.core.data.idx import split_rule

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "mnist"
SIZES = (12, 5, 4)


def digits(n, seed=0):
    """`n` random 8-bit 'images' and labels; image 0 holds every byte value 0..255."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 784), dtype=np.uint8)
    images[rng.random(images.shape) < 0.6] = 0  # mostly background, like MNIST
    images[0, :256] = np.arange(256)
    return images, rng.integers(0, 10, size=n)


def course_obj(spelling="0..1", sizes=SIZES, seed=0):
    """The course's layout as Python lists, pixels spelled as `spelling`."""
    obj = []
    for k, n in enumerate(sizes):
        images, labels = digits(n, seed + k)
        if spelling == "0..1":  # as the course writes them: float32 values as Python floats
            pixels = (images / 255).astype(np.float32).tolist()
        elif spelling == "-1..1":
            pixels = (images / 127.5 - 1).tolist()
        else:
            pixels = images.astype(int).tolist()
        obj.append([pixels, labels.tolist()])
    return obj


def expected(sizes=SIZES, seed=0):
    out = []
    for k, n in enumerate(sizes):
        images, labels = digits(n, seed + k)
        out.append(((images / 255).astype(np.float32).reshape(n, 1, 28, 28), labels))
    return out


def write(path, obj_or_text, gz=True, **dumps):
    text = obj_or_text if isinstance(obj_or_text, (str, bytes)) else json.dumps(obj_or_text, **dumps)
    raw = text.encode() if isinstance(text, str) else text
    Path(path).write_bytes(gzip.compress(raw) if gz else raw)
    return str(path)


def assert_matches(data, want):
    for name, (images, labels) in zip(D.SPLITS, want):
        split = data.split(name)
        assert split.images.dtype == np.float32 and split.images.shape == images.shape
        assert split.labels.dtype == np.int64
        np.testing.assert_array_equal(split.images, images)
        np.testing.assert_array_equal(split.labels, labels)


# --- the course's JSON file -------------------------------------------------------------------

def test_course_json_loads_exactly(tmp_path):
    path = write(tmp_path / "m.json.gz", course_obj())
    data = D.load_dataset(path, progress=False)
    assert_matches(data, expected())
    info = data.info
    assert info["sha256"] == hashlib.sha256(Path(path).read_bytes()).hexdigest()
    assert info["sizes"] == dict(zip(D.SPLITS, SIZES))
    assert info["pixel_range"] == "0..1" and info["synthetic"] is False
    assert info["path"] == os.path.abspath(path) and info["source"] == path
    json.dumps(info)  # goes into run records


@pytest.mark.parametrize("spelling", ["0..1", "-1..1", "0..255"])
@pytest.mark.parametrize("gz", [True, False])
def test_every_pixel_spelling_gives_the_same_tensors(tmp_path, spelling, gz):
    path = write(tmp_path / "m.json", course_obj(spelling), gz=gz)
    data = D.load_dataset(path, progress=False)
    assert data.info["pixel_range"] == spelling
    assert_matches(data, expected())  # bit for bit, all 256 byte values included


def test_gzip_is_recognised_by_its_bytes_not_its_name(tmp_path):
    plain = write(tmp_path / "plain.json.gz", course_obj(), gz=False)
    zipped = write(tmp_path / "zipped.json", course_obj(), gz=True)
    for path in (plain, zipped):
        assert_matches(D.load_dataset(path, progress=False), expected())


@pytest.mark.parametrize("dumps", [{"indent": 1}, {"separators": (",", ":")}, {"indent": 30}],
                         ids=["indented", "compact", "long-indent"])
def test_any_json_whitespace_reads_the_same(tmp_path, dumps):
    path = write(tmp_path / "m.json.gz", course_obj(), **dumps)
    assert_matches(D.load_dataset(path, progress=False), expected())


def test_written_file_is_json_dumps_text_and_reproducible(tmp_path):
    splits = {name: digits(n, k) for k, (name, n) in enumerate(zip(D.SPLITS, SIZES))}
    a, b = D.write_course_json(tmp_path / "a.json.gz", splits), D.write_course_json(tmp_path / "b.json.gz", splits)
    assert gzip.decompress(Path(a).read_bytes()).decode() == json.dumps(course_obj())
    assert Path(a).read_bytes() == Path(b).read_bytes()
    floats = {name: ((im / 255).astype(np.float32), lab) for name, (im, lab) in splits.items()}
    D.write_course_json(tmp_path / "c.json.gz", floats)  # float pixels that are k/255: same file
    assert Path(tmp_path / "c.json.gz").read_bytes() == Path(a).read_bytes()


def _bad_cases():
    good = course_obj()
    img = good[0][0][0]

    def with_train(images=None, labels=None):
        obj = json.loads(json.dumps(good))
        if images is not None:
            obj[0][0] = images
        if labels is not None:
            obj[0][1] = labels
        return obj

    text = json.dumps(good)
    return {
        "not json": (b"hello world", "not the course's JSON file"),
        "png": (b"\x89PNG\r\n\x1a\n" + bytes(100), "not the course's JSON file"),
        "empty": (b"", "empty file"),
        "json object": ({"train": []}, "not the course's JSON file"),
        "two splits": (good[:2], "expected 3 splits"),
        "split of one list": ([[good[0][0]], good[1], good[2]], "expected 2: [images, labels]"),
        "lengths differ": (with_train(labels=good[0][1][:-1]), "12 images but 11 labels"),
        "short image": (with_train(images=[img[:-1]] + good[0][0][1:]), "train image 0 has 783 values"),
        "empty image": (with_train(images=[[]] + good[0][0][1:]), "train image 0 has 0 values"),
        "string pixel": (with_train(images=[["x"] + img[1:]] + good[0][0][1:]), "pixel 0 is '\"x\"', not a number"),
        "nan pixel": (text.replace("[[[0.0", "[[[NaN", 1), "is 'NaN', not a number"),
        "infinite pixel": (text.replace("[[[0.0", "[[[1e999", 1), "pixels must be finite"),
        "out of range": (with_train(images=[[300.5] + img[1:]] + good[0][0][1:]), "fits none of"),
        "negative 0..255": (with_train(images=[[-5] + img[1:]] + good[0][0][1:]), "fits none of"),
        "fractional label": (with_train(labels=[3.5] + good[0][1][1:]), "train label 0 is 3.5"),
        "label 10": (with_train(labels=[10] + good[0][1][1:]), "train label 0 is 10"),
        "string label": (with_train(labels=["3"] + good[0][1][1:]), "train label 0 is '\"3\"', not a number"),
        "nested label": (with_train(labels=[[3]] + good[0][1][1:]), "labels hold a list"),
        "empty train": (with_train(images=[], labels=[]), "train split is empty"),
        "double comma": (text.replace("[[[0.0, ", "[[[0.0,, ", 1), "train image 0, pixel 1 is empty (two commas"),
        "missing comma": (text.replace("[[[0.0, ", "[[[0.0 ", 1), "train image 0, pixel 0 is '0.0 0.0039"),
        "missing comma between images": (text.replace("], [", "] [", 1), "expected one comma"),
        "cut text": (text[:len(text) // 2], "ends inside"),
        "trailing text": (text + " 5", "after the last bracket"),
        "trailing list": (text + ", []", "more text after the top-level list"),
        "too deep": (with_train(images=[[img]] + good[0][0][1:]), "nested deeper"),
        "nul byte": (text.replace("0.0", "0.0\u0000", 1), "NUL bytes"),
    }


@pytest.mark.parametrize("case", list(_bad_cases()))
def test_bad_file_raises_one_clear_error(tmp_path, case):
    content, message = _bad_cases()[case]
    path = write(tmp_path / "bad.json.gz", content)
    with pytest.raises(DataError) as e:
        D.load_dataset(path, progress=False)
    assert str(e.value).startswith(path + ": ")
    assert message in str(e.value)


def test_bad_gzip(tmp_path):
    zipped = gzip.compress(json.dumps(course_obj()).encode())
    cut = write(tmp_path / "cut.json.gz", zipped[: len(zipped) // 2], gz=False)
    with pytest.raises(DataError, match="truncated gzip"):
        D.load_dataset(cut, progress=False)
    broken = bytearray(zipped)
    broken[len(broken) // 2: len(broken) // 2 + 40] = bytes(40)
    bad = write(tmp_path / "bad.json.gz", bytes(broken), gz=False)
    with pytest.raises(DataError, match="bad.json.gz: corrupt gzip"):
        D.load_dataset(bad, progress=False)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="nope.json.gz: no such file"):
        D.load_dataset(str(tmp_path / "nope.json.gz"))


# --- the cache ----------------------------------------------------------------------------------

def _fail(*args, **kwargs):
    raise AssertionError("the file was parsed again")


def test_cache_hit_skips_the_parser(tmp_path, monkeypatch):
    monkeypatch.setenv("PADDLE_MNIST_CACHE", str(tmp_path / "cache"))
    path = write(tmp_path / "m.json.gz", course_obj())
    first = D.load_dataset(path, progress=False)
    entry = tmp_path / "cache" / first.info["sha256"]
    assert sorted(p.name for p in entry.iterdir())[-1] == "valid-labels.npy" and (entry / "meta.json").exists()
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [entry.name]  # no temporary folder left
    monkeypatch.setattr(sources, "read_course_json", _fail)
    second = D.load_dataset(path, progress=False)
    assert_matches(second, expected())
    assert second.info == first.info
    with pytest.raises(ValueError):  # mapped read-only from the cache
        second.train.images[0, 0, 0, 0] = 1


def test_cache_follows_the_content(tmp_path, monkeypatch):
    monkeypatch.setenv("PADDLE_MNIST_CACHE", str(tmp_path / "cache"))
    path = write(tmp_path / "m.json.gz", course_obj())
    D.load_dataset(path, progress=False)
    write(path, course_obj(seed=7))  # same name, new digits
    calls = []
    parse = D.read_course_json
    monkeypatch.setattr(sources, "read_course_json", lambda *a, **k: calls.append(a) or parse(*a, **k))
    assert_matches(D.load_dataset(path, progress=False), expected(seed=7))
    assert len(calls) == 1


@pytest.mark.parametrize("damage", ["meta", "truncated npy", "wrong shape"])
def test_damaged_cache_is_ignored_and_rebuilt(tmp_path, monkeypatch, damage):
    monkeypatch.setenv("PADDLE_MNIST_CACHE", str(tmp_path / "cache"))
    path = write(tmp_path / "m.json.gz", course_obj())
    sha = D.load_dataset(path, progress=False).info["sha256"]
    entry = tmp_path / "cache" / sha
    if damage == "meta":
        (entry / "meta.json").write_text("{not json")
    elif damage == "truncated npy":
        npy = entry / "train-images.npy"
        npy.write_bytes(npy.read_bytes()[:200])
    else:
        np.save(entry / "eval-images.npy", np.zeros((3, 784), np.float32))
    calls = []
    parse = D.read_course_json
    monkeypatch.setattr(sources, "read_course_json", lambda *a, **k: calls.append(a) or parse(*a, **k))
    assert_matches(D.load_dataset(path, progress=False), expected())
    assert len(calls) == 1
    monkeypatch.setattr(sources, "read_course_json", _fail)  # rebuilt: the next load is a hit again
    assert_matches(D.load_dataset(path, progress=False), expected())


def test_unwritable_cache_only_warns(tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    monkeypatch.setenv("PADDLE_MNIST_CACHE", str(blocker))
    path = write(tmp_path / "m.json.gz", course_obj())
    assert_matches(D.load_dataset(path, progress=False), expected())
    assert "cannot cache" in capsys.readouterr().err


# --- real digits ----------------------------------------------------------------------------------

def test_real15k_equals_the_idx_files(real15k):
    """The shared JSON file and the shared IDX files hold the same digits (their README says how)."""
    from paddle_mnist.core.data.idx import read_images, read_labels

    data = D.load_dataset(real15k, progress=False)
    test = read_images(SHARED / "t10k-images-idx3-ubyte.gz"), read_labels(SHARED / "t10k-labels-idx1-ubyte.gz")
    train = read_images(SHARED / "train5k-images-idx3-ubyte.gz"), read_labels(SHARED / "train5k-labels-idx1-ubyte.gz")
    want = [(train[0], train[1]), (test[0][:5000], test[1][:5000]), (test[0][5000:], test[1][5000:])]
    for name, (images, labels) in zip(D.SPLITS, want):
        split = data.split(name)
        np.testing.assert_array_equal(split.images, (images / 255).astype(np.float32).reshape(-1, 1, 28, 28))
        np.testing.assert_array_equal(split.labels, labels)
    assert data.info["pixel_range"] == "0..1"
    idx = D.load_dataset(str(SHARED), progress=False)  # the IDX directory itself
    for name in D.SPLITS:
        np.testing.assert_array_equal(idx.split(name).images, data.split(name).images)


# --- IDX files ----------------------------------------------------------------------------------

def write_idx(path, array, gz=True, magic=None):
    array = np.asarray(array, np.uint8)
    header = struct.pack(">BBBB", 0, 0, 8, array.ndim) if magic is None else magic
    raw = header + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()
    Path(path).write_bytes(gzip.compress(raw) if gz else raw)


def idx_dir(tmp_path, n_train=8, n_test=6, gz=True, prefix="train"):
    d = tmp_path / "idx"
    d.mkdir(exist_ok=True)
    tr, te = digits(n_train, 1), digits(n_test, 2)
    ext = ".gz" if gz else ""
    write_idx(d / f"{prefix}-images-idx3-ubyte{ext}", tr[0].reshape(-1, 28, 28), gz)
    write_idx(d / f"{prefix}-labels-idx1-ubyte{ext}", tr[1], gz)
    write_idx(d / f"t10k-images-idx3-ubyte{ext}", te[0].reshape(-1, 28, 28), gz)
    write_idx(d / f"t10k-labels-idx1-ubyte{ext}", te[1], gz)
    return d, tr, te


@pytest.mark.parametrize("gz", [True, False])
def test_idx_directory(tmp_path, gz):
    d, (tr_img, tr_lab), (te_img, te_lab) = idx_dir(tmp_path, gz=gz, prefix="train5k")
    data = D.load_dataset(str(d), progress=False)
    f = lambda a: (a / 255).astype(np.float32).reshape(-1, 1, 28, 28)  # noqa: E731
    assert_matches(data, [(f(tr_img), tr_lab), (f(te_img[:3]), te_lab[:3]), (f(te_img[3:]), te_lab[3:])])
    assert data.info["pixel_range"] == "0..255" and data.info["sizes"] == {"train": 8, "valid": 3, "eval": 3}
    assert "valid = test[:3]" in data.info["split_rule"]


def test_idx_split_rule():
    rule, words = split_rule(60000, 10000)
    assert rule == {"train": ("train", slice(0, 50000)), "valid": ("train", slice(50000, None)),
                    "eval": ("test", slice(None))}
    assert "the course's split" in words
    rule, _ = split_rule(5000, 10000)
    assert rule["train"] == ("train", slice(None)) and rule["valid"] == ("test", slice(0, 5000))


@pytest.mark.parametrize("fault,message", [
    ("magic", "not an IDX file"), ("truncated", "truncated IDX file"), ("dims", "unsigned bytes with 3"),
    ("label", "expected a digit 0-9"), ("count", "8 images but"), ("missing", "no IDX t10k files"),
    ("gzip", "truncated gzip"),
])
def test_bad_idx(tmp_path, fault, message):
    d, (tr_img, tr_lab), _ = idx_dir(tmp_path)
    images = d / "train-images-idx3-ubyte.gz"
    if fault == "magic":
        write_idx(images, tr_img.reshape(-1, 28, 28), magic=b"\x12\x34\x08\x03")
    elif fault == "truncated":
        raw = gzip.decompress(images.read_bytes())
        images.write_bytes(gzip.compress(raw[:-100]))
    elif fault == "dims":
        write_idx(images, tr_img)  # [n, 784]: 2 dimensions
    elif fault == "label":
        write_idx(d / "train-labels-idx1-ubyte.gz", np.full(8, 11))
    elif fault == "count":
        write_idx(d / "train-labels-idx1-ubyte.gz", tr_lab[:5])
    elif fault == "missing":
        (d / "t10k-labels-idx1-ubyte.gz").unlink()
    else:
        images.write_bytes(images.read_bytes()[:30])
    with pytest.raises(DataError, match=message):
        D.load_dataset(str(d), progress=False)


# --- synthetic data -------------------------------------------------------------------------------

def test_synthetic_is_seeded_marked_and_learnable():
    a = D.load_dataset("synthetic", seed=3, synthetic_size=(300, 100, 50))
    b = D.load_dataset("synthetic", seed=3, synthetic_size=(300, 100, 50))
    c = D.load_dataset("synthetic", seed=4, synthetic_size=(300, 100, 50))
    assert a.info["synthetic"] is True and a.info["source"] == "synthetic (seed 3)"
    assert a.info["sizes"] == {"train": 300, "valid": 100, "eval": 50}
    assert a.info["sha256"] == b.info["sha256"] != c.info["sha256"]
    np.testing.assert_array_equal(a.train.images, b.train.images)
    assert not np.array_equal(a.train.images, c.train.images)
    assert a.train.images.dtype == np.float32 and a.train.images.shape == (300, 1, 28, 28)
    assert 0 <= a.train.images.min() and a.train.images.max() <= 1
    assert set(np.unique(a.train.labels)) == set(range(10))
    # a linear softmax model, one epoch of plain SGD, beats chance (10%) clearly
    x, y = a.train.images.reshape(300, -1), a.train.labels
    w, bias = np.zeros((784, 10)), np.zeros(10)
    for i in range(0, 300, 10):
        z = x[i:i + 10] @ w + bias
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        p[np.arange(10), y[i:i + 10]] -= 1
        w -= 0.1 * x[i:i + 10].T @ p / 10
        bias -= 0.1 * p.mean(0)
    accuracy = ((a.valid.images.reshape(100, -1) @ w + bias).argmax(1) == a.valid.labels).mean()
    assert accuracy > 0.3


def test_synthetic_bad_options():
    with pytest.raises(ConfigError):
        D.load_dataset("synthetic", seed=-1)
    with pytest.raises(ConfigError):
        D.load_dataset("synthetic", synthetic_size=(10, 0, 5))


# --- batches --------------------------------------------------------------------------------------

def test_epoch_order_is_a_pure_function():
    a = D.epoch_order(100, seed=0, epoch=0)
    assert sorted(a) == list(range(100))
    np.testing.assert_array_equal(a, D.epoch_order(100, seed=0, epoch=0))
    assert not np.array_equal(a, D.epoch_order(100, seed=0, epoch=1))
    assert not np.array_equal(a, D.epoch_order(100, seed=1, epoch=0))


def _split(n):
    images = np.arange(n * 784, dtype=np.float32).reshape(n, 1, 28, 28)
    return D.Split(images, np.arange(n, dtype=np.int64) % 10)


def test_batches_in_order_with_partial_last_batch():
    split = _split(25)
    out = list(D.batches(split, 10))
    assert [len(labels) for _, labels in out] == [10, 10, 5]
    imgs, labels = out[-1]
    assert imgs.dtype == np.float32 and imgs.shape == (5, 1, 28, 28)
    assert labels.dtype == np.int64 and labels.shape == (5, 1)
    np.testing.assert_array_equal(np.concatenate([i for i, _ in out]), split.images)


def test_shuffled_batches_follow_epoch_order():
    split = _split(25)
    out = list(D.batches(split, 10, shuffle=True, seed=5, epoch=2))
    order = D.epoch_order(25, 5, 2)
    np.testing.assert_array_equal(np.concatenate([i for i, _ in out]), split.images[order])
    np.testing.assert_array_equal(np.concatenate([lab for _, lab in out])[:, 0], split.labels[order])
    with pytest.raises(ConfigError):
        list(D.batches(split, 0))


def test_load_data_is_the_course_generator(tmp_path):
    path = write(tmp_path / "m.json.gz", course_obj(sizes=(25, 7, 4)))
    train = D.load_data("train", batch_size=10, datafile=path)
    first, second = list(train()), list(train())
    assert [len(lab) for _, lab in first] == [10, 10, 5]
    labels = D.load_dataset(path).train.labels
    for k, epoch in enumerate((first, second)):  # call k is epoch k
        np.testing.assert_array_equal(np.concatenate([lab for _, lab in epoch])[:, 0],
                                      labels[D.epoch_order(25, 0, k)])
    valid = D.load_data("valid", batch_size=4, data=path)
    assert [len(lab) for _, lab in valid()] == [4, 3]
    np.testing.assert_array_equal(np.concatenate([lab for _, lab in valid()])[:, 0],
                                  D.load_dataset(path).valid.labels)
    assert sum(len(lab) for _, lab in D.load_data("test", 100, path)()) == 4
    with pytest.raises(ConfigError):
        D.load_data("train", 10, datafile=path, data="synthetic")
    with pytest.raises(ConfigError, match="unknown data split"):
        D.load_data("training", 10, path)


def test_mnist_dataset_with_paddle_dataloader(tmp_path):
    import paddle

    from paddle_mnist.core.data import MnistDataset

    path = write(tmp_path / "m.json.gz", course_obj(sizes=(25, 7, 4)))
    ds = MnistDataset("train", data=path)
    assert isinstance(ds, paddle.io.Dataset) and len(ds) == 25
    img, label = ds[3]
    assert img.shape == (1, 28, 28) and img.dtype == np.float32 and label.shape == (1,) and label.dtype == np.int64
    loader = paddle.io.DataLoader(ds, batch_size=10, shuffle=False)
    shapes = [(tuple(x.shape), tuple(y.shape)) for x, y in loader]
    assert shapes == [((10, 1, 28, 28), (10, 1))] * 2 + [((5, 1, 28, 28), (5, 1))]
    eval_ds = MnistDataset("eval", data=D.load_dataset(path))
    assert len(eval_ds) == 4


# --- where the data comes from ----------------------------------------------------------------------

@pytest.fixture
def no_data(tmp_path, monkeypatch):
    """An empty working directory and an empty fake Paddle DATA_HOME."""
    import paddle.dataset.common as common

    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setattr(common, "DATA_HOME", str(tmp_path / "paddle-home"))
    return tmp_path


def _fake_paddle_files(tmp_path, monkeypatch):
    """IDX files under the names Paddle's MNIST uses, with MNIST's MD5s patched to theirs."""
    from paddle.vision.datasets import MNIST

    d, tr, te = idx_dir(tmp_path)
    for key, name in (("TRAIN_IMAGE", "train-images-idx3-ubyte.gz"), ("TRAIN_LABEL", "train-labels-idx1-ubyte.gz"),
                      ("TEST_IMAGE", "t10k-images-idx3-ubyte.gz"), ("TEST_LABEL", "t10k-labels-idx1-ubyte.gz")):
        monkeypatch.setattr(MNIST, f"{key}_MD5", hashlib.md5((d / name).read_bytes()).hexdigest())
    return d, tr


def test_chain_prefers_work_mnist_json_gz(no_data):
    os.mkdir("work")
    write("work/mnist.json.gz", course_obj())
    assert D.find_data() == os.path.join("work", "mnist.json.gz")
    data = D.load_dataset(progress=False)
    assert data.info["source"] == os.path.join("work", "mnist.json.gz")
    assert_matches(data, expected())


def test_chain_uses_paddles_cache(no_data, monkeypatch):
    import paddle.dataset.common as common

    d, (tr_img, _) = _fake_paddle_files(no_data, monkeypatch)
    os.makedirs(os.path.join(common.DATA_HOME, "mnist"))
    for f in d.iterdir():
        Path(common.DATA_HOME, "mnist", f.name).write_bytes(f.read_bytes())
    data = D.load_dataset(progress=False)
    assert data.info["path"] == os.path.join(common.DATA_HOME, "mnist")
    np.testing.assert_array_equal(data.train.images.reshape(8, 784), (tr_img / 255).astype(np.float32))


def test_chain_offline_and_empty_says_what_to_do(no_data):
    with pytest.raises(DataError) as e:
        D.load_dataset(progress=False)
    message = str(e.value)
    for part in ("work/mnist.json.gz", "paddle-home", "PADDLE_MNIST_OFFLINE", "--data PATH",
                 "paddle-mnist data build --idx DIR", "--data synthetic"):
        assert part in message


def test_chain_downloads_with_paddles_downloader(no_data, monkeypatch):
    import paddle.dataset.common as common

    d, _ = _fake_paddle_files(no_data, monkeypatch)
    monkeypatch.delenv("PADDLE_MNIST_OFFLINE")
    monkeypatch.delenv("CI", raising=False)
    fetched = []

    def fake_download(url, module, md5):
        name = url.rsplit("/", 1)[-1]
        os.makedirs(os.path.join(common.DATA_HOME, module), exist_ok=True)
        Path(common.DATA_HOME, module, name).write_bytes((d / name).read_bytes())
        fetched.append((name, md5))

    monkeypatch.setattr(common, "download", fake_download)
    assert D.find_data(progress=False) == os.path.join(common.DATA_HOME, "mnist")
    assert [n for n, _ in fetched] == ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                                       "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]

    def no_network(url, module, md5):
        raise RuntimeError("Cannot download")

    monkeypatch.setattr(common, "download", no_network)
    monkeypatch.setattr(common, "DATA_HOME", str(no_data / "other-home"))
    with pytest.raises(DataError, match="failed: Cannot download"):
        D.find_data(progress=False)


def test_default_source_only_looks(no_data, monkeypatch):
    """What `doctor` shows: the choice find_data would make, without downloading or parsing."""
    import paddle.dataset.common as common

    def no_download(url, module, md5):
        raise AssertionError("default_source must not download")

    monkeypatch.setattr(common, "download", no_download)
    plan = D.default_source()
    assert plan["source"] == "none" and plan["path"] is None
    assert plan["tried"][-1] == "no download (PADDLE_MNIST_OFFLINE is set)"
    monkeypatch.delenv("PADDLE_MNIST_OFFLINE")
    monkeypatch.delenv("CI", raising=False)
    plan = D.default_source()
    assert plan["source"] == "download" and plan["path"] == os.path.join(common.DATA_HOME, "mnist")
    assert not os.path.exists(plan["path"])

    d, _ = _fake_paddle_files(no_data, monkeypatch)
    os.makedirs(os.path.join(common.DATA_HOME, "mnist"))
    for f in d.iterdir():
        Path(common.DATA_HOME, "mnist", f.name).write_bytes(f.read_bytes())
    assert D.default_source()["source"] == "paddle cache"
    Path(common.DATA_HOME, "mnist", "t10k-labels-idx1-ubyte.gz").write_bytes(b"damaged")  # MD5 no longer matches
    plan = D.default_source()
    assert plan["source"] == "download" and "missing or damaged: t10k-labels-idx1-ubyte.gz)" in plan["tried"][1]

    os.mkdir("work")
    Path("work", "mnist.json.gz").write_text("not parsed")
    assert D.default_source() == {"source": "local file", "path": os.path.join("work", "mnist.json.gz"), "tried": []}


def test_split_names():
    data = D.load_dataset("synthetic", synthetic_size=(20, 10, 5))
    assert data.split("test") is data.eval and data.split("valid") is data.valid
    with pytest.raises(ConfigError):
        data.split("val")


def test_failed_write_leaves_no_file(tmp_path, monkeypatch):
    from types import SimpleNamespace

    splits = {name: digits(n, k) for k, (name, n) in enumerate(zip(D.SPLITS, SIZES))}

    def disk_full(*args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr(CJ, "json", SimpleNamespace(dumps=disk_full))  # fails after the first images
    with pytest.raises(OSError):
        D.write_course_json(tmp_path / "m.json.gz", splits)
    assert list(tmp_path.iterdir()) == []


def test_many_distinct_values_are_exact(tmp_path):
    """Not 8-bit: ~30,000 distinct numbers, so some keys share a table slot (the overflow path)."""
    rng = np.random.default_rng(1)
    obj = [[rng.random((n, 784)).tolist(), rng.integers(0, 10, n).tolist()] for n in (20, 10, 10)]
    path = write(tmp_path / "m.json.gz", obj)
    data = D.load_dataset(path, progress=False)
    for name, (images, labels) in zip(D.SPLITS, obj):
        np.testing.assert_array_equal(data.split(name).images.reshape(-1, 784), np.array(images, np.float32))
        np.testing.assert_array_equal(data.split(name).labels, labels)
    table = CJ._FieldTable()
    CJ._parse_piece(*_first_piece(path), table)
    assert table.extra  # the slot-collision path was taken


def _first_piece(path):
    buf, end, _ = next(CJ._json_pieces(path, []))
    return buf, end


@pytest.mark.slow
@pytest.mark.parametrize("piece", [64, 999, 1 << 14])
@pytest.mark.parametrize("gz", [True, False])
def test_any_piece_size_and_thread_count_reads_the_same(tmp_path, monkeypatch, piece, gz):
    """Pieces end anywhere (inside numbers, between brackets); threads must keep them in order."""
    monkeypatch.setattr(CJ, "_PIECE", piece)
    path = write(tmp_path / "m.json", course_obj("-1..1"), gz=gz)
    want = expected()
    for workers in (0, 1, 3):
        splits, pixel_range = D.read_course_json(path, workers=workers)
        assert pixel_range == "-1..1"
        for name, (images, labels) in zip(D.SPLITS, want):
            np.testing.assert_array_equal(splits[name][0], images.reshape(-1, 784))
            np.testing.assert_array_equal(splits[name][1], labels)
