"""Compare optimizers and learning rates: `python tools/compare.py --optimizers sgd,adam --lrs 0.1,0.01` (same flags as `paddle-mnist compare`)."""
import sys

from paddle_mnist.cli import main

sys.exit(main(["compare", *sys.argv[1:]]))
