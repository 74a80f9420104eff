"""Use a trained network: read your own digit images and predict them, or export the network.

``predict`` reads a PNG/JPEG the way the course does (grayscale, 28×28, scaled to [0, 1]) and
also accepts a dark digit on a light background (a drawing, a scan): it notices the light
background and inverts the image, because the network only ever saw bright digits on black.

``export`` saves the network with ``paddle.jit.save`` for deployment: Paddle 3.3 writes
``model.json`` (the program, PIR format) and ``model.pdiparams`` (the weights); load them with
``paddle.jit.load(DIR + "/model")`` or ``paddle.inference.Config(DIR + "/model.json",
DIR + "/model.pdiparams")``.
"""

import os
import shutil
import tempfile

import numpy as np
import paddle
from PIL import Image, UnidentifiedImageError

from paddle_mnist.errors import ConfigError, DataError
from paddle_mnist.files import atomic_path, write_json
from paddle_mnist.model import MODELS, build_model
from paddle_mnist.record import RECORD_FILE, load_record

IMAGE_SIZE = 28
# what a run directory may hold, best first; last.pdckpt is the trainer's resume point
# ({"model": state_dict, "optimizer": ..., "epoch": ...})
WEIGHT_FILES = ("best.pdparams", "last.pdparams", "last.pdckpt")
EXPORT_PREFIX = "model"  # DIR/model.json + DIR/model.pdiparams


# ----------------------------------------------------------------------------- images


def load_image(image):
    """One image as the network's input: float32 [1, 1, 28, 28] in [0, 1], bright digit on black.

    `image` is a file path, a PIL image, or a numpy array (uint8 0..255, or float in [0, 1]).
    Like the course: grayscale ("L"), resized to 28×28 with Lanczos; unlike the course's fixed
    ``1 - x``, the image is inverted only when its background is light (median pixel > 0.5),
    so an MNIST-like digit and a black-on-white drawing both work.
    """
    name = _name(image, 0)
    if isinstance(image, (str, os.PathLike)):
        im = _open(image)
    elif isinstance(image, Image.Image):
        im = image
    elif isinstance(image, np.ndarray):
        im = _from_array(image, name)
    else:
        raise DataError(f"{name}: not an image (a {type(image).__name__}; give a path, a PIL image or an array)")

    if im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info:
        # A drawing with a transparent background: put it on white paper first
        # (otherwise transparent pixels turn black and hide black strokes).
        paper = Image.new("RGBA", im.size, "white")
        im = Image.alpha_composite(paper, im.convert("RGBA"))
    if im.mode != "F":
        im = im.convert("L")
    im = im.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.LANCZOS)
    x = np.asarray(im, dtype=np.float32)
    if im.mode != "F":
        x = x / 255.0
    x = np.clip(x, 0.0, 1.0)
    if np.median(x) > 0.5:  # light background: a dark digit on paper
        x = 1.0 - x
    return x.reshape(1, 1, IMAGE_SIZE, IMAGE_SIZE).astype(np.float32)


def _open(path):
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DataError(f"{path}: no such image file")
    try:
        with Image.open(path) as im:
            im.load()
            return im.copy()
    except (UnidentifiedImageError, OSError) as e:
        raise DataError(f"{path}: not an image Pillow can read ({e})") from None


def _from_array(a, name):
    a = np.squeeze(np.asarray(a))
    if a.ndim == 3 and a.shape[-1] in (3, 4):  # H×W×RGB(A)
        if a.dtype != np.uint8:
            raise DataError(f"{name}: a color array must be uint8, not {a.dtype}")
        return Image.fromarray(a)
    if a.ndim != 2:
        raise DataError(f"{name}: an image array must be 2-D (H×W) or H×W×3, not shape {a.shape}")
    if a.dtype == np.uint8:
        return Image.fromarray(a)
    a = a.astype(np.float32)
    if not np.all(np.isfinite(a)) or a.min() < 0.0 or a.max() > 1.0:
        raise DataError(f"{name}: a float image must hold values in [0, 1]")
    return Image.fromarray(a)  # mode "F": no rounding to 8 bits


