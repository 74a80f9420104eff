"""The trajectory pictures of docs/notes/trajectory.md, from real runs on the real digits.

    python tools/trajectory_figures.py [--data FILE] [--out DIR] [--img docs/img] [--epochs 2]
                                       [--every 10] [--images 1000] [--grid 21]

Two sweeps, each trained with ``--trajectory EVERY`` and drawn on its PCA plane: the course's four
optimizers (SGD, Momentum, AdaGrad, Adam) at lr 0.01, and SGD at lr 0.1, 0.01 and 0.001. Writes
trajectory-optimizers.png (with its GIF) and trajectory-sgd-lrs.png into --img, and prints what each
plane shows. The same comes from the commands in the note:

    paddle-mnist compare --optimizers sgd,momentum,adagrad,adam --lrs 0.01 --epochs 2 --trajectory 10 \\
        --data FILE --out work/traj-optimizers
    paddle-mnist trajectory work/traj-optimizers --animate
"""

import argparse
import os
import shutil
import sys
import tempfile

from paddle_mnist.analysis.style import save_figure
from paddle_mnist.analysis.trajectory import figure_trajectory, save_animation
from paddle_mnist.runners.compare import compare
from paddle_mnist.runners.trajectory import trajectory

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REAL15K = os.path.join(os.path.dirname(ROOT), "shared", "mnist", "mnist-real15k.json.gz")
SWEEPS = [  # (name, optimizers, lrs, animate)
    ("optimizers", ["sgd", "momentum", "adagrad", "adam"], [0.01], True),
    ("sgd-lrs", ["sgd"], [0.1, 0.01, 0.001], False),
]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=REAL15K, help="the real digits (default: ../shared/mnist/mnist-real15k.json.gz)")
    p.add_argument("--out", default=None, help="sweep folders (default: a temporary folder)")
    p.add_argument("--img", default=os.path.join(ROOT, "docs", "img"), help="where the pictures go")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--every", type=int, default=10, help="save the weights every N steps (default: 10)")
    p.add_argument("--images", type=int, default=1000)
    p.add_argument("--grid", type=int, default=21)
    args = p.parse_args(argv)
    if not os.path.exists(args.data):
        sys.exit(f"{args.data}: no such file (give --data)")
    out = args.out or tempfile.mkdtemp(prefix="trajectory-figures-")
    for name, optimizers, lrs, animate in SWEEPS:
        sweep = os.path.join(out, name)
        compare(optimizers, lrs, epochs=args.epochs, out=sweep, data=args.data, trajectory=args.every, seed=0)
        result = trajectory(sweep, plane="pca", images=args.images, grid=args.grid)
        save_figure(figure_trajectory(result), args.img, f"trajectory-{name}")
        if animate:
            shutil.copyfile(save_animation(result, os.path.join(sweep, "trajectory.gif"), frames=40),
                            os.path.join(args.img, f"trajectory-{name}.gif"))
        v1, v2 = result["explained_variance"]
        print(f"{name}: PCA plane explains {v1:.1%} + {v2:.1%}; start loss {result['origin']['loss']:.3f}")
        for run in result["runs"]:
            print(f"  {run['name']}: end loss {run['own_loss'][-1]:.3f} (plane {run['plane_loss'][-1]:.3f}), "
                  f"largest distance from the plane {max(run['off_plane']):.3g}")
    print(f"sweeps in {out}; pictures in {args.img}")


if __name__ == "__main__":
    main()
