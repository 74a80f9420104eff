"""Train one run: `python tools/train.py --optimizer adam --lr 0.001 --epochs 5` (same flags as `paddle-mnist train`)."""
import sys

from paddle_mnist.cli import main

sys.exit(main(["train", *sys.argv[1:]]))