def _name(image, index):
    """What to call an image in messages and results: its path, or its position."""
    if isinstance(image, (str, os.PathLike)):
        return os.fspath(image)
    return f"<image {index}>"


# ----------------------------------------------------------------------------- checkpoints


def _param_shapes(state_dict):
    return {k: tuple(int(d) for d in v.shape) for k, v in state_dict.items()}


def _model_shapes():
    """{model name: {parameter name: shape}} of every network we know, for matching checkpoints."""
    return {name: _param_shapes(cls().state_dict()) for name, cls in MODELS.items()}


def infer_model_name(state_dict, path="checkpoint"):
    """The network whose parameter names and shapes are exactly those in `state_dict`."""
    shapes = _param_shapes(state_dict)
    for name, expected in _model_shapes().items():
        if shapes == expected:
            return name
    keys = ", ".join(sorted(shapes)[:6]) or "none"
    raise DataError(f"{path}: weights match none of the models {', '.join(MODELS)} (its keys: {keys})")


def _check_fits(state_dict, model, model_name, path):
    """paddle's set_state_dict only *warns* on a mismatch; a learner should get an error instead."""
    got, want = _param_shapes(state_dict), _param_shapes(model.state_dict())
    faults = []
    missing = sorted(set(want) - set(got))
    extra = sorted(set(got) - set(want))
    if missing:
        faults.append("missing " + ", ".join(missing))
    if extra:
        faults.append("unexpected " + ", ".join(extra))
    for k in sorted(set(got) & set(want)):
        if got[k] != want[k]:
            faults.append(f"{k} has shape {list(got[k])}, model wants {list(want[k])}")
    if faults:
        raise DataError(f"{path}: does not fit model {model_name!r}: " + "; ".join(faults))


def _weights_path(path):
    """A run directory → its best (else last) weights; a file is used as it is."""
    if os.path.isdir(path):
        for name in WEIGHT_FILES:
            candidate = os.path.join(path, name)
            if os.path.isfile(candidate):
                return candidate
        raise DataError(f"{path}: a run directory without weights ({', '.join(WEIGHT_FILES)})")
    if not os.path.exists(path):
        raise DataError(f"{path}: no such checkpoint (give a run directory or a .pdparams file)")
    return path


def _record_model(path):
    """The model a run directory's record.json names, or None."""
    if os.path.isdir(path) and os.path.isfile(os.path.join(path, RECORD_FILE)):
        return (load_record(path).get("config") or {}).get("model")
    return None


def load_checkpoint(path, model=None):
    """(network in eval mode, model name) from a run directory or a .pdparams file.

    The model is `model` if given, else what the run's record.json says, else the one whose
    parameter names and shapes match the weights (cnn / linear / mlp).
    """
    path = os.fspath(path)
    weights = _weights_path(path)
    if os.path.isdir(weights):
        raise DataError(f"{weights}: a directory, not a .pdparams file")
    try:
        state_dict = paddle.load(weights)
    except Exception as e:  # paddle raises ValueError/pickle errors/... for a file it cannot parse
        raise DataError(f"{weights}: not a Paddle checkpoint ({e})") from None
    if isinstance(state_dict, dict) and isinstance(state_dict.get("model"), dict):
        state_dict = state_dict["model"]  # a resume checkpoint: the model's part
    if not isinstance(state_dict, dict) or not all(hasattr(v, "shape") for v in state_dict.values()):
        raise DataError(f"{weights}: not a model's state_dict (saved with paddle.save(model.state_dict()))")

    name = model or _record_model(path) or infer_model_name(state_dict, weights)
    if name not in MODELS:
        raise ConfigError(f"--model: unknown model {name!r}; choose one of: {', '.join(MODELS)}")
    net = build_model(name)
    _check_fits(state_dict, net, name, weights)
    net.set_state_dict(state_dict)
    net.eval()
    return net, name


