"""Wall time of `paddle-mnist paths --surface all --lr auto` (5 surfaces x 4 optimizers x 20 lrs).

    python tools/bench_paths.py [--repeat 3] [--animate]

Runs the real command in a fresh process each time (Paddle's import included) and prints its wall
time with the machine's load average, since on a shared machine the load is half the figure, and
the CPU time the command used (user + system), which the load hardly changes.
"""

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, help="how many runs (default: 1)")
    parser.add_argument("--animate", action="store_true", help="also write the five GIFs")
    args = parser.parse_args()
    print(f"{os.cpu_count()} cpus; load average before: {os.getloadavg()[0]:.2f}")
    for i in range(args.repeat):
        with tempfile.TemporaryDirectory() as out:
            command = [sys.executable, "-m", "paddle_mnist", "paths", "--surface", "all", "--lr", "auto",
                       "--quiet", "--out", out] + (["--animate"] if args.animate else [])
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
            wall = time.perf_counter() - start
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
        print(f"run {i + 1}: {wall:.1f} s wall, {cpu:.1f} s cpu (load average {os.getloadavg()[0]:.2f})")


if __name__ == "__main__":
    main()
