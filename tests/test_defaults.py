"""Defaults a learner meets first: `train` without --lr uses the optimizer's usual lr (and says so);
`compare` without --lrs keeps the course's lr 0.01; explicit-lr runs keep their config ids."""

import hashlib
import json
from dataclasses import asdict

import pytest

from paddle_mnist.core.config import (COURSE_LR, RESULT_FIELDS, TrainConfig, config_id, lr_default_note, resolve_lr,
                                      run_name)
from paddle_mnist.core.errors import ConfigError
from paddle_mnist.core.optim import OPTIMIZERS
from paddle_mnist.runners.compare import COURSE_EXPERIMENTS, build_grids
from conftest import run_cli


@pytest.mark.slow
def test_train_without_lr_uses_the_usual_lr_and_says_so(tmp_path):
    out = tmp_path / "ada"
    proc = run_cli("train", "--optimizer", "adadelta", "--epochs", "1", "--data", "synthetic", "--out", out,
                   "--quiet", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    first = proc.stdout.splitlines()[0]
    assert first.startswith("lr 1: adadelta's usual learning rate (no --lr given")
    record = json.loads((out / "record.json").read_text())
    assert record["config"]["lr"] == 1.0 == OPTIMIZERS["adadelta"].typical_lr
    assert record["steps"]["lr"][0] == 1.0  # the optimizer really ran at it
    assert "usual learning rate" in record["defaults"]["lr"]
    # the same run as naming the lr: same id
    assert record["config_id"] == config_id(TrainConfig(optimizer="adadelta", lr=1.0, epochs=1, data="synthetic"))


def test_an_explicit_lr_says_nothing_and_keeps_its_config_id():
    explicit = TrainConfig(optimizer="adam", lr=0.01)
    assert lr_default_note(explicit) is None and resolve_lr(explicit) is explicit
    # the id is the hash of its result fields exactly as given, as before the usual-lr default existed
    # (the rule of config_id; a fixed hex string would also change whenever a result field is added)
    given = {k: v for k, v in asdict(explicit).items() if k in RESULT_FIELDS}
    assert config_id(explicit) == hashlib.sha256(json.dumps(given, sort_keys=True).encode()).hexdigest()[:16]
    assert run_name(TrainConfig(optimizer="sgd")) == "sgd-lr0.1-s0"


def test_unknown_optimizer_without_lr_names_the_flag():
    with pytest.raises(ConfigError, match="--optimizer"):
        config_id(TrainConfig(optimizer="adamm"))


def test_compare_without_lrs_keeps_the_course_lr():
    assert build_grids() == COURSE_EXPERIMENTS
    assert COURSE_EXPERIMENTS[0]["lr"] == [COURSE_LR] == [0.01]
    # --optimizers without --lrs: no lr axis, so compare() fills in the course's lr (see its test below)
    assert "lr" not in build_grids(optimizers=["adam"])[0]


@pytest.mark.slow
def test_compare_optimizers_without_lrs_runs_at_the_course_lr(tmp_path):
    proc = run_cli("compare", "--optimizers", "adadelta", "--epochs", "1", "--data", "synthetic", "--out",
                   tmp_path / "sweep", "--no-plot", "--quiet", "--jobs", "1", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    (record_path,) = (tmp_path / "sweep" / "runs").glob("*/record.json")
    record = json.loads(record_path.read_text())
    assert record["config"]["lr"] == COURSE_LR and record["defaults"] == {}
