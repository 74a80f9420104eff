"""The pictures of docs/notes/sharpness.md: λmax during full-batch training on real digits.

    python tools/sharpness_figures.py [--data mnist-real15k.json.gz] [--work work/sharpness] [--img docs/img]

Trains, on 500 real training digits (``--train-images 500 --batch-size 500``: full-batch gradient
descent), the course's CNN with SGD at three learning rates and with Adam, measuring λmax every 10
steps on the same 500 images (``--sharpness-every 10``), then draws them with
``analysis.sharpness``. A run already completed in the work folder is not trained again.

Training scores the valid split after every epoch, and here an epoch is one step: so the runs read
a copy of the data with 500 valid and 500 eval digits (the same 5,000 training digits, hence the
same 500 chosen ones), written once into the work folder.
"""

import argparse
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from paddle_mnist.analysis.sharpness import figure_sharpness  # noqa: E402
from paddle_mnist.analysis.style import save_figure  # noqa: E402
from paddle_mnist.core.data import load_dataset, write_course_json  # noqa: E402
from paddle_mnist.runners.runpoint import subset_indices  # noqa: E402
from paddle_mnist.runners.train import train  # noqa: E402
from paddle_mnist.schemas.run import FINISHED, load_record  # noqa: E402

REAL15K = os.path.join(ROOT, "..", "shared", "mnist", "mnist-real15k.json.gz")
IMAGES, STEPS, EVERY = 500, 300, 10
SGD_LRS = (0.01, 0.02, 0.1)
ADAM_LR = 0.001
SMALL_SPLITS = 500  # valid and eval digits of the work copy


def small_copy(source, path):
    """The data with every training digit but only SMALL_SPLITS valid and eval digits (seeded)."""
    if not os.path.exists(path):
        data = load_dataset(source, progress=False)
        splits = {"train": (data.train.images, data.train.labels)}
        for name in ("valid", "eval"):
            split = getattr(data, name)
            keep = subset_indices(len(split.labels), SMALL_SPLITS)
            splits[name] = (split.images[keep], split.labels[keep])
        write_course_json(path, splits)
    return path


def run(data, work, optimizer, lr, steps=STEPS):
    """One full-batch run with its sharpness series (skipped when already completed)."""
    out = os.path.join(work, f"{optimizer}-lr{lr:g}")
    if os.path.exists(os.path.join(out, "record.json")) and load_record(out)["status"] in FINISHED:
        return load_record(out)
    config = dict(model="cnn", optimizer=optimizer, lr=lr, epochs=steps, batch_size=IMAGES, train_images=IMAGES,
                  sharpness_every=EVERY, sharpness_images=IMAGES, data=data, out=out, resume=True, seed=0)
    return train(config, progress=False)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=REAL15K)
    parser.add_argument("--work", default=os.path.join(ROOT, "work", "sharpness"))
    parser.add_argument("--img", default=os.path.join(ROOT, "docs", "img"))
    parser.add_argument("--only", default=None, help="train only this run, e.g. sgd-0.02 (no figures)")
    parser.add_argument("--steps", type=int, default=STEPS, help=f"steps of each run (default: {STEPS})")
    parser.add_argument("--draw", action="store_true",
                        help="only draw, from the records in the work folder as they are (finished or not)")
    args = parser.parse_args(argv)
    os.makedirs(args.work, exist_ok=True)
    data = small_copy(args.data, os.path.join(args.work, "mnist-real-small-valid.json.gz"))
    planned = [("sgd", lr) for lr in SGD_LRS] + [("adam", ADAM_LR)]
    if args.only:
        for item in args.only.split(","):
            name, lr = item.split("-")
            run(data, args.work, name, float(lr), args.steps)
        return
    if args.draw:  # a record is complete up to its last finished epoch, even when the run was killed
        folders = [os.path.join(args.work, f"{name}-lr{lr:g}") for name, lr in planned]
        records = [load_record(f) for f in folders if os.path.exists(os.path.join(f, "record.json"))]
    else:
        records = [run(data, args.work, name, lr, args.steps) for name, lr in planned]
    for r in records:
        points, steps = r["sharpness"]["points"], len(r["steps"]["loss"])
        print(f"{r['name']}: {steps} steps ({r['status']}), 2/lr-type line {points[0]['threshold']:g}, λmax first "
              f"{points[0]['lambda_max']:.1f}, median of the last third "
              f"{np.median([q['lambda_max'] for q in points if q['step'] >= 2 * steps / 3 and q['lambda_max']]):.1f}")
    os.makedirs(args.img, exist_ok=True)
    sgd = [r for r in records if r["config"]["optimizer"] == "sgd"]
    adam = [r for r in records if r["config"]["optimizer"] == "adam"]
    print(save_figure(figure_sharpness(sgd), args.img, "sharpness_sgd"))
    if adam:
        print(save_figure(figure_sharpness(adam), args.img, "sharpness_adam"))


if __name__ == "__main__":
    main()
