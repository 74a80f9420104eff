"""Draw the comparison plots of a directory of run records: `python tools/plot.py work/compare`."""
import sys

from paddle_mnist.cli import main

sys.exit(main(["plot", *sys.argv[1:]]))
