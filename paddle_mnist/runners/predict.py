"""Use a trained network: read your own digit images and predict them, or export the network.

``predict`` reads a PNG/JPEG the way MNIST was made (core/images.py: cropped to the ink, the
longer side scaled to 20 px, centred by its centre of mass in 28×28), so a digit drawn anywhere on
a canvas of any size is read like the training digits; ``preprocess="course"`` keeps the course's
plain resize. A dark digit on a light background (a drawing, a scan) is inverted, because the
network only ever saw bright digits on black.

``export`` saves the network with ``paddle.jit.save`` for deployment, in whatever format the
installed Paddle writes: Paddle 3 writes ``model.json`` (the program, PIR) and ``model.pdiparams``
(the weights), Paddle 2.6 ``model.pdmodel`` (the program, protobuf), ``model.pdiparams`` and
``model.pdiparams.info``. Either loads with ``paddle.jit.load(DIR + "/model")`` or
``paddle.inference.Config(program file, DIR + "/model.pdiparams")``; ``export.json`` says which.
``export(..., format="safetensors")`` writes the weights alone (``model.safetensors``): the file
to share, since it holds arrays and nothing that could run.

Weights are read through ``checkpoints.load_state``, which never runs code from a file.
"""

import contextlib
import os
import shutil
import sys
import tempfile

import numpy as np
import paddle
from PIL import Image

from paddle_mnist.core.checkpoints import (BEST_PARAMS, BEST_SAFETENSORS, LAST_CHECKPOINT, check_weights, load_state,
                                           save_safetensors)
from paddle_mnist.core.errors import ConfigError, DataError
from paddle_mnist.core.files import ensure_writable_dir, read_json, write_json
from paddle_mnist.core.images import IMAGE_SIZE, image_name, load_image  # noqa: F401  (load_image: public here too)
from paddle_mnist.core.model import MODELS, build_model
from paddle_mnist.schemas.run import RECORD_FILE, load_record

# what a run directory may hold, best first; last.pdckpt is the trainer's resume point
# ({"model": state_dict, "optimizer": ..., "epoch": ...})
WEIGHT_FILES = (BEST_PARAMS, BEST_SAFETENSORS, "last.pdparams", LAST_CHECKPOINT)
EXPORT_PREFIX = "model"  # DIR/model.* ; paddle.jit.load(DIR/model)
EXPORT_INFO = "export.json"
EXPORT_FORMATS = ("jit", "safetensors")
# Paddle 3's jit.save logs this (glog, C++) for the course's network although the export is complete
# and loads to the same outputs (tested): it is noise to a learner, so export drops it
PIR_WARNING = "(PIR) not support input out tensor"
# paddle.jit.save's program file -> (format name, what it is); we look at what it wrote
JIT_PROGRAMS = {
    EXPORT_PREFIX + ".json": ("pir", "PIR program (JSON), written by Paddle 3"),
    EXPORT_PREFIX + ".pdmodel": ("program", "ProgramDesc (protobuf), written by Paddle 2.x"),
}


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
        raise DataError(f"{path}: no such checkpoint (give a run directory, a .pdparams or a .safetensors file)")
    return path


def _record_model(path):
    """The model a run directory's record.json names, or None."""
    if os.path.isdir(path) and os.path.isfile(os.path.join(path, RECORD_FILE)):
        config = load_record(path).get("config")  # a truncated or foreign record: DataError
        model = config.get("model") if isinstance(config, dict) else None
        if model is not None and model not in MODELS:
            raise DataError(f"{os.path.join(path, RECORD_FILE)}: names an unknown model {model!r}")
        return model
    return None


