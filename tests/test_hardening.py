"""Hostile and unlucky calls through the real command line (issue 25): each ends with its exit code,
one stderr line naming the flag or file and the fault, and a folder holding only what it should.

One class per mechanism: lost evaluations, an address where something else answers, options
checked late, foreign weights, errors naming the wrong thing, unbounded readers, doctor, lr-find.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import run_cli
from paddle_mnist.runners.compare import compare
from paddle_mnist.runners.train import TrainConfig, train
from paddle_mnist.schemas.run import is_finished

SWEEP = ["compare", "--optimizers", "sgd,adam", "--lrs", "0.1", "--epochs", "2", "--data", "synthetic",
         "--no-plot", "--quiet"]


def one_error_line(proc, *words):
    """The command failed with exactly one stderr line that holds every one of `words`."""
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 1, (proc.returncode, proc.stderr[-2000:])
    assert len(lines) == 1 and lines[0].startswith("paddle-mnist: error: "), proc.stderr[-2000:]
    for word in words:
        assert word in lines[0], (word, lines[0])
    assert "Traceback" not in proc.stderr
    return lines[0]


def records_of(out):
    runs = Path(out) / "runs"
    return {d.name: json.loads((d / "record.json").read_text())
            for d in (runs.iterdir() if runs.exists() else []) if (d / "record.json").exists()}


def no_finished_run_without_eval(out):
    for name, r in records_of(out).items():
        if r["status"] in ("completed", "stopped_early"):
            assert r["eval"] is not None and r["eval"]["acc"] is not None, f"{name}: {r['status']} without eval"


# ---------------------------------------------------------------------------------------------
# 1. a run is never marked finished before its evaluation is written

class StopAfterLastEpoch(Exception):
    pass


@pytest.mark.slow
@pytest.mark.parametrize("patience", [None, 1])
def test_a_run_is_running_until_its_eval_is_written(tmp_path, patience):
    """Killed right after its last epoch's files (before the eval split is scored), the record says
    "running", and the rerun of a sweep resumes it and writes its eval result."""
    out = tmp_path / "sweep" / "runs" / "sgd-lr0.1"
    config = TrainConfig(optimizer="sgd", lr=0.1, epochs=2, batch_size=100, data="synthetic",
                         out=str(out), patience=patience)

    def stop_when_done(folder):
        record = json.loads((Path(folder) / "record.json").read_text())
        if len(record["epochs"]) == 2:
            raise StopAfterLastEpoch

    with pytest.raises(StopAfterLastEpoch):
        train(config, progress=False, name="sgd-lr0.1", on_save=stop_when_done)
    record = json.loads((out / "record.json").read_text())
    assert record["status"] == "running" and record["eval"] is None and len(record["epochs"]) == 2
    assert not is_finished(record)
    result = compare(["sgd"], [0.1], epochs=2, batch_size=100, data="synthetic", out=str(tmp_path / "sweep"),
                     progress=False, jobs=1, patience=patience)
    assert result["skipped"] == 0
    (done,) = result["records"]
    assert done["status"] in ("completed", "stopped_early") and done["eval"]["acc"] > 0
    assert len(done["steps"]["loss"]) == len(record["steps"]["loss"])  # resumed, not trained again


@pytest.mark.slow
def test_a_completed_record_without_eval_is_finished_by_the_rerun(tmp_path):
    """A record left by the older order ("completed", eval null) is not skipped: the rerun resumes
    it from its checkpoint and scores the eval split, with no epoch trained again."""
    out = tmp_path / "c"
    assert run_cli(*SWEEP, "--jobs", "1", "--out", out, cwd=tmp_path).returncode == 0
    before = records_of(out)
    path = out / "runs" / "adam-lr0.1" / "record.json"
    path.write_text(json.dumps(dict(before["adam-lr0.1"], eval=None)))
    proc = run_cli(*SWEEP, "--jobs", "1", "--out", out, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "1 finished run(s) skipped" in proc.stdout
    after = records_of(out)
    assert after["adam-lr0.1"]["eval"] == before["adam-lr0.1"]["eval"]
    assert after["adam-lr0.1"]["steps"] == before["adam-lr0.1"]["steps"]


def _sigterm_sweep(out, cwd, when):
    """Start the sweep, send SIGTERM once `when(out, seconds)` says so, wait for its exit code."""
    proc = subprocess.Popen([sys.executable, "-m", "paddle_mnist", *SWEEP, "--jobs", "2", "--out", str(out)],
                            cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    start = time.monotonic()
    while proc.poll() is None and not when(out, time.monotonic() - start):
        time.sleep(0.02)
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    return proc.returncode, err


def _after(seconds):
    return lambda out, elapsed: elapsed >= seconds


def _last_epoch_written(out, elapsed):
    return any(len(r["epochs"]) == 2 for r in records_of(out).values())


def _first_epoch_written(out, elapsed):
    return bool(records_of(out))


def _sweep_started(out, elapsed):
    return (Path(out) / "manifest.json").exists()  # the runs are being handed to the workers


def _one_run_finished(out, elapsed):
    return any(r["status"] == "completed" for r in records_of(out).values())


@pytest.mark.slow
@pytest.mark.parametrize("when", [_after(4), _sweep_started, _first_epoch_written, _last_epoch_written,
                                  _one_run_finished],
                         ids=["4s", "sweep-started", "first-epoch", "last-epoch", "one-run-finished"])
def test_sigterm_at_any_point_loses_no_evaluation(tmp_path, when):
    """SIGTERM a two-run local sweep at some point; no run is left finished without its eval, and the
    rerun finishes every run with its eval result (and skips only runs that were finished)."""
    out = tmp_path / "c"
    code, err = _sigterm_sweep(out, tmp_path, when)
    assert code in (0, 130, -signal.SIGTERM), err[-2000:]  # -SIGTERM: killed while Python was starting
    no_finished_run_without_eval(out)
    proc = run_cli(*SWEEP, "--jobs", "2", "--out", out, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    records = records_of(out)
    assert sorted(records) == ["adam-lr0.1", "sgd-lr0.1"]
    for name, r in records.items():
        assert r["status"] == "completed" and r["eval"]["acc"] is not None, name


# ---------------------------------------------------------------------------------------------
# 3. options checked before any work; 4. weights checked where they are read; 5. errors name what
# the user typed

@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """A linear run trained one epoch on a synthetic file of 300 training images (fewer than the
    1,000 images hessian and landscape measure by default)."""
    where = tmp_path_factory.mktemp("run")
    data = where / "small.json.gz"
    assert run_cli("data", "build", "--synthetic", "--sizes", "300,100,100", "--out", data, cwd=where).returncode == 0
    proc = run_cli("train", "--model", "linear", "--epochs", "1", "--data", data, "--out", where / "run", "--quiet",
                   cwd=where)
    assert proc.returncode == 0, proc.stderr
    return where / "run"


def files_of(folder):
    return sorted(p.name for p in Path(folder).iterdir())


@pytest.mark.parametrize("args, words", [
    (["hessian", "RUN", "--top", "10000"], ["--top", "10000", "at most 100"]),
    (["hessian", "RUN", "--bottom", "0"], ["--bottom", "not 0"]),
    (["hessian", "RUN", "--probes", "100000000"], ["--probes"]),
    (["hessian", "RUN", "--seed", "-1"], ["--seed", "-1"]),
    (["landscape", "RUN", "--seed", "-1"], ["--seed", "-1"]),
    (["hessian", "RUN", "--images", "301"], ["--images", "at most 300", "301"]),
    (["landscape", "RUN", "--images", "0"], ["--images", "not 0"]),
])
@pytest.mark.slow
def test_exploring_options_are_refused_before_any_work(small_run, args, words):
    before = files_of(small_run)
    start = time.monotonic()
    proc = run_cli(*[small_run if a == "RUN" else a for a in args], cwd=small_run.parent, timeout=120)
    one_error_line(proc, *words)
    assert time.monotonic() - start < 60
    assert files_of(small_run) == before


@pytest.mark.slow
def test_hessian_and_landscape_default_to_the_whole_small_train_split(small_run):
    """On a run with 300 training images, the default (1,000 images) becomes the whole split."""
    proc = run_cli("hessian", small_run, "--top", "1", "--bottom", "1", "--probes", "0", "--quiet",
                   cwd=small_run.parent, timeout=300)
    assert proc.returncode == 0, proc.stderr
    result = json.loads((small_run / "hessian.json").read_text())
    assert result["images"] == 300 and result["settings"]["images"] == 300
    proc = run_cli("landscape", small_run, "--range", "-1:1:3", "--quiet", cwd=small_run.parent, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((small_run / "landscape-random.json").read_text())["images"] == 300


@pytest.mark.slow
def test_a_huge_synthetic_file_is_refused_by_a_bound(tmp_path):
    out = tmp_path / "huge.json.gz"
    proc = run_cli("data", "build", "--synthetic", "--sizes", "100000000,1,1", "--out", out, cwd=tmp_path, timeout=60)
    one_error_line(proc, "--sizes", "100000000", "100000")
    proc = run_cli("data", "build", "--synthetic", "--seed", "-1", "--out", out, cwd=tmp_path, timeout=60)
    one_error_line(proc, "--seed", "-1")
    assert files_of(tmp_path) == []


@pytest.fixture(scope="module")
def foreign_weights(small_run):
    """The run's weights as NaN, as infinities, and as float16 (.safetensors each)."""
    import numpy as np
    import safetensors.numpy

    weights = safetensors.numpy.load_file(str(small_run / "best.safetensors"))
    files = {}
    for kind, change in {"nan": lambda a: np.full_like(a, np.nan), "inf": lambda a: np.full_like(a, np.inf),
                         "float16": lambda a: a.astype(np.float16)}.items():
        files[kind] = small_run.parent / f"{kind}.safetensors"
        safetensors.numpy.save_file({k: change(v) for k, v in weights.items()}, str(files[kind]))
    return files


