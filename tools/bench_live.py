"""What the notebook's live figure costs: the same training run with and without it, side by side.

    python tools/bench_live.py [--data PATH] [--epochs 2] [--repeats 4] [--batch-size 32]

Runs alternate (off, on, off, on, ...) in one process, so both sides see the same machine load.
"on" is ``paddle_mnist.live.LiveView`` as a notebook gets it (every redraw draws the figure and
renders its PNG), with a display that drops the frames (no Jupyter needed). Prints the median
training time of each side and, for each "on" run, the time its redraws took while training
(the training loop waits for them: this is what the view costs, measured directly, which a loaded
machine's noise between two runs can hide), and the times of the first frame (drawn when the view
starts, before training) and of the final figure.
"""

import argparse
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from paddle_mnist.live import LiveView  # noqa: E402
from paddle_mnist.runners.train import TrainConfig, train  # noqa: E402

REAL15K = os.path.join(ROOT, "..", "shared", "mnist", "mnist-real15k.json.gz")


class DroppedHandle:
    def update(self, frame):
        pass


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=REAL15K if os.path.exists(REAL15K) else "synthetic")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    config = TrainConfig(optimizer="adam", lr=0.001, epochs=args.epochs, batch_size=args.batch_size,
                         data=args.data, threads=1)
    times = {"off": [], "on": []}
    redraws = []
    for i in range(2 * args.repeats):
        side = "on" if i % 2 else "off"
        start = time.perf_counter()  # the first frame, drawn when the view starts, is timed too
        view = LiveView(display=lambda frame, display_id: DroppedHandle()) if side == "on" else None
        record = train(config, progress=False, on_steps=view.run if view else None)
        if view:
            view.close(record)
            redraws.append(view.redraw_seconds)
        times[side].append(time.perf_counter() - start)
        if view:  # while training: every redraw but the first frame and the final figure
            during = redraws[-1][1:-1]
            print(f"on  {times[side][-1]:.2f} s: {len(during)} redraws while training, "
                  f"{sum(during):.2f} s = {100 * sum(during) / times[side][-1]:.2f} % of the run; "
                  f"first frame {redraws[-1][0]:.2f} s, final figure {redraws[-1][-1]:.2f} s", flush=True)
        else:
            print(f"off {times[side][-1]:.2f} s", flush=True)
    off, on = statistics.median(times["off"]), statistics.median(times["on"])
    print(f"data {args.data}, {args.epochs} epochs, batch {args.batch_size}, {record['steps_per_epoch']} steps/epoch, "
          f"{args.repeats} runs each side")
    print(f"median: off {off:.2f} s, on {on:.2f} s: {100 * (on - off) / off:+.1f} % (both sides' spread: "
          f"off {min(times['off']):.1f}-{max(times['off']):.1f} s, on {min(times['on']):.1f}-{max(times['on']):.1f} s)")


if __name__ == "__main__":
    main()
