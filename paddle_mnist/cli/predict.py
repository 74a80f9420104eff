"""`paddle-mnist predict` (your own digit images in, digits out) and `paddle-mnist export`."""

import os

from paddle_mnist.core.files import ensure_writable_dir
from paddle_mnist.runners.predict import (EXPORT_FORMATS, export, how_to_load, load_checkpoint, load_image,
                                    predict, save_seen, seen_paths)
from paddle_mnist.core.model import MODELS


def add_parser(subparsers):
    p = subparsers.add_parser(
        "predict",
        help="predict the digit in your own PNG/JPEG images",
        description="Predict the digit in each image with a trained network. Images are read like "
        "the course does (grayscale, 28x28, [0, 1]); a dark digit on a light background is "
        "inverted automatically. Weights are checked before they are read: a file that would run "
        "code is refused.",
    )
    p.add_argument("images", nargs="+", metavar="IMAGE", help="PNG/JPEG files of one digit each")
    _checkpoint_args(p)
    p.add_argument("--show", metavar="DIR", help="save a PNG per image of what the network saw and its top-3 guesses")
    p.set_defaults(func=run_predict)

    p = subparsers.add_parser(
        "export",
        help="save a trained network for inference (paddle.jit.save) or its weights for sharing",
        description="--format jit (default): paddle.jit.save with a dynamic batch (InputSpec "
        "[None, 1, 28, 28] float32), in the format the installed Paddle writes (Paddle 3: "
        "DIR/model.json + model.pdiparams; Paddle 2.6: DIR/model.pdmodel + model.pdiparams). "
        "--format safetensors: the weights alone, DIR/model.safetensors, the file to share. "
        "DIR/export.json names the format.",
    )
    _checkpoint_args(p)
    p.add_argument("--out", required=True, metavar="DIR", help="directory to write model.* into")
    p.add_argument("--format", choices=EXPORT_FORMATS, default="jit",
                   help="jit: a program + weights for paddle.jit.load / paddle.inference (default); "
                   "safetensors: the weights alone, for sharing")
    p.set_defaults(func=run_export)


def _checkpoint_args(p):
    p.add_argument(
        "--checkpoint", required=True, metavar="PATH",
        help="a run directory (from `paddle-mnist train --out`; uses best.pdparams), a .pdparams "
        "or a .safetensors file",
    )
    p.add_argument(
        "--model", choices=sorted(MODELS),
        help="the network the weights belong to (default: from the run's record.json, else guessed from the weights)",
    )


def run_predict(args):
    net, name = load_checkpoint(args.checkpoint, args.model)
    images = [load_image(path) for path in args.images]  # a bad file stops here, before any output
    if args.show:
        ensure_writable_dir(args.show, "--show")  # before any prediction is printed
    results = predict(net, args.images)
    seen = seen_paths(args.show, args.images) if args.show else [None] * len(images)
    for image, result, seen_path in zip(images, results, seen):
        line = f"{result['file']}: {result['digit']} ({result['prob']:.1%})"
        if seen_path:
            save_seen(seen_path, image, result)
            line += f"  [saw: {seen_path}]"
        print(line)
    return 0


def run_export(args):
    paths = export(args.checkpoint, args.out, args.model, format=args.format)
    print(f"exported to {os.path.abspath(args.out)}:")
    for path in paths:
        print(f"  {path}")
    print("load it with:")
    for line in how_to_load(args.out):
        print(f"  {line}")
    return 0
