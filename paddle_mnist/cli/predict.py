"""`paddle-mnist predict` (your own digit images in, digits out) and `paddle-mnist export`."""

import os

from paddle_mnist.api import predict
from paddle_mnist.cli.common import add_lang_argument
from paddle_mnist.core.files import ensure_writable_dir
from paddle_mnist.core.images import PREPROCESS
from paddle_mnist.core.model import MODELS
from paddle_mnist.runners.predict import EXPORT_FORMATS, export, how_to_load


def add_parser(subparsers):
    p = subparsers.add_parser(
        "predict",
        help="predict the digit in your own PNG/JPEG images",
        description="Predict the digit in each image with a trained network. Images are read the way "
        "MNIST was made (--preprocess mnist, default): grayscale, a light background inverted, cropped "
        "to the ink, the longer side scaled to 20 px, the centre of mass put at the centre of 28x28; "
        "so a digit drawn anywhere on a canvas of any size is read like the training digits. "
        "--preprocess course: the course's plain resize of the whole image to 28x28. Weights are "
        "checked before they are read: a file that would run code is refused.",
    )
    p.add_argument("images", nargs="+", metavar="IMAGE", help="PNG/JPEG files of one digit each")
    _checkpoint_args(p)
    p.add_argument("--preprocess", choices=PREPROCESS, default="mnist",
                   help="mnist: crop to the ink, 20 px, centre of mass at the centre, as MNIST was made "
                        "(default); course: resize the whole image to 28x28, as the course does")
    p.add_argument("--show", metavar="DIR", help="save DIR/<image>.png per image: your image, the 28x28 input "
                                                 "the network saw, and its guesses")
    add_lang_argument(p)
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
    if args.show:
        ensure_writable_dir(args.show, "--show")  # named as typed, before any work
    # a bad file (unreadable, no ink) stops predict before it returns: no line is printed
    results = predict(args.checkpoint, args.images, args.model, args.preprocess, show=args.show, lang=args.lang)
    for result in results:
        line = f"{result['file']}: {result['digit']} ({result['prob']:.1%})"
        if "seen" in result:
            line += f"  [saw: {result['seen']}]"
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
