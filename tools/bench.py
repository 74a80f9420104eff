"""Benchmarks, one function per benchmark: ``python tools/bench.py data|train|compare``.

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
REAL15K = os.path.join(SHARED, "mnist-real15k.json.gz")
FULL_SIZES = (50000, 10000, 10000)  # the course file's splits
BENCH_DIR = os.environ.get("PADDLE_MNIST_BENCH_DIR") or os.path.join(tempfile.gettempdir(), "paddle_mnist_bench")

sys.path.insert(0, ROOT)


def make_fullsize_file(path):
    """Write a file shaped like the course's mnist.json.gz (50,000 / 10,000 / 10,000 images, pixels as
    JSON floats in [0, 1], gzipped) by tiling the real digits in ../shared/mnist, or synthetic digits
    when those are absent. Returns a short description of where the digits came from."""
    from paddle_mnist.core.data import SPLITS, write_course_json

    try:
        from paddle_mnist.core.data.idx import find_idx_files, read_images, read_labels

        pairs = find_idx_files(SHARED)
        images = np.concatenate([read_images(pairs[k][0]) for k in ("train", "t10k")])
        labels = np.concatenate([read_labels(pairs[k][1]) for k in ("train", "t10k")])
        origin = f"{len(labels):,} real digits from ../shared/mnist, tiled"
    except Exception:  # no real digits here: synthetic ones show the same speed
        from paddle_mnist.core.data.synthetic import make_split

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

LOAD_SECONDS, LOAD_CPU = [], []  # added: the wall and CPU time of the json.load line


def course_load_data(datafile, mode='train'):
    t, c = time.perf_counter(), time.process_time()
    data = json.load(gzip.open(datafile))
    LOAD_SECONDS.append(time.perf_counter() - t)
    LOAD_CPU.append(time.process_time() - c)
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
    """Load and batch the full-size course file: the course's json.load and generator against ours.

    Each side runs REPEAT times (env PADDLE_MNIST_BENCH_REPEAT, default 3), each time in a fresh
    process; the table shows the best time and the largest peak RSS of each side."""
    os.makedirs(BENCH_DIR, exist_ok=True)
    path = os.path.join(BENCH_DIR, "mnist-full.json.gz")
    if not os.path.exists(path):
        print(f"building {path} (once) ...", flush=True)
        t = time.perf_counter()
        origin = make_fullsize_file(path)
        print(f"  {origin}: {os.path.getsize(path) / 1e6:.1f} MB in {time.perf_counter() - t:.0f} s", flush=True)
    caches = tempfile.mkdtemp(prefix="caches-", dir=BENCH_DIR)
    try:
        _bench_data(path, caches, int(os.environ.get("PADDLE_MNIST_BENCH_REPEAT", "3")))
    finally:
        shutil.rmtree(caches, ignore_errors=True)


def _best(runs, key):
    """(best time of `key`, largest peak RSS) over runs of (result, rss)."""
    return min(r[key] for r, _ in runs), max(rss for _, rss in runs)


def _bench_data(path, caches, repeat):
    print(f"file: {path} ({os.path.getsize(path) / 1e6:.1f} MB); cpus: {os.cpu_count()}; "
          f"load average: {os.getloadavg()[0]:.1f}; best of {repeat} runs per side", flush=True)
    rows = []

    print("course: json.load(gzip.open(f)) + its generator ...", flush=True)
    ref = [_run_child(COURSE_CODE + f"""
gen = course_load_data({path!r}, 'train')
epochs = {3 if k == 0 else 0}
times = []
for _ in range(epochs):
    t = time.perf_counter()
    n = sum(len(labels) for _, labels in gen())
    times.append(time.perf_counter() - t)
print(json.dumps({{"load": LOAD_SECONDS[0], "cpu": LOAD_CPU[0], "gen": min(times, default=None), "n": 50000}}))
""") for k in range(repeat)]
    ref_load, ref_rss = _best(ref, "load")
    ref_cpu = _best(ref, "cpu")[0]
    rows.append(("course: json.load(gzip.open(f))", ref_load, ref_cpu, ref_rss, None, 1.0, "reference"))

    print("paddle_mnist: cold load (parse + write the cache) ...", flush=True)
    cold = [_run_child(f"""
