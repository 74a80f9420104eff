"""`paddle-mnist optimizers`: an optimizer the installed Paddle lacks stays listed, marked unavailable."""

import os
import subprocess
import sys
from pathlib import Path

import paddle
import pytest

from paddle_mnist.core import optim
from paddle_mnist.cli.optimizers import optimizers_table

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_every_optimizer_is_listed_with_its_availability(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-m", "paddle_mnist", "optimizers"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert proc.stdout.strip() == optimizers_table()
    rows = {line.split()[0]: line for line in proc.stdout.splitlines()
            if line.startswith("  ") and line.split()[0] in optim.OPTIMIZERS}
    assert sorted(rows) == sorted(optim.OPTIMIZERS)
    for name, spec in optim.OPTIMIZERS.items():
        marked = f"[unavailable: needs Paddle >= {spec.since}]" in rows[name]
        assert marked == (not spec.available), rows[name]


@pytest.mark.skipif(hasattr(paddle.optimizer, "RAdam"), reason="this Paddle has RAdam (3.x): nothing is unavailable")
def test_paddle_26_lists_what_it_lacks():
    """Paddle 2.6 has no RAdam and NAdam classes, and its Adam takes no amsgrad."""
    table = optimizers_table()
    for name in ("radam", "nadam", "amsgrad"):
        row = next(line for line in table.splitlines() if line.split()[:1] == [name])
        assert row.endswith("[unavailable: needs Paddle >= 3.0]"), row
    assert "[unavailable" not in next(line for line in table.splitlines() if line.split()[:1] == ["adam"])
