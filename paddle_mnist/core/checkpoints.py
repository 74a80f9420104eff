"""Every weights, optimizer-state and checkpoint file the project writes or reads goes through here.

``save_state`` is ``paddle.save`` written atomically, so the course's ``paddle.load`` reads what a run
writes. ``load_state`` is the one reader, and it never runs code: ``paddle.load`` unpickles, and a
pickle can call any function (a shared ``.pdparams`` could run ``os.system``). Here the unpickler may
build only the few things ``paddle.save`` writes (``SAFE_GLOBALS``), so a weights file from someone
else is checked before anything in it runs. ``.safetensors`` files hold arrays only, no code at all:
each run writes ``best.safetensors`` too, the file to share.
"""

import collections
import io
import os
import pickle

import numpy as np
import paddle
import safetensors.numpy

from paddle_mnist.core.errors import DataError
from paddle_mnist.core.files import atomic_path

BEST_PARAMS, BEST_OPT = "best.pdparams", "best.pdopt"
BEST_SAFETENSORS = "best.safetensors"  # best.pdparams' weights, as arrays only: the file to share
LAST_CHECKPOINT = "last.pdckpt"  # model + optimizer (+ lr schedule) + epoch, one file: resume point
NAME_TABLE = "StructuredToParameterName@@"  # paddle.save's {key: Tensor name} entry in a state_dict


def _latin1_bytes(text, encoding):
    """Pickle protocol 2 writes bytes as _codecs.encode(text, "latin1"); nothing but that codec."""
    if encoding != "latin1":  # pickle writes exactly this name; no codec lookup for others
        raise _Refused(f"_codecs.encode with codec {encoding!r}")
    return text.encode("latin1")


# The globals paddle.save writes, found by pickling a model state_dict, every optimizer's state
# (with every schedule, warmup and weight decay) and the resume point on Paddle 2.6.2 and 3.3.1, at
# pickle protocols 2, 3 and 4 (4 is the default), and listing what the unpickler looked up:
#   numpy arrays:     numpy._core.multiarray._reconstruct, numpy.ndarray, numpy.dtype
#   model.state_dict: collections.OrderedDict
#   a Tensor in a nested dict (the resume point): builtins.tuple, building (name, array)
#   protocol 2 only:  __builtin__.tuple, _codecs.encode (bytes)
# numpy 1.x names its reconstruct function numpy.core.multiarray._reconstruct: same function.
_RECONSTRUCT = np.ndarray.__reduce__(np.zeros(1))[0]
SAFE_GLOBALS = {
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "tuple"): tuple,
    ("__builtin__", "tuple"): tuple,
    ("_codecs", "encode"): _latin1_bytes,
}


class _Refused(Exception):
    """A pickle asked for something not in SAFE_GLOBALS; nothing of it was called."""


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module, name):  # every global a pickle names comes through here
        try:
            return SAFE_GLOBALS[(module, name)]
        except KeyError:
            raise _Refused(f"{module}.{name}") from None

    def persistent_load(self, pid):
        raise _Refused("a persistent id")


def save_state(obj, path):
    """paddle.save, atomically."""
    with atomic_path(path) as tmp:
        paddle.save(obj, tmp)


def save_safetensors(state_dict, path, metadata=None):
    """A model's state_dict as a .safetensors file (arrays only), atomically."""
    arrays = {k: np.ascontiguousarray(v.numpy() if hasattr(v, "numpy") else v) for k, v in state_dict.items()}
    data = safetensors.numpy.save(arrays, metadata=metadata)  # bytes: a few hundred KB at most here
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:  # into atomic_path's file, so it keeps the usual permissions
            f.write(data)


