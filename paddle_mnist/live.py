"""Training you can watch in a notebook: one loss figure that redraws in place while runs train.

``paddle_mnist.train`` and ``paddle_mnist.compare`` use a ``LiveView`` in a Jupyter kernel (AI Studio
too): the runners hand it their step losses as they reach the host anyway (every ``FETCH_EVERY``
steps), and it redraws the figure from ``analysis.live`` through an IPython display handle, as
fastprogress does, with no ipywidgets. Each redraw replaces the last one in the same output, so
the cell ends with exactly one figure; a display that cannot show images shows its text instead.
The first frame (empty axes, "waiting for the first steps") is drawn when the view starts, before
training: the learner sees where the curves will come, and its cost, measured on this machine under
its present load, is what the next redraw is expected to cost. While training, a redraw comes at
most once a second, and only while all redraws so far, with the next one (expected to cost
``MARGIN`` times what the last did: the lines grow), stay within ``BUDGET`` of the time since the first
frame: watching does not slow training down. The final drawing, when the run has ended, is the
result figure.
Outside a notebook there is no figure: the terminal's progress bar shows the same numbers.
"""

import io
import sys
import time

from paddle_mnist.analysis.lang import check_lang
from paddle_mnist.analysis.live import curve_of, figure_live, live_text
from paddle_mnist.analysis.style import DPI

MIN_SECONDS = 1.0  # at most about one redraw a second
BUDGET = 0.02  # and no more of the time than this on redrawing
MARGIN = 1.25  # the next redraw is expected to cost this much more than the last


def in_notebook():
    """True inside a Jupyter kernel (where IPython display handles reach a notebook)."""
    ipython = sys.modules.get("IPython")  # a kernel has imported it long before us
    shell = ipython.get_ipython() if ipython is not None else None
    return shell is not None and getattr(shell, "kernel", None) is not None


class Frame:
    """One drawing of the live figure: a PNG, with its numbers as text for displays without images."""

    def __init__(self, fig, text):
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=DPI * 0.8)  # a little smaller than saved figures: quicker
        self.png, self.text = buffer.getvalue(), text

    def _repr_png_(self):
        return self.png

    def __repr__(self):
        return self.text


class LiveView:
    """The live figure of one ``train`` or ``compare`` call. Call it with ``curves`` (``compare``'s
    ``on_progress``) or use ``.run`` as ``train``'s ``on_steps``; ``close()`` draws the final state."""

    def __init__(self, lang=None, display=None, min_seconds=MIN_SECONDS, budget=BUDGET):
        if display is None:
            from IPython.display import display  # only in a notebook, where IPython is there
        self.display, self.lang = display, check_lang(lang, option="lang")
        self.min_seconds, self.budget = min_seconds, budget
        self.handle, self.curves = None, {}
        self.redraw_seconds = []  # what each redraw cost: the first frame first, the final one last
        self.redraw()  # the first frame, before training: it also measures what a redraw costs here
        self.began, self.spent = time.perf_counter(), 0.0  # redrawing's share is counted from here

    @classmethod
    def start(cls, live, lang=None):
        """The view to use: `live` True/False, or None for "in a notebook only"; None when off."""
        if live is None:
            live = in_notebook()
        return cls(lang) if live else None

    def __call__(self, curves):
        self.curves = curves
        now = time.perf_counter()
        expected = MARGIN * self.last_cost
        if now - self.last_time >= self.min_seconds and self.spent + expected <= self.budget * (now - self.began):
            self.spent += self.redraw()

    def run(self, record):
        """``train``'s on_steps: the one run of the record."""
        self({record["name"]: curve_of(record)})

    def redraw(self):
        start = time.perf_counter()
        frame = Frame(figure_live(self.curves, lang=self.lang), live_text(self.curves))
        if self.handle is None:
            self.handle = self.display(frame, display_id=True)
        else:
            self.handle.update(frame)
        self.last_time = time.perf_counter()
        self.last_cost = self.last_time - start
        self.redraw_seconds.append(self.last_cost)
        return self.last_cost

    def close(self, record=None):
        """The final drawing (with `record`: that run's final record, as ``train`` returns it)."""
        if record is not None:
            self.curves = {record["name"]: curve_of(record)}
        if self.curves:
            self.redraw()