@pytest.mark.parametrize("kind, words", [("nan", ["not finite"]), ("inf", ["not finite"]),
                                         ("float16", ["float16", "float32"])])
@pytest.mark.slow
def test_foreign_weights_are_refused_by_predict_and_export(foreign_weights, tmp_path, kind, words):
    from PIL import Image

    picture = tmp_path / "pic.png"
    Image.new("L", (28, 28), 0).save(picture)
    path = foreign_weights[kind]
    one_error_line(run_cli("predict", "--checkpoint", path, picture, cwd=tmp_path, timeout=120), str(path), *words)
    for format in ("safetensors", "jit"):
        proc = run_cli("export", "--checkpoint", path, "--out", tmp_path / format, "--format", format,
                       cwd=tmp_path, timeout=120)
        one_error_line(proc, str(path), *words)
        assert not (tmp_path / format).exists()


@pytest.mark.slow
def test_init_weights_that_cannot_be_reproduced_name_the_folder_given(small_run, tmp_path):
    import shutil

    copy = tmp_path / "copied"
    shutil.copytree(small_run, copy)
    record = json.loads((copy / "record.json").read_text())
    record["fairness"]["init_weights_sha256"] = "0" * 64  # as from another Paddle or model code
    (copy / "record.json").write_text(json.dumps(record))
    proc = run_cli("hessian", copy, "--weights", "init", cwd=tmp_path, timeout=120)
    line = one_error_line(proc, str(copy), "initial weights")
    assert f"{record['name']}:" not in line.replace(str(copy), "")


