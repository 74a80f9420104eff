"""Benchmarks, one function per benchmark: ``python tools/bench.py data``.

Every measurement runs in a fresh Python process, so each side pays its own imports and its peak
memory (RSS, from os.wait4) is its own. Timings are taken inside the process, around the work only.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(ROOT, "..", "shared", "mnist")
FULL_SIZES = (50000, 10000, 10000)  # the course file's splits
BENCH_DIR = os.environ.get("PADDLE_MNIST_BENCH_DIR") or os.path.join(tempfile.gettempdir(), "paddle_mnist_bench")

sys.path.insert(0, ROOT)


def make_fullsize_file(path):
    """Write a file shaped like the course's mnist.json.gz (50,000 / 10,000 / 10,000 images, pixels as
    JSON floats in [0, 1], gzipped) by tiling the real digits in ../shared/mnist, or synthetic digits
    when those are absent. Returns a short description of where the digits came from."""
    from paddle_mnist.data import SPLITS, write_course_json

    try:
        from paddle_mnist.idx import find_idx_files, read_images, read_labels

        pairs = find_idx_files(SHARED)
        images = np.concatenate([read_images(pairs[k][0]) for k in ("train", "t10k")])
        labels = np.concatenate([read_labels(pairs[k][1]) for k in ("train", "t10k")])
        origin = f"{len(labels):,} real digits from ../shared/mnist, tiled"
    except Exception:  # no real digits here: synthetic ones show the same speed
        from paddle_mnist.synthetic import make_split

        images, labels = make_split(15000, np.random.default_rng(0))
        images = np.rint(images * 255).astype(np.uint8)
        origin = "15,000 synthetic digits, tiled (../shared/mnist not found)"
    splits, start = {}, 0
    for name, n in zip(SPLITS, FULL_SIZES):
        idx = np.arange(start, start + n) % len(labels)
        splits[name] = (images[idx], labels[idx])
        start += n
    write_course_json(path, splits)
    return origin


def _run_child(code, env=None):
    """Run `code` in a fresh interpreter; return (the JSON it prints last, its peak RSS in MB)."""
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], stdout=subprocess.PIPE,
                            env=dict(os.environ, **(env or {})), cwd=ROOT)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"benchmark child failed (exit {proc.returncode})")
    rss_mb = usage.ru_maxrss / 1024 if sys.platform != "darwin" else usage.ru_maxrss / 2**20
    return json.loads(out.decode().strip().splitlines()[-1]), rss_mb


# The course's load_data (chapter "手写数字识别之数据处理"), its loop as written there.
COURSE_CODE = """
import gzip, json, random, time
import numpy as np

LOAD_SECONDS = []  # added: the time of the json.load line


def course_load_data(datafile, mode='train'):
    t = time.perf_counter()
    data = json.load(gzip.open(datafile))
    LOAD_SECONDS.append(time.perf_counter() - t)
    train_set, val_set, eval_set = data
    IMG_ROWS = 28
    IMG_COLS = 28
    if mode == 'train':
        imgs, labels = train_set[0], train_set[1]
    elif mode == 'valid':
        imgs, labels = val_set[0], val_set[1]
    elif mode == 'eval':
        imgs, labels = eval_set[0], eval_set[1]
    imgs_length = len(imgs)
    assert len(imgs) == len(labels)
    index_list = list(range(imgs_length))
    BATCHSIZE = 100

    def data_generator():
        if mode == 'train':
            random.shuffle(index_list)
        imgs_list = []
        labels_list = []
        for i in index_list:
            img = np.reshape(imgs[i], [1, IMG_ROWS, IMG_COLS]).astype('float32')
            label = np.reshape(labels[i], [1]).astype('int64')
            imgs_list.append(img)
            labels_list.append(label)
            if len(imgs_list) == BATCHSIZE:
                yield np.array(imgs_list), np.array(labels_list)
                imgs_list = []
                labels_list = []
        if len(imgs_list) > 0:
            yield np.array(imgs_list), np.array(labels_list)
    return data_generator
