"""What ``--sharpness-every 10`` costs: full-batch runs on 500 real digits with and without it.

    python tools/bench_sharpness.py [--steps-cnn 100] [--steps-linear 100] [--repeats 1]

For the CNN and the linear model, runs with and without the measurement alternate (each in a fresh
process, timed around ``train()`` only), so both sides see the same machine load. Prints one JSON
line per run and a table of the ratios. Data: the copy tools/sharpness_figures.py makes (every
training digit, 500 valid digits: a full-batch epoch is one step and each epoch scores the valid split).
"""

import argparse
import json
import os
import subprocess
import sys

from sharpness_figures import REAL15K, ROOT, small_copy

CHILD = """
import json, sys, time
from paddle_mnist.runners.train import train
config = json.loads(sys.argv[1])
start = time.perf_counter()
record = train(config, progress=False)
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "sharpness_seconds": (record.get("sharpness") or {}).get("seconds", 0.0),
                  "points": len((record.get("sharpness") or {}).get("points", [])),
                  "products": sum(p["products"] for p in (record.get("sharpness") or {}).get("points", []))}))
"""


def timed_run(config):
    out = subprocess.run([sys.executable, "-c", CHILD, json.dumps(config)], capture_output=True, text=True,
                         cwd=ROOT, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps-cnn", type=int, default=100)
    parser.add_argument("--steps-linear", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--work", default=os.path.join(ROOT, "work", "sharpness"))
    args = parser.parse_args(argv)
    os.makedirs(args.work, exist_ok=True)
    data = small_copy(REAL15K, os.path.join(args.work, "mnist-real-small-valid.json.gz"))
    rows = []
    for model, steps in (("cnn", args.steps_cnn), ("linear", args.steps_linear)):
        base = dict(model=model, lr=0.02, epochs=steps, batch_size=500, train_images=500, data=data, seed=0)
        for _ in range(args.repeats):
            without = timed_run(base)
            with_it = timed_run(dict(base, sharpness_every=10, sharpness_images=500))
            row = {"model": model, "steps": steps, "without_s": round(without["seconds"], 1),
                   "with_s": round(with_it["seconds"], 1), "measuring_s": round(with_it["sharpness_seconds"], 1),
                   "points": with_it["points"], "products": with_it["products"], "ratio": round(with_it["seconds"] / without["seconds"], 2)}
            print(json.dumps(row), flush=True)
            rows.append(row)
    print("| model | steps | without (s) | with --sharpness-every 10 (s) | of which measuring (s) | ratio |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['steps']} | {r['without_s']} | {r['with_s']} | {r['measuring_s']} "
              f"({r['points']} points, {r['products']} H·v products) | {r['ratio']} |")


if __name__ == "__main__":
    main()
