"""The 2-D test surfaces of ``paddle-mnist paths`` (the course's figure 3): formulas and what each teaches.

Each formula is written with ``+``, ``-``, ``*`` (and ``sin``) only, so the same function runs on Paddle
tensors (the runner steps the real optimizers on it, with autograd's gradient) and on numpy arrays
(the figures draw its contour map without importing Paddle). Products, not ``**``: Paddle's pow
kernel rounds differently in its vectorised and scalar code, so ``x ** 2`` over a batch of points is
not always ``x ** 2`` of each point alone (products are exact).
"""

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Surface:
    """A 2-D test surface: its formula and what the figure needs to teach with it."""

    name: str
    formula: str   # mathtext, shown in the figure
    fn: object     # f(x, y) on Paddle tensors or numpy arrays of any (equal) shape
    start: tuple   # a default start that teaches something
    box: tuple     # (xmin, xmax, ymin, ymax): the plot, and where a path must stay
    minima: tuple  # the global minima
    f_star: float  # f at the minima
    saddles: tuple = ()
    steps: int = 100  # default number of steps: enough for the lesson to show
    lesson: str = ""


def _sin(x):
    """sin of a Paddle tensor (its own method: autograd follows it) or of a numpy array."""
    return x.sin() if hasattr(x, "sin") else np.sin(x)


def _ravine(x, y):
    return x * x / 20 + y * y


def _saddle(x, y):
    x2 = x * x
    return x2 * x2 / 4 - x2 / 2 + y * y / 2


def _rosenbrock(x, y):
    a, b = 1 - x, y - x * x
    return a * a + 100 * b * b


def _beale(x, y):
    a = 1.5 - x + x * y
    b = 2.25 - x + x * y * y
    c = 2.625 - x + x * y * y * y
    return a * a + b * b + c * c


def _rastrigin(x, y):
    # 10 - 10 cos 2πx = 20 sin²πx: the same function, and Paddle 2.6 has second derivatives of sin
    # (for the Hessian) but not of cos
    sx, sy = _sin(math.pi * x), _sin(math.pi * y)
    return x * x + y * y + 20 * (sx * sx + sy * sy)


SURFACES = {
    "ravine": Surface("ravine", r"$f = x^2/20 + y^2$", _ravine, (-7.0, 2.0), (-10.0, 10.0, -5.0, 5.0),
                      ((0.0, 0.0),), 0.0,
                      lesson="an elongated bowl: one lr for both directions is too small along x, "
                             "too large across y, and SGD zig-zags"),
    "saddle": Surface("saddle", r"$f = x^4/4 - x^2/2 + y^2/2$", _saddle, (0.0, 1.0), (-2.0, 2.0, -1.5, 1.5),
                      ((-1.0, 0.0), (1.0, 0.0)), -0.25, saddles=((0.0, 0.0),),
                      lesson="from (0, 1) exact gradients lead into the saddle and stop there; "
                             "gradient noise (mini-batches) lets the path fall off it"),
    "rosenbrock": Surface("rosenbrock", r"$f = (1-x)^2 + 100\,(y-x^2)^2$", _rosenbrock, (-2.0, 2.0),
                          (-2.5, 2.5, -1.5, 4.5), ((1.0, 1.0),), 0.0, steps=500,
                          lesson="a curved, flat-bottomed valley: finding it is easy, following it is slow"),
    "beale": Surface("beale", r"$f = (1.5-x+xy)^2 + (2.25-x+xy^2)^2 + (2.625-x+xy^3)^2$", _beale,
                     (2.0, 2.5), (-4.5, 4.5, -4.5, 4.5), ((3.0, 0.5),), 0.0, steps=200,
                     lesson="a steep wall above a curved valley, and a plateau near x = 0 (f = 14.2 on the "
                            "line x = 0 itself): momentum gathered on the wall carries the path across the "
                            "valley onto the plateau, where the gradient is too weak to bring it back"),
    "rastrigin": Surface("rastrigin", r"$f = 20 + x^2 - 10\cos 2\pi x + y^2 - 10\cos 2\pi y$", _rastrigin,
                         (-2.0, 3.5), (-4.5, 4.5, -4.5, 4.5), ((0.0, 0.0),), 0.0,
                         lesson="a bowl covered in local minima: every optimizer stops in one"),
}


def surface_values(surface, points):
    """f at points [..., 2] in float64 (numpy); non-finite points give NaN."""
    points = np.asarray(points, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        xy = np.where(np.isfinite(points), points, np.nan)
        return np.asarray(surface.fn(xy[..., 0], xy[..., 1]), dtype=float)
