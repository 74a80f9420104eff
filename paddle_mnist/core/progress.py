"""The progress bar class every command uses.

``tqdm.auto`` picks tqdm's notebook widget inside Jupyter, which needs ipywidgets; without it, it
warns "IProgress not found" and falls back to text anyway. So: the widget when ipywidgets is
installed, else the plain text bar (``tqdm.std``), with no warning.
"""

import importlib.util

if importlib.util.find_spec("ipywidgets") is not None:
    from tqdm.auto import tqdm
else:
    from tqdm.std import tqdm

__all__ = ["tqdm"]
