"""Wall time of `paddle-mnist hessian` and `paddle-mnist landscape` on the course's CNN (1,000 images).

    python tools/bench_curvature.py [--data FILE] [--run RUN_DIR] [--images 1000]
                                    [--only hessian-1,hessian,random,plane]

Without --run, trains the course's CNN for one epoch (SGD, lr 0.01) on the real digits first. Each
command runs in a fresh process (Paddle's import included); printed: wall time, the CPU time it used
(user + system, which the load of a shared machine hardly changes), the load average, and for
`hessian` the Hessian-vector products and the cost of one, read from hessian.json. `hessian` uses
its default worker processes (one per core), `hessian-1` one process (`--workers 1`), for a side-by-side
comparison. Targets (issue 12,
2 CPU cores): hessian top-3 + bottom-3 under 3 min, landscape random (41 points) under 30 s,
landscape plane (21 x 21) under 3 min.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REAL15K = os.path.join(os.path.dirname(ROOT), "shared", "mnist", "mnist-real15k.json.gz")
TARGETS = {"hessian": 180, "hessian-1": 180, "random": 30, "plane": 180}


def timed(command):
    """Run `command`; return (wall seconds, cpu seconds of the child)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def paddle_mnist(*args):
    return [sys.executable, "-m", "paddle_mnist", *args, "--quiet"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=REAL15K if os.path.exists(REAL15K) else None,
                        help="digits to train the CNN on (default: ../shared/mnist/mnist-real15k.json.gz)")
    parser.add_argument("--run", default=None, help="an existing CNN run folder (default: train one)")
    parser.add_argument("--images", type=int, default=1000, help="subset size (default: 1000)")
    parser.add_argument("--only", default="hessian,random,plane", help="which measurements (default: hessian,random,plane)")
    args = parser.parse_args()
    print(f"{os.cpu_count()} cpus; load average before: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        run = args.run
        if run is None:
            run = os.path.join(tmp, "cnn-sgd")
            data = ["--data", args.data] if args.data else []
            wall, cpu = timed(paddle_mnist("train", "--model", "cnn", "--optimizer", "sgd", "--lr", "0.01",
                                           "--epochs", "1", "--out", run, *data))
            print(f"trained the CNN for one epoch: {wall:.1f} s wall, {cpu:.1f} s cpu")
        images = ["--images", str(args.images)]
        for what in args.only.split(","):
            if what.startswith("hessian"):
                workers = ["--workers", "1"] if what == "hessian-1" else []
                command = paddle_mnist("hessian", run, "--top", "3", "--bottom", "3", *images, *workers)
            else:
                command = paddle_mnist("landscape", run, "--kind", what, *images)
            wall, cpu = timed(command)
            line = (f"{what:8} {wall:7.1f} s wall, {cpu:7.1f} s cpu (target < {TARGETS[what]} s; "
                    f"load average {os.getloadavg()[0]:.2f})")
            if what.startswith("hessian"):
                with open(os.path.join(run, "hessian.json")) as f:
                    r = json.load(f)
                line += (f"; {r['workers']} process(es), {r['hvp_count']} Hessian-vector products ({r['method']}), "
                         f"{r['hvp_seconds']:.2f} s each; "
                         f"Lanczos {r['lanczos']['top']['lanczos_products']} + {r['lanczos']['bottom']['lanczos_products']}, "
                         f"residuals {len(r['top_eigenvalues']) + len(r['bottom_eigenvalues'])}, probes {r['probes']}")
            else:
                with open(os.path.join(run, f"landscape-{what}.json")) as f:
                    r = json.load(f)
                points = len(r["alphas"]) ** (2 if what == "plane" else 1)
                line += f"; {points} points, {wall / points:.2f} s each (wall)"
            print(line, flush=True)


if __name__ == "__main__":
    main()
