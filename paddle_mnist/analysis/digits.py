"""What the network saw: your image, the 28×28 input made from it, and the network's guesses.

Drawn from arrays and a prediction dict (``runners/predict.predict``'s result), so it needs no
Paddle; ``api.predict(show=DIR)`` and ``predict --show DIR`` save one PNG per image. ``lang``: "en"
or "zh" (see ``lang.py``).
"""

import numpy as np

from paddle_mnist.analysis.lang import localized, translator
from paddle_mnist.analysis.style import new_figure


@localized
def figure_seen(seen, result, original=None, preprocess="mnist", show=False, lang=None):
    """Your image (when given), the network's 28×28 input, and its ten probabilities (top 3 labelled).

    `seen`: the input array (any shape holding 28×28 values in [0, 1]); `result`: {digit, prob, probs};
    `original`: the image as read (grayscale in [0, 1]), drawn at its own aspect ratio.
    """
    tr = translator(lang)
    panels = 3 if original is not None else 2
    fig = new_figure((2.2 * panels + 0.6, 2.6), show=show)
    axes = fig.subplots(1, panels, width_ratios=[1] * (panels - 1) + [1.3])
    if original is not None:
        axes[0].imshow(original, cmap="gray", vmin=0, vmax=1, interpolation="antialiased")
        axes[0].set_title(tr("seen_yours", w=original.shape[1], h=original.shape[0]), fontsize=9)
        _frame(axes[0])
    ax_img, ax_bar = axes[-2], axes[-1]
    ax_img.imshow(np.asarray(seen).reshape(28, 28), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    how = tr("seen_mnist") if preprocess == "mnist" else tr("seen_course")
    ax_img.set_title(tr("seen_input", how=how), fontsize=9)
    _frame(ax_img)
    probs = np.asarray(result["probs"])
    top3 = np.argsort(probs)[::-1][:3]
    colours = ["tab:blue" if d in top3 else "lightgray" for d in range(10)]
    ax_bar.barh(range(10), probs, color=colours)
    ax_bar.set_yticks(range(10))
    ax_bar.invert_yaxis()
    ax_bar.set_xlim(0, 1.25)  # room for the labels right of the longest bar
    ax_bar.set_xticks([0, 0.5, 1])
    ax_bar.set_title(tr("seen_guess", digit=result["digit"], prob=result["prob"]), fontsize=10)
    ax_bar.set_xlabel(tr("seen_probability"), fontsize=8)
    ax_bar.tick_params(labelsize=7)
    for d in top3:
        ax_bar.text(probs[d] + 0.02, d, f"{probs[d]:.1%}", va="center", fontsize=7)
    return fig


def _frame(ax):
    """No ticks, but a thin frame: the image's edges stay visible on a black or white background."""
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_color("0.6")
