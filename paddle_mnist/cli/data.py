"""`paddle-mnist data build` and `paddle-mnist data inspect`: write the course's JSON file, or check a data source."""

import argparse
import json
import os

from paddle_mnist.cli.common import EXIT_OK
from paddle_mnist.core.data import LOCAL_FILE, SPLITS, SYNTHETIC_FILE, build_json, build_synthetic_json, inspect
from paddle_mnist.core import checks
from paddle_mnist.core.errors import ConfigError


def _sizes(text):
    try:
        sizes = tuple(int(x) for x in text.split(","))
    except ValueError:
        sizes = ()
    if len(sizes) != 3 or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"expected three positive numbers TRAIN,VALID,EVAL, got {text!r}")
    return sizes


def add_parser(subparsers):
    p = subparsers.add_parser("data", help="build or inspect a data file",
                              description="Build the course's mnist.json.gz from IDX files, or check a data file.")
    sub = p.add_subparsers(dest="data_command", metavar="ACTION")
    sub.required = True
    b = sub.add_parser("build", help="write the course's JSON file from IDX files (or synthetic digits)",
                       description="Write the course's gzipped JSON layout [train, valid, eval], each "
                                   "[images, labels], atomically. From the official 60,000 training digits: "
                                   "train = the first 50,000, valid = the last 10,000, eval = the 10,000 test "
                                   "digits. From fewer: train = all of them, valid = the first half of the test "
                                   "digits, eval = the second half.")
    source = b.add_mutually_exclusive_group(required=True)
    source.add_argument("--idx", metavar="DIR",
                        help="directory with train*-images-idx3-ubyte[.gz], train*-labels-idx1-ubyte[.gz], "
                             "t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]")
    source.add_argument("--synthetic", action="store_true", help="generated digit-like images instead (not MNIST)")
    b.add_argument("--out", help=f"file to write (default: {LOCAL_FILE}, with --synthetic {SYNTHETIC_FILE}: "
                                 "a synthetic file loads like any course file, so its name should say what it is)")
    b.add_argument("--seed", type=int, help="--synthetic only: random seed (default: 0)")
    b.add_argument("--sizes", type=_sizes, metavar="TRAIN,VALID,EVAL",
                   help="--synthetic only: images per split (default: 1000,200,200)")
    b.set_defaults(func=run_build)
    i = sub.add_parser("inspect", help="check a data file and show its sizes, pixel range, labels, hash",
                       description="Check a data source (exit 1 with one line on stderr when it is bad) and "
                                   "summarise it. Without PATH: what the default chain finds "
                                   f"({LOCAL_FILE}, then Paddle's MNIST cache).")
    i.add_argument("path", nargs="?", help="course JSON file, IDX directory or 'synthetic' (default: the chain)")
    i.add_argument("--json", action="store_true", help="print the summary as JSON")
    i.set_defaults(func=run_inspect)


def run_build(args):
    if args.synthetic:
        seed = checks.seed("--seed", 0 if args.seed is None else args.seed)
        out = args.out or SYNTHETIC_FILE
        s = build_synthetic_json(out, seed, args.sizes or (1000, 200, 200))
        print(f"synthetic digits (seed {seed}), not MNIST")
    else:
        if args.seed is not None or args.sizes is not None:
            raise ConfigError("--seed and --sizes go with --synthetic; IDX files hold their own digits")
        out = args.out or LOCAL_FILE
        s = build_json(args.idx, out)
        print("read " + ", ".join(os.path.basename(f) for f in s["files"]) + f" from {args.idx}")
        print(f"split: {s['rule']}")
    sizes = s["sizes"]
    print(f"wrote {out}: train {sizes['train']:,}, valid {sizes['valid']:,}, eval {sizes['eval']:,} images, "
          f"{s['bytes'] / 1e6:.1f} MB, sha256 {s['sha256']}")
    return EXIT_OK


def run_inspect(args):
    s = inspect(args.path, progress=True)
    if args.json:
        print(json.dumps(s, indent=1))
        return EXIT_OK
    print(f"source       {s['source']}" + ("  (SYNTHETIC, not MNIST)" if s["synthetic"] else ""))
    print(f"format       {s['format']}")
    print(f"sha256       {s['sha256']}")
    print(f"pixel range  {s['pixel_range']} in the file (loaded as float32 in [0, 1])")
    if "split_rule" in s:
        print(f"splits       {s['split_rule']}")
    print(f"{'split':<7}{'images':>8}   labels 0-9")
    for name in SPLITS:
        print(f"{name:<7}{s['sizes'][name]:>8,}   " + " ".join(f"{c:>5}" for c in s["labels"][name]))
    return EXIT_OK