import json, time
from paddle_mnist.core.data import load_dataset
t, c = time.perf_counter(), time.process_time()
d = load_dataset({path!r}, progress=False)
print(json.dumps({{"load": time.perf_counter() - t, "cpu": time.process_time() - c}}))
""", {"PADDLE_MNIST_CACHE": os.path.join(caches, f"cold-{k}")}) for k in range(repeat)]  # a new, empty cache each
    cold_load, cold_rss = _best(cold, "load")
    speed, memory = ref_load / cold_load, cold_rss / ref_rss
    rows.append(("paddle_mnist: cold load", cold_load, _best(cold, "cpu")[0], cold_rss, None, speed,
                 _met(speed >= 3 and memory <= 1 / 3, f">= 3x faster, <= 1/3 of the RSS: {memory:.2f}x")))

    print("paddle_mnist: warm load (cache hit) + generators ...", flush=True)
    warm = [_run_child(f"""
import json, time
import numpy as np
from paddle_mnist.core.data import batches, file_digest, load_data, load_dataset
t, c = time.perf_counter(), time.process_time()
d = load_dataset({path!r}, progress=False)
load, cpu = time.perf_counter() - t, time.process_time() - c
t = time.perf_counter()
total = sum(float(np.asarray(d.split(s).images).sum()) for s in ("train", "valid", "eval"))
touch = time.perf_counter() - t
t = time.perf_counter()
file_digest({path!r})
sha = time.perf_counter() - t
gen, api = [], []
train = load_data("train", 100, {path!r})
for epoch in range({3 if k == 0 else 0}):
    t = time.perf_counter()
    n = sum(len(labels) for _, labels in batches(d.train, 100, shuffle=True, seed=0, epoch=epoch))
    gen.append(time.perf_counter() - t)
    t = time.perf_counter()
    n2 = sum(len(labels) for _, labels in train())
    api.append(time.perf_counter() - t)
print(json.dumps({{"load": load, "cpu": cpu, "touch": touch, "sha": sha, "gen": min(gen, default=None),
                  "api": min(api, default=None), "n": len(d.train.labels)}}))
""", {"PADDLE_MNIST_CACHE": os.path.join(caches, "cold-0")}) for k in range(repeat)]
    warm_load, warm_rss = _best(warm, "load")
    touch = warm[0][0]["touch"]
    speed = ref_load / warm_load
    rows.append(("paddle_mnist: warm load (cache hit)", warm_load, _best(warm, "cpu")[0], warm_rss, None, speed,
                 _met(speed >= 50, ">= 50x faster")))
    rows.append(("  ... + reading every pixel once", warm_load + touch, None, None, None,
                 ref_load / (warm_load + touch), "info"))
    rows.append(("  (sha256 of the file, part of every load)", _best(warm, "sha")[0], None, None, None, None, "info"))
    ref_gen, n = ref[0][0]["gen"], ref[0][0]["n"]
    rows.append(("course: generator, one train epoch", ref_gen, None, None, n / ref_gen, 1.0, "reference"))
    for name, key in (("batches(shuffle=True)", "gen"), ("load_data('train')()", "api")):
        seconds = warm[0][0][key]
        rate = n / seconds
        rows.append((f"paddle_mnist: {name}, one epoch", seconds, None, None, rate, rate / (n / ref_gen),
                     _met(rate >= 1e6, ">= 1,000,000 images/s")))
    _print_table(rows)
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")


def _met(ok, target):
    return f"{'yes' if ok else 'NO'} ({target})"


def _print_table(rows):
    header = ("approach", "seconds", "CPU s", "peak RSS MB", "images/s", "vs reference", "target met")
    cells = [header] + [(name, f"{s:.3f}", "-" if cpu is None else f"{cpu:.2f}", "-" if rss is None else f"{rss:,.0f}",
                         "-" if rate is None else f"{rate:,.0f}", "-" if ratio is None else f"{ratio:,.1f}x", met)
                        for name, s, cpu, rss, rate, ratio, met in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    print()
    for k, row in enumerate(cells):
        print("| " + " | ".join(c.ljust(w) if i in (0, 6) else c.rjust(w)
                                for i, (c, w) in enumerate(zip(row, widths))) + " |")
        if k == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    print("\nseconds: the best wall time over the runs; CPU s: the least CPU time (all threads of the process)")


# ---------------------------------------------------------------------------------------------
# train: the recording trainer against the course's plain loop


def course_plain_loop(data, epochs, model_class, batch_size=100, lr=0.01, seed=0):
    """The course's dygraph loop, ported line for line (to_tensor, forward, loss, backward, step, clear_grad)."""
    import paddle
    import paddle.nn.functional as F

    from paddle_mnist.core.data import batches

    paddle.seed(seed)
    model = model_class()
    model.train()
    opt = paddle.optimizer.SGD(learning_rate=lr, parameters=model.parameters())
    images = 0
    start = time.perf_counter()
    for epoch in range(epochs):
        for imgs, labels in batches(data.train, batch_size, shuffle=True, seed=seed, epoch=epoch):
            image, label = paddle.to_tensor(imgs), paddle.to_tensor(labels)
            predict = model(image)
            avg_loss = paddle.mean(F.cross_entropy(predict, label))
            avg_loss.backward()
            opt.step()
            opt.clear_grad()
            images += len(labels)
    return images / (time.perf_counter() - start)