def load_checkpoint(path, model=None):
    """(network in eval mode, model name) from a run directory, a .pdparams or a .safetensors file.

    The model is `model` if given, else what the run's record.json says, else the one whose
    parameter names and shapes match the weights (cnn / linear / mlp).
    """
    path = os.fspath(path)
    weights = _weights_path(path)
    if os.path.isdir(weights):
        raise DataError(f"{weights}: a directory, not a .pdparams file")
    state_dict = load_state(weights)  # never runs code from the file
    if isinstance(state_dict, dict) and isinstance(state_dict.get("model"), dict):
        state_dict = state_dict["model"]  # a resume checkpoint: the model's part
    if not isinstance(state_dict, dict) or not all(hasattr(v, "shape") for v in state_dict.values()):
        raise DataError(f"{weights}: not a model's state_dict (saved with paddle.save(model.state_dict()))")

    name = model or _record_model(path) or infer_model_name(state_dict, weights)
    if name not in MODELS:
        raise ConfigError(f"--model: unknown model {name!r}; choose one of: {', '.join(MODELS)}")
    net = build_model(name)
    _check_fits(state_dict, net, name, weights)
    check_weights(state_dict, net, weights)
    net.set_state_dict(state_dict)
    net.eval()
    return net, name


# ----------------------------------------------------------------------------- predict


def as_image_list(images):
    """One image (a path, a PIL image, an array) or several, as a list."""
    return [images] if isinstance(images, (str, os.PathLike, Image.Image, np.ndarray)) else list(images)


def predict(checkpoint, images, model=None, preprocess="mnist"):
    """Predict digits: a list of {file, digit, prob, probs} in the order of `images`.

    `checkpoint` is a run directory, a .pdparams file, or a loaded ``paddle.nn.Layer``;
    `images` are paths, PIL images or arrays, read by ``load_image`` with `preprocess` ("mnist",
    the default: as MNIST was made; "course": the course's plain resize); `probs` are the ten
    softmax probabilities as a list.
    """
    images = as_image_list(images)
    if isinstance(checkpoint, paddle.nn.Layer):
        net = checkpoint
        net.eval()
    else:
        net, _ = load_checkpoint(checkpoint, model)
    if not images:
        return []
    x = np.concatenate([load_image(im, preprocess) for im in images])
    with paddle.no_grad():
        probs = paddle.nn.functional.softmax(net(paddle.to_tensor(x)), axis=1).numpy()
    results = []
    for i, (image, p) in enumerate(zip(images, probs)):
        digit = int(np.argmax(p))
        results.append(
            {"file": image_name(image, i), "digit": digit, "prob": float(p[digit]), "probs": [float(v) for v in p]}
        )
    return results


# ----------------------------------------------------------------------------- export


def export(checkpoint, out, model=None, format="jit"):
    """Save the network for deployment ("jit": paddle.jit.save) or for sharing ("safetensors": the
    weights alone, with the model's name in the file's metadata); returns the paths written.

    The jit input is declared as ``InputSpec([None, 1, 28, 28], "float32")``: any batch size.
    Everything is written into a temporary directory first and moved into `out` only when it all
    succeeded, so a failed export never leaves half a model behind. ``export.json`` names the format.
    """
    if format not in EXPORT_FORMATS:
        raise ConfigError(f"--format: unknown format {format!r}; choose one of: {', '.join(EXPORT_FORMATS)}")
    net, name = load_checkpoint(checkpoint, model)
    out = os.path.abspath(os.fspath(out))
    tmp = _staging_dir(out)
    try:
        if format == "jit":
            info = _jit_save(net, tmp)
        else:
            weights = EXPORT_PREFIX + ".safetensors"
            save_safetensors(net.state_dict(), os.path.join(tmp, weights), metadata={"model": name})
            info = {"format": "safetensors", "description": "the weights alone (safetensors: arrays, no code)",
                    "weights": weights}
        files = sorted(os.listdir(tmp))
        info.update({
            "model": name,
            "checkpoint": os.path.abspath(os.fspath(checkpoint)),
            "input": {"name": "image", "shape": [None, 1, IMAGE_SIZE, IMAGE_SIZE], "dtype": "float32",
                      "pixels": "[0, 1], bright digit on black"},
            "output": "logits [N, 10] (apply softmax for probabilities)",
            "files": files,
            "paddle": paddle.__version__,
        })
        write_json(os.path.join(tmp, EXPORT_INFO), info)
        files = sorted(files + [EXPORT_INFO])
        _move_into(tmp, out, files)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return [os.path.join(out, f) for f in files]


