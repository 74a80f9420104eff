"""Your own digit images as the network's input: float32 [1, 1, 28, 28] in [0, 1], bright digit on black.

Two ways (``PREPROCESS``):

* ``"mnist"`` (the default): the way MNIST itself was made (LeCun et al., 1998). Grayscale; a light
  background is inverted; the image is cropped to the ink; the longer side is scaled to 20 px
  keeping the aspect ratio; the digit is placed in a 28×28 image so that its centre of mass sits at
  the centre. A digit drawn small, large or off-centre on a canvas of any size then looks like the
  digits the network trained on (their longer side is 20 px, their centre of mass at (14, 14)).
* ``"course"``: the course's plain resize of the whole image to 28×28 (then inverted if its
  background is light). Fine for a digit that fills a square image, as MNIST's own files do; a
  small digit on a large canvas shrinks to a few pixels.

Only Pillow (resizing), scipy (centre of mass, shift) and numpy: no Paddle here.
"""

import os

import numpy as np
from PIL import Image
from scipy import ndimage

from paddle_mnist.core.errors import ConfigError, DataError

IMAGE_SIZE = 28
PREPROCESS = ("mnist", "course")
BOX = 20  # MNIST's digits: the longer side scaled to 20 px, inside the 28×28 image
CENTRE = IMAGE_SIZE / 2  # where MNIST's centres of mass lie: (14.0, 14.0) on average over its test set
INK = 0.2  # a pixel this much brighter than the background (after inversion) is ink; JPEG noise is not


def load_image(image, preprocess="mnist"):
    """One image as the network's input: float32 [1, 1, 28, 28] in [0, 1], bright digit on black.

    `image` is a file path, a PIL image, or a numpy array (uint8 0..255, or float in [0, 1]);
    `preprocess` is "mnist" (default) or "course" (see the module docstring). Either way the
    image is inverted only when its background is light (median pixel > 0.5), so an MNIST-like
    digit and a black-on-white drawing both work.
    """
    if preprocess not in PREPROCESS:
        raise ConfigError(f"--preprocess {preprocess!r} is unknown; choose one of: {', '.join(PREPROCESS)}")
    name = image_name(image, 0)
    gray = _gray(_as_pil(image, name))
    if preprocess == "course":
        x = np.asarray(gray.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.LANCZOS), dtype=np.float32)
        x = _bright_on_dark(x)
    else:
        x = mnist_digit(_bright_on_dark(np.asarray(gray, dtype=np.float32)), name)
    return x.reshape(1, 1, IMAGE_SIZE, IMAGE_SIZE).astype(np.float32)


def load_gray(image):
    """The image as given, grayscale in [0, 1] (not inverted): to show beside what the network saw."""
    return np.asarray(_gray(_as_pil(image, image_name(image, 0))), dtype=np.float32)


def mnist_digit(x, name="image"):
    """LeCun's recipe on a bright-on-dark array in [0, 1] of any size: a 28×28 array whose ink's
    longer side is 20 px and whose centre of mass is at the centre. No ink: a DataError naming it."""
    x = np.clip(x - np.median(x), 0.0, None)  # a grey paper or a scan's background becomes 0
    rows, cols = np.nonzero(x >= INK)
    if rows.size == 0:
        raise DataError(f"{name}: no ink found (an empty canvas? nothing differs from the background "
                        f"by {INK:g} or more)")
    crop = x[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    crop = crop / crop.max()  # the strongest stroke becomes 1, as in MNIST
    h, w = crop.shape
    scale = BOX / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))  # Pillow's (width, height)
    box = np.asarray(Image.fromarray(crop.astype(np.float32)).resize(size, Image.Resampling.LANCZOS))
    box = np.clip(box, 0.0, 1.0)  # Lanczos overshoots a little at sharp edges
    canvas = np.zeros((IMAGE_SIZE, IMAGE_SIZE), np.float32)
    top, left = (IMAGE_SIZE - box.shape[0]) // 2, (IMAGE_SIZE - box.shape[1]) // 2
    canvas[top:top + box.shape[0], left:left + box.shape[1]] = box
    cy, cx = ndimage.center_of_mass(canvas)
    # a whole-pixel shift, as MNIST's: the centre of mass lands within half a pixel of (14, 14)
    return ndimage.shift(canvas, (round(CENTRE - cy), round(CENTRE - cx)), order=0, mode="constant", cval=0.0)


def _bright_on_dark(x):
    """[0, 1], and inverted when the background (the median pixel) is light: a dark digit on paper."""
    x = np.clip(x, 0.0, 1.0)
    return 1.0 - x if np.median(x) > 0.5 else x


def _gray(im):
    """A grayscale image in [0, 1] (mode "F"); a transparent background becomes white paper first
    (otherwise transparent pixels turn black and hide black strokes)."""
    if im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info:
        paper = Image.new("RGBA", im.size, "white")
        im = Image.alpha_composite(paper, im.convert("RGBA"))
    if im.mode == "F":
        return im
    return Image.fromarray(np.asarray(im.convert("L"), dtype=np.float32) / 255.0)


def _as_pil(image, name):
    if isinstance(image, (str, os.PathLike)):
        return _open(image)
    if isinstance(image, Image.Image):
        return image
    if isinstance(image, np.ndarray):
        return _from_array(image, name)
    raise DataError(f"{name}: not an image (a {type(image).__name__}; give a path, a PIL image or an array)")


def _open(path):
    """Pillow's image, decoded; every reader failure is a DataError naming the file."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DataError(f"{path}: no such image file")
    try:
        with Image.open(path) as im:
            im.load()
            return im.copy()
    except Image.DecompressionBombError as e:  # a small file that decodes to a huge picture
        raise DataError(f"{path}: refused, too large to decode ({e})") from None
    except Exception as e:  # Pillow's decoders raise OSError, SyntaxError, ValueError, struct.error, ...
        raise DataError(f"{path}: not an image Pillow can read ({type(e).__name__}: {e})") from None


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


def image_name(image, index):
    """What to call an image in messages and results: its path, or its position."""
    if isinstance(image, (str, os.PathLike)):
        return os.fspath(image)
    return f"<image {index}>"