"""


def bench_data():
    """Load and batch the full-size course file: the course's json.load and generator against ours."""
    os.makedirs(BENCH_DIR, exist_ok=True)
    path = os.path.join(BENCH_DIR, "mnist-full.json.gz")
    if not os.path.exists(path):
        print(f"building {path} (once) ...", flush=True)
        t = time.perf_counter()
        origin = make_fullsize_file(path)
        print(f"  {origin}: {os.path.getsize(path) / 1e6:.1f} MB in {time.perf_counter() - t:.0f} s", flush=True)
    cache = tempfile.mkdtemp(prefix="cache-", dir=BENCH_DIR)  # empty: the first load of ours is cold
    try:
        _bench_data(path, {"PADDLE_MNIST_CACHE": cache})
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def _bench_data(path, env):
    print(f"file: {path} ({os.path.getsize(path) / 1e6:.1f} MB); cpus: {os.cpu_count()}; "
          f"load average: {os.getloadavg()[0]:.1f}", flush=True)
    rows = []

    print("course: json.load(gzip.open(f)) + its generator ...", flush=True)
    ref, ref_rss = _run_child(COURSE_CODE + f"""
gen = course_load_data({path!r}, 'train')
t = time.perf_counter()
n = sum(len(labels) for _, labels in gen())
print(json.dumps({{"load": LOAD_SECONDS[0], "gen": time.perf_counter() - t, "n": n}}))
""")
    rows.append(("course: json.load(gzip.open(f))", ref["load"], ref_rss, None, 1.0, "reference"))

    print("paddle_mnist: cold load (parse + write the cache) ...", flush=True)
    cold, cold_rss = _run_child(f"""
import json, time
from paddle_mnist.data import load_dataset
t = time.perf_counter()
d = load_dataset({path!r}, progress=False)
print(json.dumps({{"load": time.perf_counter() - t, "sizes": d.info["sizes"]}}))
""", env)
    speed, memory = ref["load"] / cold["load"], cold_rss / ref_rss
    rows.append(("paddle_mnist: cold load", cold["load"], cold_rss, None, speed,
                 _met(speed >= 3 and memory <= 1 / 3, f">= 3x faster and <= 1/3 RSS: RSS {memory:.2f}x")))

    print("paddle_mnist: warm load (cache hit) + generators ...", flush=True)
    warm, warm_rss = _run_child(f"""
import hashlib, json, time
import numpy as np
from paddle_mnist.data import batches, file_digest, load_data, load_dataset
t = time.perf_counter()
d = load_dataset({path!r}, progress=False)
load = time.perf_counter() - t
t = time.perf_counter()
total = sum(float(np.asarray(d.split(s).images).sum()) for s in ("train", "valid", "eval"))
touch = time.perf_counter() - t
t = time.perf_counter()
file_digest({path!r})
sha = time.perf_counter() - t
t = time.perf_counter()
n = sum(len(labels) for _, labels in batches(d.train, 100, shuffle=True, seed=0, epoch=0))
gen = time.perf_counter() - t
train = load_data("train", 100, {path!r})
t = time.perf_counter()
n2 = sum(len(labels) for _, labels in train())
course_api = time.perf_counter() - t
print(json.dumps({{"load": load, "touch": touch, "sha": sha, "gen": gen, "n": n, "course_api": course_api, "n2": n2}}))
""", env)
    speed = ref["load"] / warm["load"]
    rows.append(("paddle_mnist: warm load (cache hit)", warm["load"], warm_rss, None, speed,
                 _met(speed >= 50, ">= 50x faster")))
    rows.append(("  ... + reading every pixel once", warm["load"] + warm["touch"], None, None,
                 ref["load"] / (warm["load"] + warm["touch"]), "info"))
    rows.append(("  (sha256 of the file, part of every load)", warm["sha"], None, None, None, "info"))
    ref_rate = ref["n"] / ref["gen"]
    rows.append(("course: generator, one train epoch", ref["gen"], None, ref_rate, 1.0, "reference"))
    rate = warm["n"] / warm["gen"]
    rows.append(("paddle_mnist: batches(shuffle=True), one epoch", warm["gen"], None, rate, rate / ref_rate,
                 _met(rate >= 1e6, ">= 1,000,000 images/s")))
    rate2 = warm["n2"] / warm["course_api"]
    rows.append(("paddle_mnist: load_data('train')(), one epoch", warm["course_api"], None, rate2, rate2 / ref_rate,
                 _met(rate2 >= 1e6, ">= 1,000,000 images/s")))
    _print_table(rows)


def _met(ok, target):
    return f"{'yes' if ok else 'NO'} ({target})"


def _print_table(rows):
    header = ("approach", "seconds", "peak RSS MB", "images/s", "vs reference", "target met")
    cells = [header] + [(name, f"{s:.3f}", "-" if rss is None else f"{rss:,.0f}",
                         "-" if rate is None else f"{rate:,.0f}", "-" if ratio is None else f"{ratio:,.1f}x", met)
                        for name, s, rss, rate, ratio, met in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    print()
    for k, row in enumerate(cells):
        print("| " + " | ".join(c.ljust(w) if i in (0, 5) else c.rjust(w)
                                for i, (c, w) in enumerate(zip(row, widths))) + " |")
        if k == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")


BENCHMARKS = {"data": bench_data}


def main(argv):
    if len(argv) != 1 or argv[0] not in BENCHMARKS:
        print(f"usage: python tools/bench.py {{{'|'.join(BENCHMARKS)}}}", file=sys.stderr)
        return 2
    BENCHMARKS[argv[0]]()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
