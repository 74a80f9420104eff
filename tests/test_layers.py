"""The layers hold: import-linter's contracts (.importlinter), and what a reader can trust of every
module: at most 400 lines, functions of at most 80, imports of the package's own modules at the top."""

import ast
import os
import shutil
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

import paddle_mnist
from paddle_mnist.core.config import TrainConfig
from paddle_mnist.core.optim import OPTIMIZERS
from paddle_mnist.schemas import run as run_schema

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "paddle_mnist"
MAX_MODULE, MAX_FUNCTION = 400, 80
LONG_ON_PURPOSE = {"core/data/coursejson.py"}  # the fast parser of the course's JSON: one piece


def modules():
    return sorted(PACKAGE.rglob("*.py"))


def name_of(path):
    return path.relative_to(PACKAGE).as_posix()


def lint_imports():
    """The lint-imports next to this Python (the test extra installs it), else on PATH."""
    here = Path(sys.executable).with_name("lint-imports")
    return str(here) if here.exists() else shutil.which("lint-imports")


def test_import_linter_contracts_are_kept():
    command = lint_imports()
    if command is None:
        pytest.skip("import-linter is not installed (pip install -e '.[test]')")
    res = subprocess.run([command, "--config", str(ROOT / ".importlinter")], cwd=ROOT, capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    assert "0 broken" in res.stdout


def test_no_import_circle():
    """No module imports, through any chain, a module that imports it back (grimp: import-linter's graph)."""
    grimp = pytest.importorskip("grimp", reason="import-linter is not installed (pip install -e '.[test]')")
    graph = grimp.build_graph("paddle_mnist")
    circles = sorted({tuple(sorted((m, i))) for m in graph.modules for i in graph.find_modules_directly_imported_by(m)
                      if graph.chain_exists(imported=m, importer=i)})
    assert not circles, circles


def test_no_runner_imports_analysis_or_cli():
    """The first rule, checked without import-linter too: a runner writes files and never draws."""
    for path in (PACKAGE / "runners").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else \
                [a.name for a in node.names] if isinstance(node, ast.Import) else []
            for name in names:
                assert not name.startswith(("paddle_mnist.analysis", "paddle_mnist.cli", "paddle_mnist.api")), \
                    f"{name_of(path)}:{node.lineno} imports {name}"


def test_modules_and_functions_are_short():
    too_long = []
    for path in modules():
        text = path.read_text(encoding="utf-8")
        if len(text.splitlines()) > MAX_MODULE and name_of(path) not in LONG_ON_PURPOSE:
            too_long.append(f"{name_of(path)}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION:
                    too_long.append(f"{name_of(path)}:{node.lineno} {node.name}(): {length} lines")
    assert not too_long, "\n".join(too_long)


def test_the_packages_own_modules_are_imported_at_the_top():
    """No function-local import of paddle_mnist modules (optional extras like ray may be imported late)."""
    local = []
    for path in modules():
        for func in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(func):
                names = [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else \
                    ["paddle_mnist"] if isinstance(node, ast.ImportFrom) else \
                    [a.name for a in node.names] if isinstance(node, ast.Import) else []
                if any(name.startswith("paddle_mnist") for name in names):
                    local.append(f"{name_of(path)}:{node.lineno} in {func.name}()")
    assert not local, "\n".join(local)


def test_the_run_schema_knows_the_config_fields_without_paddle():
    """schemas/run.py repeats TrainConfig's field classes (so that the analysis side need not import
    Paddle): they must stay equal to the declarations in core/config.py and the optimizer table."""
    declared = fields(TrainConfig)
    assert run_schema.RESULT_FIELDS == tuple(f.name for f in declared if f.metadata["result"])
    assert run_schema.NOT_RESULT_FIELDS == tuple(f.name for f in declared if not f.metadata["result"])
    assert run_schema.SHORT == {f.name: f.metadata["short"] for f in declared if f.metadata["short"]}
    assert run_schema.OPTIMIZER_NAMES == tuple(OPTIMIZERS)


def test_the_analysis_side_draws_without_paddle(tmp_path):
    """Importing every analysis module loads no Paddle: a figure can be redrawn where only the
    result files are (checked in a fresh process, where nothing has imported Paddle yet)."""
    code = ("import sys, importlib, pkgutil, paddle_mnist.analysis as a\n"
            "for m in pkgutil.iter_modules(a.__path__): importlib.import_module('paddle_mnist.analysis.' + m.name)\n"
            "print('paddle' in sys.modules)")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.strip() == "False"


def test_the_public_api_is_the_composing_layer():
    """The functions that run and then draw come from api.py, whatever runner they call."""
    from_api = {name: getattr(paddle_mnist, name).__module__ for name in ("compare", "tune", "paths", "hessian",
                                                                            "landscape", "lr_find")}
    assert set(from_api.values()) == {"paddle_mnist.api"}