def paddle_mnist_train(data, epochs, out, batch_size=100, lr=0.01, seed=0):
    from paddle_mnist.runners.train import TrainConfig, train

    record = train(TrainConfig(optimizer="sgd", lr=lr, epochs=epochs, batch_size=batch_size, seed=seed,
                               out=out), data=data, progress=False)
    return record["timing"]["images_per_second"]


def train_child(repeats, epochs):
    """In one process: the three loops, alternating, `repeats` times each; prints their images/s as JSON."""
    import tempfile

    from paddle_mnist.core.data import load_dataset
    from paddle_mnist.core.model import MNIST, CourseMNIST
    from paddle_mnist.core.runtime import set_threads

    set_threads(1)  # as every worker of a sweep
    source = REAL15K if os.path.exists(REAL15K) else "synthetic"
    data = load_dataset(source) if source != "synthetic" else load_dataset(source, synthetic_size=(5000, 1000, 1000))
    result = {"course": [], "plain": [], "train": [], "n": len(data.train.labels), "source": source}
    with tempfile.TemporaryDirectory() as tmp:
        course_plain_loop(data, 1, MNIST)  # warm-up (kernels, allocator)
        for i in range(repeats):
            result["course"].append(course_plain_loop(data, epochs, CourseMNIST))
            result["plain"].append(course_plain_loop(data, epochs, MNIST))
            result["train"].append(paddle_mnist_train(data, epochs, os.path.join(tmp, f"run{i}")))
    print(json.dumps(result))


def bench_train(repeats=5, epochs=1):
    """Images/s of one training run (batch 100, SGD, one thread): the course's model and loop, the same
    loop with paddle_mnist's MNIST, and paddle_mnist's `train` (records every step); each with Intel
    MKL's own choice of code and with the AVX2 code paddle_mnist asks for on AMD processors."""
    import statistics

    from paddle_mnist.core.runtime import cpu_is_amd_with_avx2

    amd = cpu_is_amd_with_avx2()
    sides = [("MKL's own choice", {"MKL_DEBUG_CPU_TYPE": ""})]
    if amd:
        sides.append(("MKL AVX2, paddle_mnist's default on AMD", None))
    print(f"one thread, batch 100, SGD; {epochs} epoch(s) a measurement, median of {repeats}, alternating; "
          f"each MKL setting in its own process{'' if amd else '; not an AMD CPU: MKL picks its code itself'}")
    rows = []
    for label, env in sides:
        env = dict(os.environ, **env) if env else {k: v for k, v in os.environ.items() if k != "MKL_DEBUG_CPU_TYPE"}
        proc = subprocess.run([sys.executable, "-c", f"import sys; sys.path.insert(0, {os.path.join(ROOT, 'tools')!r}); "
                               f"import bench; bench.train_child({repeats}, {epochs})"],
                              env=env, cwd=ROOT, stdout=subprocess.PIPE, check=True)
        r = json.loads(proc.stdout.decode().strip().splitlines()[-1])
        for key, name in (("course", "course's loop, course's model (conv, ReLU, pool)"),
                          ("plain", "course's loop, paddle_mnist MNIST (pool first)"),
                          ("train", "paddle_mnist train (records every step)")):
            rows.append((f"{name} [{label}]", statistics.median(r[key]), r[key]))
    print(f"data: {os.path.relpath(r['source']) if r['source'] != 'synthetic' else 'synthetic'} "
          f"({r['n']} training images)\n")
    ref = rows[0][1]
    print(f"| {'loop':78} | {'images/s':>9} | vs the course's way | all measurements |")
    print(f"|{'-' * 80}|{'-' * 11}|{'-' * 21}|{'-' * 18}|")
    for name, ips, all_ in rows:
        print(f"| {name:78} | {ips:9,.0f} | {ips / ref:18.2f}x | {' '.join(str(round(x)) for x in all_)} |")
    plain, ours = rows[-2][1], rows[-1][1]
    print(f"\nrecording costs {(1 - ours / plain) * 100:+.1f}% (target < 5%: {'met' if ours >= 0.95 * plain else 'NOT met'})")


