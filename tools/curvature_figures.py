"""The README's curvature table and pictures, from real runs (about 20 minutes on 2 cores).

    python tools/curvature_figures.py [--data FILE] [--out DIR] [--images 1000] [--img docs/img]

Trains the course's CNN with SGD (lr 0.01) and with Adam (lr 0.001) and the linear model with SGD
(lr 0.1), 3 epochs each, then measures each with `hessian` (and the SGD CNN's initial weights too),
draws random and interpolation slices of all three and the plane around the Adam CNN, writes the
figures into --img and prints the README's table (Markdown). Run folders go to --out (default: a
temporary folder). The same numbers come from the commands in the README, one run at a time.
"""

import argparse
import os
import sys
import tempfile

from paddle_mnist import hessian, landscape, train
from paddle_mnist.analysis.hessian import figure_eigenvalues, figure_landscape, figure_slices
from paddle_mnist.analysis.style import save_figure
from paddle_mnist.runners.train import TrainConfig

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REAL15K = os.path.join(os.path.dirname(ROOT), "shared", "mnist", "mnist-real15k.json.gz")
RUNS = [  # (name, README label, model, optimizer, lr)
    ("linear-sgd", "linear, SGD lr 0.1", "linear", "sgd", 0.1),
    ("cnn-sgd", "CNN, SGD lr 0.01", "cnn", "sgd", 0.01),
    ("cnn-adam", "CNN, Adam lr 0.001", "cnn", "adam", 0.001),
]


def critical_text(r):
    step = r["gradient_norm"] / abs(r["lambda_max"]) / r["weight_norm"]
    return "yes" if r["at_critical_point"] else f"no (a 1/λmax step: {step:.2%} of ‖w‖)"


def table_row(label, record, r):
    acc = f"{record['eval']['acc']:.1%}" if record else "–"
    trace = "–" if r["trace"] is None else f"{r['trace']:.4g} ± {r['trace_stderr']:.2g}"
    return (f"| {label} | {acc} | {r['loss']:.3f} | {r['lambda_max']:.4g} | {r['lambda_min']:.3g} | {trace} | "
            f"{r['verdict']} | {critical_text(r)} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=REAL15K, help="digits (default: ../shared/mnist/mnist-real15k.json.gz)")
    parser.add_argument("--out", default=None, help="keep the run folders here (default: a temporary folder)")
    parser.add_argument("--images", type=int, default=1000, help="subset size (default: 1000)")
    parser.add_argument("--img", default=os.path.join(ROOT, "docs", "img"), help="where the figures go")
    args = parser.parse_args()
    if not os.path.exists(args.data):
        sys.exit(f"curvature_figures: {args.data}: no such file (--data)")
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or tmp
        records, results, rows = {}, {}, []
        for name, label, model, optimizer, lr in RUNS:
            run_dir = os.path.join(out, name)
            records[name] = train(TrainConfig(model=model, optimizer=optimizer, lr=lr, epochs=3, data=args.data,
                                              out=run_dir), progress=False)
            results[name] = hessian(run_dir, images=args.images, progress=True)
            rows.append(table_row(label, records[name], results[name]))
        init = hessian(os.path.join(out, "cnn-sgd"), weights="init", images=args.images, progress=True)
        rows.append(table_row("CNN, its initial weights", None, init))
        save_figure(figure_eigenvalues([results[name] for name, *_ in RUNS]), args.img, "curvature_eigenvalues")
        labels = [label for _, label, *_ in RUNS]
        for kind, span in (("random", "-1:1:41"), ("interpolate", "-0.25:1.25:31")):
            slices = [landscape(os.path.join(out, name), kind, span=span, images=args.images, progress=False)
                      for name, *_ in RUNS]
            save_figure(figure_slices(slices, labels), args.img, f"curvature_{kind}")
            print(f"{kind}: " + "; ".join(f"{label}: trained loss {s['centre']['loss']:.3g}, at the ends "
                                          f"{s['loss'][0]:.3g} / {s['loss'][-1]:.3g}"
                                          for label, s in zip(labels, slices)))
        plane = landscape(os.path.join(out, "cnn-adam"), "plane", images=args.images, progress=False)
        save_figure(figure_landscape(plane), args.img, "curvature_plane")
        print("| run | eval acc | loss on the subset | λmax | λmin | trace | verdict | at a critical point |")
        print("|---|---|---|---|---|---|---|---|")
        print("\n".join(rows))
        print(f"figures in {args.img}: curvature_eigenvalues, curvature_random, curvature_interpolate, "
              "curvature_plane")


if __name__ == "__main__":
    main()