# ---------------------------------------------------------------------------------------------
# 5/6. a pipe or a device is refused at once, naming the file

@pytest.mark.slow
@pytest.mark.parametrize("command", [["data", "inspect", "PATH"], ["train", "--data", "PATH", "--epochs", "1", "--quiet"]])
def test_a_pipe_or_a_device_is_refused_naming_it(tmp_path, command):
    fifo = tmp_path / "digits.fifo"
    os.mkfifo(fifo)
    for path in (fifo, "/dev/zero"):
        start = time.monotonic()
        proc = run_cli(*[str(path) if a == "PATH" else a for a in command], cwd=tmp_path, timeout=120)
        one_error_line(proc, str(path), "not a regular file")
        assert time.monotonic() - start < 60
    assert files_of(tmp_path) == ["digits.fifo"]


# ---------------------------------------------------------------------------------------------
# 7. doctor checks what it reports

@pytest.mark.slow
def test_doctor_checks_the_cache_and_the_local_file(tmp_path):
    (tmp_path / "work" / "mnist.json.gz").mkdir(parents=True)
    cache = tmp_path / "cache-file"
    cache.write_text("not a folder")
    env = dict(os.environ, PADDLE_MNIST_CACHE=str(cache), PADDLE_MNIST_OFFLINE="1", HOME=str(tmp_path))
    proc = run_cli("doctor", "--json", cwd=tmp_path, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["data"]["default"]["source"] != "local file"  # a bare train cannot read a directory
    assert any("work/mnist.json.gz (not a file" in t for t in report["data"]["default"]["tried"])
    assert report["data"]["cache"]["problem"].startswith("not a folder")
    assert any("cache-file is not a folder" in note for note in report["notes"])
    text = run_cli("doctor", cwd=tmp_path, env=env, timeout=120).stdout
    assert "not a folder" in text and "empty" not in text


# ---------------------------------------------------------------------------------------------
# 8/9. lr-find: no suggestion where the loss never fell; SIGTERM as in train and compare

LR_FIND = ["lr-find", "--data", "synthetic", "--model", "linear", "--quiet"]


@pytest.mark.slow
@pytest.mark.parametrize("start, end", [("1e3", "1e6"), ("1e-6", "1e-5")])
def test_lr_find_suggests_nothing_when_the_loss_never_fell(tmp_path, start, end):
    out = tmp_path / "lr"
    proc = run_cli(*LR_FIND, "--start", start, "--end", end, "--steps", "20", "--out", out, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "no suggestion: the loss never fell" in proc.stdout
    assert "suggested lr" not in proc.stdout
    saved = json.loads((out / "lr_find.json").read_text())["suggestions"]
    assert saved["steepest"] is None and saved["minimum_div10"] is None and "never fell" in saved["reason"]


def test_lr_find_never_suggests_below_its_start():
    from paddle_mnist.runners.lr_find import exponential_lrs, suggest

    lrs = exponential_lrs(1e-3, 1.0, 100)
    falling = [3.0 - i / 50 for i in range(100)]  # lowest at the very end of the usable range
    s = suggest(lrs, falling, 100, start=0.5)
    assert s["minimum_div10"] is None and "below the tested range" in s["reason"]
    assert s["steepest"] >= 1e-3 and s["minimum"] >= 0.5


@pytest.mark.slow
def test_sigterm_ends_lr_find_like_train(tmp_path):
    out = tmp_path / "lr"
    proc = subprocess.Popen([sys.executable, "-m", "paddle_mnist", *LR_FIND, "--steps", "100000", "--start", "1e-9",
                             "--end", "1e-8", "--out", str(out)], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 180
    while not out.exists() and time.monotonic() < deadline:  # the folder is made once the options passed
        time.sleep(0.1)
    time.sleep(3)  # now ramping
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err[-2000:]
    assert err.strip().splitlines()[-1] == "paddle-mnist: interrupted"
    assert not out.exists()  # nothing half-written: the folder the test made is gone


@pytest.mark.slow
def test_compare_hessian_on_a_small_train_split_measures_it_whole(small_run, tmp_path):
    """compare --hessian on a file of 300 training images: no '--images' error after the training
    (compare has no such flag); every run is measured on all 300 images."""
    data = small_run.parent / "small.json.gz"
    out = tmp_path / "c"
    proc = run_cli("compare", "--optimizers", "sgd", "--lrs", "0.1", "--model", "linear", "--epochs", "1",
                   "--data", data, "--out", out, "--hessian", "--no-plot", "--quiet", cwd=tmp_path, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "--images" not in proc.stderr
    table = json.loads((out / "hessian.json").read_text())
    assert table["images"] == 300 and len(table["rows"]) == 1