# ---------------------------------------------------------------------------------------------
# compare: sweep throughput with 1 and 2 workers, Ray against the local pool, and the course's
# default comparison at full size


SWEEP = dict(optimizers=["sgd", "momentum", "adagrad", "adam"], lrs=[0.1, 0.01, 0.001], epochs=3)  # the example
COMPARE_OPTIONS = ("--no-full", "--ray-only")


def _sweep_throughput(data, jobs, out):
    from paddle_mnist.api import compare

    start = time.perf_counter()
    result = compare(**SWEEP, jobs=jobs, out=out, data=data, plot=False, progress=False, threads=1)
    wall = time.perf_counter() - start
    images = sum(r["data"]["sizes"]["train"] * len(r["epochs"]) for r in result["records"])
    return images / wall, wall


# One sweep in a fresh process: the local pool (2 workers), or Ray with N CPUs started in the timed
# part (Ray's start-up included), on 127.0.0.1 only.
SWEEP_CHILD = """
import json, os, sys, time
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # read by Ray at import: loopback only
os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
p = json.loads(os.environ["BENCH_SWEEP"])
from paddle_mnist.core.runtime import keep_freed_memory
keep_freed_memory()  # as `paddle-mnist compare` does
from paddle_mnist.api import compare
from paddle_mnist.core.data import load_dataset
load_dataset(p["data"])  # parsed once (the cache), as by a learner's first command; not timed
start = time.perf_counter()
if p["executor"] == "ray":
    import ray
    ray.init(num_cpus=p["cpus"], include_dashboard=False, _node_ip_address="127.0.0.1",
             logging_level="ERROR", log_to_driver=False)
    kw = {"executor": "ray", "cpus_per_run": 1}
else:
    kw = {"jobs": p["cpus"]}
result = compare(**p["sweep"], out=p["out"], data=p["data"], plot=False, progress=False, threads=1, **kw)
wall = time.perf_counter() - start
if p["executor"] == "ray":
    ray.shutdown()
images = sum(r["data"]["sizes"]["train"] * len(r["epochs"]) for r in result["records"])
print(json.dumps({"wall": wall, "images": images, "status": sorted({r["status"] for r in result["records"]})}))
"""


def _sweep_in_child(executor, cpus, data, out):
    params = {"executor": executor, "cpus": cpus, "data": data, "out": out, "sweep": SWEEP}
    result, _ = _run_child(SWEEP_CHILD, env={"BENCH_SWEEP": json.dumps(params)})
    return result["images"] / result["wall"], result["wall"]


def _bench_ray(source, tmp):
    """The 12-run sweep with --executor ray (1 CPU per run) against the local pool with 2 workers,
    and Ray with 1 CPU against 2, each in a fresh process, alternating (the speed here drifts)."""
    print("\nRay (--executor ray, 1 CPU per run, Ray's start-up included) against the local pool; "
          "each sweep in a fresh process", flush=True)
    print(f"{'#':>2} {'executor':>9} {'CPUs':>5} {'wall s':>8} {'train images/s':>15}", flush=True)
    order = [("local", 2), ("ray", 2), ("ray", 1), ("ray", 2), ("local", 2)]
    rows = []
    for k, (executor, cpus) in enumerate(order):
        rate, wall = _sweep_in_child(executor, cpus, source, os.path.join(tmp, f"ray{k}"))
        rows.append((executor, cpus, wall, rate))
        print(f"{k + 1:>2} {executor:>9} {cpus:>5} {wall:8.1f} {rate:15,.0f}", flush=True)
    local = (rows[0][2] + rows[4][2]) / 2
    ray2 = (rows[1][2] + rows[3][2]) / 2
    ratio = (rows[1][3] + rows[3][3]) / 2 / rows[2][3]
    print(f"Ray with 2 CPUs: wall {ray2:.1f} s against the local pool's {local:.1f} s: {ray2 / local - 1:+.1%} "
          f"(target within 15 %: {'met' if ray2 <= 1.15 * local else 'NOT met'})", flush=True)
    print(f"Ray, 2 CPUs against 1: {ratio:.2f}x the throughput "
          f"(target >= 1.8x: {'met' if ratio >= 1.8 else 'NOT met'})", flush=True)


