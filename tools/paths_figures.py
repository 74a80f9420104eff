"""Redraw the README's optimizer-path pictures, docs/img/paths_*.png, as `paddle-mnist paths` draws them.

    python tools/paths_figures.py [--lang zh] [--lr-rule path|final] [--out docs/img]

Four pictures, each the course's four optimizers at their lr chosen by --lr-rule (default: the
command's own, "path") from the same 20 lrs: the ravine and the saddle, with exact gradients and with
gradient noise σ = 0.1 (seed 0). The JSON of each run goes to work/paths-figures/ (git-ignored).
About a minute on a 2-core laptop.
"""

import argparse
import os
import shutil

from paddle_mnist.api import paths

PICTURES = [("ravine", 0.0, "paths_ravine"), ("ravine", 0.1, "paths_ravine_noise"),
            ("saddle", 0.0, "paths_saddle"), ("saddle", 0.1, "paths_saddle_noise")]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lang", default=None, choices=["en", "zh"])
    parser.add_argument("--lr-rule", default="path", choices=["path", "final"])
    parser.add_argument("--out", default=os.path.join("docs", "img"))
    args = parser.parse_args()
    for surface, noise, name in PICTURES:
        work = os.path.join("work", "paths-figures", name)
        result = paths(surface, noise=noise, seed=0, out=work, lang=args.lang, lr_rule=args.lr_rule, progress=False)
        shutil.copyfile(os.path.join(work, f"paths_{surface}.png"), os.path.join(args.out, f"{name}.png"))
        run = result["runs"][surface]
        ends = [f"{e['name']} lr {e['lr']:.3g}, f-f* < {run['reached_threshold']:g} at step "
                f"{'never' if e['reached_at'] is None else e['reached_at']}, {e['end']['verdict']}"
                for e in run["optimizers"]]
        print(f"{name}: " + "; ".join(ends))

if __name__ == "__main__":
    main()
