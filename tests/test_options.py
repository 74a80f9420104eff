"""Each tool's options are declared once (core/options.py): the command's flags, their defaults and
the checks all come from its frozen dataclass; a bad value names the argument from Python and the
flag on the command line."""

import argparse
import dataclasses

import pytest

from paddle_mnist.api import hessian, landscape, lr_find, paths, tune
from paddle_mnist.cli import build_parser, main
from paddle_mnist.core.config import TrainConfig
from paddle_mnist.core.errors import ConfigError
from paddle_mnist.core.options import flag_of, has_flag
from paddle_mnist.runners.hessian import HessianOptions
from paddle_mnist.runners.landscape import LandscapeOptions
from paddle_mnist.runners.lr_find import LrFindOptions
from paddle_mnist.runners.paths import PathsOptions
from paddle_mnist.runners.tune import TuneOptions

DRAWING = {"--format", "--lang", "--quiet"}
EXECUTOR = {"--executor", "--ray-address", "--cpus-per-run", "--gpus-per-run"}
# the TrainConfig flags every tune run shares (tune chooses optimizer and lr; epochs, seed, data are its own)
SHARED_BY_TUNE = {flag_of(f) for f in dataclasses.fields(TrainConfig)
                  if f.name not in ("optimizer", "lr", "epochs", "seed", "data", "out", "resume")}

# command, its options, what else it has (the figures' flags, ...), its positional arguments
TOOLS = [
    ("hessian", HessianOptions, DRAWING, ["RUN"]),
    ("landscape", LandscapeOptions, DRAWING, ["RUN"]),
    ("lr-find", LrFindOptions, {"--quiet", "--lang"}, []),
    ("paths", PathsOptions, DRAWING | {"--animate"}, []),
    ("tune", TuneOptions, DRAWING | {"--no-plot"} | EXECUTOR | SHARED_BY_TUNE, []),
]


def _subparser(command):
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[command]


@pytest.mark.parametrize("command, options, others, positional", TOOLS, ids=[t[0] for t in TOOLS])
def test_the_flags_are_the_options_fields(command, options, others, positional):
    parser = _subparser(command)
    flags = {max(a.option_strings, key=len) for a in parser._actions if a.option_strings} - {"--help"}
    declared = {flag_of(f) for f in dataclasses.fields(options) if has_flag(f)}
    assert flags == declared | others
    assert not declared & others
    # each flag's default is the field's (a repeated flag starts as an empty list)
    args = parser.parse_args(positional)
    for f in dataclasses.fields(options):
        if has_flag(f):
            assert getattr(args, f.name) == ([] if f.metadata["repeat"] else f.default), f.name


@pytest.mark.parametrize("options", [t[1] for t in TOOLS], ids=[t[0] for t in TOOLS])
def test_the_options_are_frozen(options):
    made = options()
    first = dataclasses.fields(options)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(made, first, None)


@pytest.fixture
def run_folder(tmp_path):
    """A folder the command line takes for a run (it has a record file); never read: the options fail first,
    and nothing is written, neither there nor in an --out below it."""
    (tmp_path / "record.json").write_text("{}")
    return tmp_path


# command line, Python call, the argument and its flag
BAD = [
    (["hessian", "{run}", "--top", "0"], lambda run: hessian(run, top=0), "top", "--top"),
    (["landscape", "{run}", "--range", "1:-1:5"], lambda run: landscape(run, span="1:-1:5"), "span", "--range"),
    (["lr-find", "--out", "{out}", "--steps", "3"], lambda run: lr_find(steps=3), "steps", "--steps"),
    (["paths", "--out", "{out}", "--noise", "-1"], lambda run: paths(noise=-1.0), "noise", "--noise"),
    (["tune", "--out", "{out}", "--final-seeds", "0"], lambda run: tune(final_seeds=0), "final_seeds",
     "--final-seeds"),
]


@pytest.mark.parametrize("argv, call, argument, flag", BAD, ids=[b[0][0] for b in BAD])
def test_a_bad_value_names_the_argument_in_python_and_the_flag_on_the_command_line(
        argv, call, argument, flag, run_folder, capsys):
    with pytest.raises(ConfigError) as e:
        call(str(run_folder))
    assert str(e.value).startswith(f"{argument} must be ") and e.value.option == argument
    out = run_folder / "out"
    assert main([a.format(run=run_folder, out=out) for a in argv] + ["--quiet"]) == 1
    err = capsys.readouterr().err
    assert err == f"paddle-mnist: error: {flag}{str(e.value)[len(argument):]}\n"
    assert not out.exists() and sorted(p.name for p in run_folder.iterdir()) == ["record.json"]


def test_none_for_keyword_overrides_means_none():
    """lr_find(opt_args=None), paths(opt=None), tune(executor_options=None): an empty mapping, checked."""
    assert LrFindOptions(opt_args=None).opt_args == PathsOptions(opt=None).opt == {}
    assert TuneOptions(executor_options=None).executor_options == {}
    with pytest.raises(ConfigError, match="^opt_args must be a mapping of key=value"):
        LrFindOptions(opt_args=["momentum=0.5"])