def bench_compare():
    """Sweep throughput with 1 and 2 worker processes (one thread each) on the issue's example sweep
    (4 optimizers x 3 learning rates, 3 epochs: 12 runs); the same sweep on Ray (2 CPUs against the
    local pool, 1 CPU against 2); then the wall time of the default `paddle-mnist compare` (the
    course's 6 runs, 3 epochs) on a full-size course file. ``--ray-only``: the Ray part alone;
    ``--no-full``: no full-size run."""
    import tempfile

    from paddle_mnist.core.runtime import keep_freed_memory

    keep_freed_memory()  # as `paddle-mnist compare` does in its own process (the 1-worker case runs there)
    source = REAL15K if os.path.exists(REAL15K) else "synthetic"
    print(f"cores: {os.cpu_count()}; sweep: {', '.join(SWEEP['optimizers'])} x lr {SWEEP['lrs']}, "
          f"{SWEEP['epochs']} epochs each (12 runs), on {os.path.relpath(source) if source != 'synthetic' else source}; "
          f"wall = the whole compare() call, evaluations included; 1 worker = in this process", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        if "--ray-only" in sys.argv:
            return _bench_ray(source, tmp)
        # This machine's speed drifts by +-20 % over minutes, so 1 and 2 workers alternate (1, 2, 2, 1)
        # and each adjacent pair gives a speed-up of its own.
        print(f"{'#':>2} {'workers':>8} {'wall s':>8} {'train images/s':>15}", flush=True)
        rates = []
        for k, jobs in enumerate((1, 2, 2, 1)):
            rate, wall = _sweep_throughput(source, jobs, os.path.join(tmp, f"sweep{k}"))
            rates.append(rate)
            print(f"{k + 1:>2} {jobs:>8} {wall:8.1f} {rate:15,.0f}", flush=True)
        pairs = (rates[1] / rates[0], rates[2] / rates[3])
        speedup = (rates[1] + rates[2]) / (rates[0] + rates[3])
        print(f"speed-up with 2 workers: {speedup:.2f}x (pairs 1-2: {pairs[0]:.2f}x, 3-4: {pairs[1]:.2f}x; "
              f"target >= 1.8x: {'met' if speedup >= 1.8 else 'NOT met'})", flush=True)
        try:
            import ray  # noqa: F401  (the optional extra)
        except ImportError:
            print("Ray rows skipped: ray is not installed (pip install -e \".[ray]\")")
        else:
            _bench_ray(source, tmp)
        if "--no-full" in sys.argv:
            return
        _bench_full_comparison(tmp)


def _bench_full_comparison(tmp):
    full = os.path.join(BENCH_DIR, "mnist-full.json.gz")
    if not os.path.exists(full):
        os.makedirs(BENCH_DIR, exist_ok=True)
        print("building the full-size file:", make_fullsize_file(full))
    from paddle_mnist.api import compare
    from paddle_mnist.core.data import load_dataset

    load_dataset(full, progress=False)  # parse it once, as a learner's first command would; not timed
    start = time.perf_counter()
    result = compare(epochs=3, out=os.path.join(tmp, "course"), data=full, plot=True, progress=False)
    wall = time.perf_counter() - start
    print(f"default comparison (6 runs x 3 epochs, 50,000/10,000/10,000 images, {os.cpu_count()} workers, "
          f"plots included): {wall:.0f} s = {wall / 60:.2f} min (target < 5 min: {'met' if wall < 300 else 'NOT met'})")
    for r in result["records"]:
        print(f"  {r['name']:18} {r['status']:10} eval {r['eval']['acc']:.2%}  "
              f"{r['timing']['images_per_second']:,.0f} train images/s, {r['timing']['wall_seconds']:.0f} s")


BENCHMARKS = {"data": bench_data, "train": bench_train, "compare": bench_compare}


def main(argv):
    options_ok = argv[1:] == [] or (argv[:1] == ["compare"] and set(argv[1:]) <= set(COMPARE_OPTIONS))
    if not argv or argv[0] not in BENCHMARKS or not options_ok:
        print(f"usage: python tools/bench.py {{{'|'.join(BENCHMARKS)}}} [compare: --no-full (skip the full-size run), "
              f"--ray-only (the Ray rows alone)]", file=sys.stderr)
        return 2
    BENCHMARKS[argv[0]]()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
