"""What the notebook's live figure costs: the same training run with and without it, side by side.

    python tools/bench_live.py [--data PATH] [--epochs 2] [--repeats 4] [--batch-size 32]

Runs alternate (off, on, off, on, ...) in one process, so both sides see the same machine load.
"on" is ``paddle_mnist.live.LiveView`` as a notebook gets it (every redraw draws the figure and
renders its PNG), with a display that drops the frames (no Jupyter needed). Prints the median
training time of each side, the overhead in percent, and how many redraws were made.
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
        view = LiveView(display=lambda frame, display_id: DroppedHandle()) if side == "on" else None
        start = time.perf_counter()
        record = train(config, progress=False, on_steps=view.run if view else None)
        if view:
            view.close(record)
            redraws.append(view.redraw_seconds)
        times[side].append(time.perf_counter() - start)
        print(f"{side:3} {times[side][-1]:.2f} s" + (f", {len(redraws[-1])} redraws of "
              f"{statistics.median(redraws[-1]) * 1000:.0f} ms (median)" if view else ""), flush=True)
    off, on = statistics.median(times["off"]), statistics.median(times["on"])
    print(f"data {args.data}, {args.epochs} epochs, batch {args.batch_size}, {record['steps_per_epoch']} steps/epoch, "
          f"{args.repeats} runs each side")
    print(f"median: off {off:.2f} s, on {on:.2f} s: overhead {100 * (on - off) / off:+.1f} %")


if __name__ == "__main__":
    main()
