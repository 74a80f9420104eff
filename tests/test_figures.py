"""What every figure shares: each optimizer's own look (colour and marker), figures in Chinese."""

import itertools

from matplotlib.colors import to_rgb

from paddle_mnist.analysis.style import OPTIMIZER_STYLES, dodge, optimizer_styles
from paddle_mnist.core.optim import OPTIMIZERS


def test_every_optimizer_has_its_own_colour_and_marker():
    assert set(OPTIMIZER_STYLES) == set(OPTIMIZERS)
    colours = [c for c, _ in OPTIMIZER_STYLES.values()]
    markers = [m for _, m in OPTIMIZER_STYLES.values()]
    assert len(set(colours)) == len(colours) == 12 and len(set(markers)) == len(markers)
    for a, b in itertools.combinations(colours, 2):  # no two colours nearly the same
        assert sum(abs(x - y) for x, y in zip(to_rgb(a), to_rgb(b))) > 0.25, (a, b)
    assert not {"x", "X", "*"} & set(markers)  # kept for diverged, saddle and chosen marks
    # Adam and RAdam were two greens: now blue and rose
    assert OPTIMIZER_STYLES["adam"] != OPTIMIZER_STYLES["radam"]
    # a name outside the table still gets a look, not an error
    assert optimizer_styles(["sgd", "lion"])["lion"] not in OPTIMIZER_STYLES.values()


def test_dodge_moves_tied_points_apart_symmetrically():
    left, right = dodge([0.01], 0, 2), dodge([0.01], 1, 2)
    assert left[0] < 0.01 < right[0] and abs(left[0] * right[0] - 1e-4) < 1e-12
    assert dodge([0.01, 0.1], 0, 1) == [0.01, 0.1]
