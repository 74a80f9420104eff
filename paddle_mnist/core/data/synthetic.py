"""A synthetic stand-in for MNIST, for trying the code without the real digits (``--data synthetic``).

Each digit is a few pen strokes (polylines in a unit box) drawn with Pillow, under a random
affine jitter (rotation, scale, shear, shift), a random pen width and a little wobble, then
with noise added. Fixed by a seed; 8-bit like MNIST (pixels are k/255). It is *not* MNIST:
everything that loads it reports it as synthetic.
"""

import numpy as np
from PIL import Image, ImageDraw

from paddle_mnist.core.data.coursejson import SPLITS
from paddle_mnist.core.checks import whole
from paddle_mnist.core.errors import ConfigError

MAX_SPLIT = 100_000  # images per synthetic split: MNIST's own splits are 60,000 and 10,000 (314 MB)

# Pen strokes of each digit: polylines with points (x, y) in a unit box, y pointing down.
_ARC = np.linspace(0, 2 * np.pi, 13)
STROKES = {
    0: [list(zip(0.5 + 0.3 * np.sin(_ARC), 0.5 - 0.42 * np.cos(_ARC)))],
    1: [[(0.35, 0.25), (0.55, 0.08), (0.55, 0.92)]],
    2: [[(0.22, 0.3), (0.35, 0.1), (0.62, 0.08), (0.76, 0.26), (0.68, 0.48), (0.22, 0.9), (0.8, 0.9)]],
    3: [[(0.22, 0.14), (0.72, 0.1), (0.45, 0.45), (0.74, 0.62), (0.62, 0.9), (0.22, 0.86)]],
    4: [[(0.62, 0.92), (0.62, 0.08), (0.18, 0.64), (0.82, 0.64)]],
    5: [[(0.76, 0.1), (0.3, 0.1), (0.26, 0.46), (0.6, 0.4), (0.77, 0.64), (0.6, 0.9), (0.22, 0.84)]],
    6: [[(0.7, 0.08), (0.36, 0.38), (0.25, 0.7), (0.45, 0.92), (0.72, 0.8), (0.7, 0.56), (0.48, 0.48),
         (0.28, 0.62)]],
    7: [[(0.18, 0.1), (0.82, 0.1), (0.4, 0.92)], [(0.38, 0.5), (0.7, 0.5)]],
    8: [list(zip(0.5 + 0.2 * np.sin(_ARC), 0.28 - 0.2 * np.cos(_ARC))),
        list(zip(0.5 + 0.26 * np.sin(_ARC), 0.7 + 0.22 * np.cos(_ARC)))],
    9: [[(0.72, 0.4), (0.5, 0.52), (0.28, 0.38), (0.36, 0.1), (0.62, 0.08), (0.72, 0.3), (0.66, 0.92)]],
}
_STROKES = {d: [np.array(s, dtype=np.float64) for s in strokes] for d, strokes in STROKES.items()}
_TO_FLOAT = (np.arange(256) / 255).astype(np.float32)  # the same pixels the real files hold: float32(k/255)
_CANVAS = 56  # drawn at twice MNIST's size, then shrunk: smooth, anti-aliased strokes


def draw_digit(digit, rng):
    """One 28x28 uint8 image of `digit`, jittered by `rng`."""
    angle, shear = rng.uniform(-0.3, 0.3), rng.uniform(-0.35, 0.35)
    sx, sy = rng.uniform(0.7, 1.05), rng.uniform(0.8, 1.05)
    cos, sin = np.cos(angle), np.sin(angle)
    matrix = np.array([[cos, -sin], [sin, cos]]) @ np.array([[sx, shear * sy], [0.0, sy]])
    shift = rng.uniform(-2.5, 2.5, size=2) + 14  # MNIST centres its digits in a 20x20 box
    img = Image.new("L", (_CANVAS, _CANVAS), 0)
    pen = ImageDraw.Draw(img)
    width = int(rng.integers(3, 7))
    for stroke in _STROKES[digit]:
        points = stroke - 0.5 + rng.normal(0, 0.025, size=stroke.shape)  # wobble
        points = (points @ matrix.T * 20 + shift) * (_CANVAS / 28)
        pen.line([tuple(p) for p in points], fill=255, width=width, joint="curve")
    return np.asarray(img.resize((28, 28), Image.BILINEAR))


def make_split(n, rng):
    """`n` digits: (float32 images [n, 1, 28, 28] in [0, 1], int64 labels [n])."""
    labels = rng.integers(0, 10, size=n)
    pixels = np.empty((n, 28, 28), np.float64)
    for i, digit in enumerate(labels):
        pixels[i] = draw_digit(int(digit), rng)
    pixels += rng.normal(0, 12, size=pixels.shape)  # sensor-like noise, in 0..255 units
    quantised = np.clip(np.rint(pixels), 0, 255).astype(np.uint8)
    images = _TO_FLOAT.take(quantised).reshape(n, 1, 28, 28)
    return images, labels.astype(np.int64)


def make_synthetic(sizes=(1000, 200, 200), seed=0):
    """{split: (images, labels)} for train/valid/eval of the given sizes.

    Each split has its own random stream ([seed, split number]), so changing one size leaves
    the other splits as they were.
    """
    if len(sizes) != 3:
        raise ConfigError(f"sizes must be three positive whole numbers TRAIN,VALID,EVAL, not {sizes!r}", "sizes")
    for n in sizes:  # bounded: a typo must not ask for hundreds of GiB (4 bytes a pixel in memory)
        whole("sizes", n, low=1, high=MAX_SPLIT)
    return {name: make_split(int(n), np.random.default_rng([seed, k]))
            for k, (name, n) in enumerate(zip(SPLITS, sizes))}