def _jit_save(net, directory):
    """paddle.jit.save into `directory`; which format it wrote is read off the files it wrote."""
    from paddle.static import InputSpec

    spec = InputSpec([None, 1, IMAGE_SIZE, IMAGE_SIZE], "float32", name="image")
    with _without_line(PIR_WARNING):
        paddle.jit.save(net, os.path.join(directory, EXPORT_PREFIX), input_spec=[spec])
    written = sorted(os.listdir(directory))
    for program, (fmt, description) in JIT_PROGRAMS.items():
        if program in written:
            return {"format": fmt, "description": f"paddle.jit.save: {description}",
                    "program": program, "params": EXPORT_PREFIX + ".pdiparams"}
    raise ConfigError(f"paddle.jit.save wrote {', '.join(written)}, none of {', '.join(JIT_PROGRAMS)}: "
                      f"export does not know this Paddle's format (Paddle {paddle.__version__})")


@contextlib.contextmanager
def _without_line(text):
    """Drop the lines holding `text` from what C++ code writes to stderr (file descriptor 2) meanwhile;
    every other line is passed on. Paddle's glog warnings do not go through Python's sys.stderr."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            for line in captured.read().decode(errors="replace").splitlines(keepends=True):
                if text not in line:
                    sys.stderr.write(line)


def _staging_dir(out):
    """A temporary directory beside `out`, made before any work: an unwritable --out fails here."""
    if os.path.exists(out) and not os.path.isdir(out):
        raise ConfigError(f"--out {out}: exists and is not a directory")
    if os.path.isdir(out):
        ensure_writable_dir(out, "--out")
    parent = os.path.dirname(out)
    try:
        os.makedirs(parent, exist_ok=True)
        return tempfile.mkdtemp(dir=parent, prefix="." + os.path.basename(out) + ".")
    except OSError as e:
        raise ConfigError(f"--out {out}: cannot write there ({e.strerror or e})") from None


def _move_into(tmp, out, files):
    """The new export into `out`: a new directory appears at once; in an existing one each file is
    replaced atomically, and files of an earlier export in another format are removed (a stale
    model.pdmodel beside a new model.json would be read with the wrong weights)."""
    if not os.path.exists(out):
        os.rename(tmp, out)
        return
    earlier = _exported_files(out)
    for f in files:
        os.replace(os.path.join(tmp, f), os.path.join(out, f))
    for f in earlier - set(files):
        if os.path.isfile(os.path.join(out, f)):
            os.remove(os.path.join(out, f))


def _exported_files(out):
    """The model.* files an earlier export.json in `out` lists (nothing else is ever removed)."""
    try:
        listed = read_json(os.path.join(out, EXPORT_INFO)).get("files", [])
    except (OSError, ValueError, AttributeError):
        return set()
    return {f for f in listed if isinstance(f, str) and f.startswith(EXPORT_PREFIX + ".")
            and os.path.basename(f) == f}


def how_to_load(out):
    """Lines that tell how to load what `export` wrote into `out` (read from its export.json)."""
    out = os.path.abspath(os.fspath(out))
    info = read_json(os.path.join(out, EXPORT_INFO))
    if info["format"] == "safetensors":
        weights = os.path.join(out, info["weights"])
        return [f"paddle-mnist predict --checkpoint {weights} IMAGE...",
                f"build_model({info['model']!r}).set_state_dict(safetensors.numpy.load_file({weights!r}))"]
    prefix = os.path.join(out, EXPORT_PREFIX)
    return [f"paddle.jit.load({prefix!r})  # then call it on a float32 tensor [N, 1, 28, 28] in [0, 1]",
            f"paddle.inference.Config({os.path.join(out, info['program'])!r}, "
            f"{os.path.join(out, info['params'])!r})"]


def load_exported(out):
    """The jit-exported network, ready to call on a float32 tensor [N, 1, 28, 28]."""
    return paddle.jit.load(os.path.join(os.fspath(out), EXPORT_PREFIX))