# ----------------------------------------------------------------------------- predict


def predict(checkpoint, images, model=None):
    """Predict digits: a list of {file, digit, prob, probs} in the order of `images`.

    `checkpoint` is a run directory, a .pdparams file, or a loaded ``paddle.nn.Layer``;
    `images` are paths, PIL images or arrays (see ``load_image``); `probs` are the ten softmax
    probabilities as a list.
    """
    if isinstance(images, (str, os.PathLike, Image.Image, np.ndarray)):
        images = [images]
    if isinstance(checkpoint, paddle.nn.Layer):
        net = checkpoint
        net.eval()
    else:
        net, _ = load_checkpoint(checkpoint, model)
    images = list(images)
    if not images:
        return []
    x = np.concatenate([load_image(im) for im in images])
    with paddle.no_grad():
        probs = paddle.nn.functional.softmax(net(paddle.to_tensor(x)), axis=1).numpy()
    results = []
    for i, (image, p) in enumerate(zip(images, probs)):
        digit = int(np.argmax(p))
        results.append(
            {"file": _name(image, i), "digit": digit, "prob": float(p[digit]), "probs": [float(v) for v in p]}
        )
    return results


def save_seen(path, image, result):
    """Save a PNG of what the network saw (the 28×28 input, enlarged) and its top-3 guesses."""
    from matplotlib.figure import Figure  # no pyplot: no GUI backend, no global state

    fig = Figure(figsize=(4.4, 2.5), dpi=100, layout="constrained")
    ax_img, ax_bar = fig.subplots(1, 2, width_ratios=[1, 1.2])
    ax_img.imshow(image.reshape(IMAGE_SIZE, IMAGE_SIZE), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax_img.set_title("the network's input", fontsize=9)
    ax_img.axis("off")
    probs = np.asarray(result["probs"])
    top3 = np.argsort(probs)[::-1][:3]
    colors = ["tab:blue" if d in top3 else "lightgray" for d in range(10)]
    ax_bar.barh(range(10), probs, color=colors)
    ax_bar.set_yticks(range(10))
    ax_bar.invert_yaxis()
    ax_bar.set_xlim(0, 1)
    ax_bar.set_title(f"guess: {result['digit']} ({result['prob']:.0%})", fontsize=10)
    ax_bar.set_xlabel("probability", fontsize=8)
    ax_bar.tick_params(labelsize=7)
    for d in top3:
        ax_bar.text(min(probs[d], 0.62) + 0.02, d, f"{probs[d]:.1%}", va="center", fontsize=7)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return path


def _seen_paths(directory, names):
    """One PNG name per input, `<stem>.png`, made unique when two inputs share a stem."""
    paths, used = [], set()
    for i, name in enumerate(names):
        stem = os.path.splitext(os.path.basename(name))[0] if not name.startswith("<") else f"image{i}"
        candidate = stem
        if candidate in used:
            candidate = f"{stem}-{i}"
        used.add(candidate)
        paths.append(os.path.join(directory, candidate + ".png"))
    return paths


# ----------------------------------------------------------------------------- export


def export(checkpoint, out, model=None):
    """Save the network with paddle.jit.save for inference; returns the paths written.

    The input is declared as ``InputSpec([None, 1, 28, 28], "float32")``: any batch size.
    Everything is written into a temporary directory first and moved into `out` only when
    jit.save succeeded, so a failed export never leaves half a model behind.
    """
    from paddle.static import InputSpec

    net, name = load_checkpoint(checkpoint, model)
    out = os.path.abspath(os.fspath(out))
    if os.path.exists(out) and not os.path.isdir(out):
        raise ConfigError(f"--out: {out} exists and is not a directory")
    parent = os.path.dirname(out)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(dir=parent, prefix="." + os.path.basename(out) + ".")
    try:
        spec = InputSpec([None, 1, IMAGE_SIZE, IMAGE_SIZE], "float32", name="image")
        paddle.jit.save(net, os.path.join(tmp, EXPORT_PREFIX), input_spec=[spec])
        files = sorted(os.listdir(tmp))
        write_json(
            os.path.join(tmp, "export.json"),
            {
                "model": name,
                "checkpoint": os.path.abspath(os.fspath(checkpoint)),
                "input": {"name": "image", "shape": [None, 1, IMAGE_SIZE, IMAGE_SIZE], "dtype": "float32",
                          "pixels": "[0, 1], bright digit on black"},
                "output": "logits [N, 10] (apply softmax for probabilities)",
                "files": files,
                "paddle": paddle.__version__,
            },
        )
        files.append("export.json")
        if not os.path.exists(out):
            os.rename(tmp, out)  # the whole directory appears at once
        else:
            for f in files:  # an existing directory: each file replaced atomically
                os.replace(os.path.join(tmp, f), os.path.join(out, f))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return [os.path.join(out, f) for f in sorted(files)]


def load_exported(out):
    """The exported network, ready to call on a float32 tensor [N, 1, 28, 28]."""
    return paddle.jit.load(os.path.join(os.fspath(out), EXPORT_PREFIX))


# ----------------------------------------------------------------------------- CLI


def add_parser(subparsers):
    p = subparsers.add_parser(
        "predict",
        help="predict the digit in your own PNG/JPEG images",
        description="Predict the digit in each image with a trained network. Images are read like "
        "the course does (grayscale, 28x28, [0, 1]); a dark digit on a light background is "
        "inverted automatically.",
    )
    p.add_argument("images", nargs="+", metavar="IMAGE", help="PNG/JPEG files of one digit each")
    _checkpoint_args(p)
    p.add_argument("--show", metavar="DIR", help="save a PNG per image of what the network saw and its top-3 guesses")
    p.set_defaults(func=run_predict)

    p = subparsers.add_parser(
        "export",
        help="save a trained network for inference (paddle.jit.save)",
        description="Export a trained network with paddle.jit.save and a dynamic batch "
        "(InputSpec [None, 1, 28, 28] float32) into DIR/model.json + DIR/model.pdiparams.",
    )
    _checkpoint_args(p)
    p.add_argument("--out", required=True, metavar="DIR", help="directory to write model.* into")
    p.set_defaults(func=run_export)


def _checkpoint_args(p):
    p.add_argument(
        "--checkpoint", required=True, metavar="PATH",
        help="a run directory (from `paddle-mnist train --out`; uses best.pdparams) or a .pdparams file",
    )
    p.add_argument(
        "--model", choices=sorted(MODELS),
        help="the network the weights belong to (default: from the run's record.json, else guessed from the weights)",
    )


def run_predict(args):
    net, name = load_checkpoint(args.checkpoint, args.model)
    images = [load_image(path) for path in args.images]  # a bad file stops here, before any output
    results = predict(net, args.images)
    seen = _seen_paths(args.show, args.images) if args.show else [None] * len(images)
    for image, result, seen_path in zip(images, results, seen):
        line = f"{result['file']}: {result['digit']} ({result['prob']:.1%})"
        if seen_path:
            save_seen(seen_path, image, result)
            line += f"  [saw: {seen_path}]"
        print(line)
    return 0


def run_export(args):
    paths = export(args.checkpoint, args.out, args.model)
    print(f"exported to {os.path.abspath(args.out)}:")
    for path in paths:
        print(f"  {path}")
    prefix = os.path.join(os.path.abspath(args.out), EXPORT_PREFIX)
    print("load it with:")
    print(f"  paddle.jit.load({prefix!r})  # then call it on a float32 tensor [N, 1, 28, 28] in [0, 1]")
    print(f"  paddle.inference.Config({prefix + '.json'!r}, {prefix + '.pdiparams'!r})")
    return 0