def load_state(path):
    """Read a state_dict, an optimizer state or a checkpoint, never running code from the file.

    Returns what ``paddle.load(path, return_numpy=True)`` returns (nested dicts of numpy arrays and
    plain values) for the files paddle.save writes, and {name: array} for a .safetensors file. Any
    failure, and any pickle that asks for more than SAFE_GLOBALS, is a DataError naming the file.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DataError(f"{path}: no such file")
    with open(path, "rb") as f:
        data = f.read()  # small files; parsing from memory never reads past what is there
    if path.endswith(".safetensors") or _looks_like_safetensors(data):
        return _load_safetensors(data, path)
    try:
        obj = _SafeUnpickler(io.BytesIO(data), encoding="latin1").load()
        obj = _as_paddle_loads(obj)
    except _Refused as e:
        raise DataError(f"{path}: refused to load: it asks for {e}, and a checkpoint cannot run code "
                        "(only arrays, numbers, strings and containers; nothing was run)") from None
    except Exception as e:  # truncated, random bytes, not a pickle: the unpickler raises many kinds
        raise DataError(f"{path}: not a Paddle checkpoint (corrupt or truncated: {_say(e)})") from None
    if path.endswith(".pdckpt"):
        _check_resume_point(obj, path)
    return obj


def check_weights(state_dict, model, path):
    """Weights read from `path` for `model`: each array of the dtype of the model's own parameter
    (a float16 file fails deep inside Paddle otherwise) and every number finite (NaN weights
    predict "0 (nan%)" and would be shared without a word). A DataError names the file."""
    own = model.state_dict()
    for key, value in state_dict.items():
        want = str(own[key].numpy().dtype) if key in own else None
        have = str(np.asarray(value).dtype)
        if want and have != want:
            raise DataError(f"{path}: {key} holds {have} weights, the model's are {want} "
                            f"(convert the file's arrays with numpy's astype({want!r}))")
        if not np.all(np.isfinite(value)):
            raise DataError(f"{path}: its weights are not finite (NaN or infinite, first in {key}): "
                            "a diverged run? nothing useful can be computed with them")


def _looks_like_safetensors(data):
    """safetensors: an 8-byte little-endian header length, then a JSON header."""
    return len(data) > 9 and data[8:9] == b"{" and int.from_bytes(data[:8], "little") <= len(data) - 8


def _load_safetensors(data, path):
    try:
        return dict(safetensors.numpy.load(data))
    except Exception as e:  # safetensors' own error type lives in its Rust extension
        raise DataError(f"{path}: not a safetensors file (corrupt or truncated: {_say(e)})") from None


def _as_paddle_loads(obj):
    """What paddle.load(return_numpy=True) makes of the unpickled object.

    paddle.save writes a state_dict as {key: array, NAME_TABLE: {key: Tensor name}}, and a Tensor
    inside other containers (the resume point) as a (name, array) pair; paddle.load drops the
    table and turns the pairs back into arrays. An array of Python objects is not weights: refused.
    """
    if isinstance(obj, dict) and NAME_TABLE in obj:
        del obj[NAME_TABLE]
        _check_arrays(obj)
        return obj
    obj = _pairs_to_arrays(obj)
    _check_arrays(obj)
    return obj


def _pairs_to_arrays(obj):
    if isinstance(obj, tuple) and len(obj) == 2 and isinstance(obj[0], str) and isinstance(obj[1], np.ndarray):
        return obj[1]
    if isinstance(obj, dict):
        for key in obj:
            obj[key] = _pairs_to_arrays(obj[key])
    elif isinstance(obj, (list, tuple)):
        return type(obj)(_pairs_to_arrays(v) for v in obj)
    return obj


def _check_arrays(obj):
    values = obj.values() if isinstance(obj, dict) else obj if isinstance(obj, (list, tuple)) else [obj]
    for v in values:
        if isinstance(v, np.ndarray) and v.dtype.hasobject:
            raise ValueError("an array of Python objects, not numbers")
        if isinstance(v, (dict, list, tuple)):
            _check_arrays(v)


def _check_resume_point(obj, path):
    """A .pdckpt is a resume point: {"model": state_dict, "optimizer": state, "epoch": int}."""
    if not (isinstance(obj, dict) and isinstance(obj.get("model"), dict)
            and isinstance(obj.get("optimizer"), dict) and isinstance(obj.get("epoch"), int)):
        raise DataError(f"{path}: not a resume point (a dict with 'model', 'optimizer' and 'epoch', "
                        "as `train` writes it)")


def _say(e):
    text = str(e).splitlines()[0] if str(e) else ""
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def save_best(out, model, optimizer):
    """The best epoch's weights (.pdparams for paddle.load, .safetensors to share) and optimizer state."""
    state = model.state_dict()
    save_state(state, os.path.join(out, BEST_PARAMS))
    save_safetensors(state, os.path.join(out, BEST_SAFETENSORS))
    save_state(optimizer.state_dict(), os.path.join(out, BEST_OPT))


def save_last(out, model, optimizer, epoch):
    """The resume point of a run folder."""
    save_state({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch},
               os.path.join(out, LAST_CHECKPOINT))
