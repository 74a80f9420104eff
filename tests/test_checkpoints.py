"""A checkpoint never runs code: the safe loader against crafted, truncated and random files, on every
file the project writes; safetensors as a weights format; bad images and unwritable outputs."""

import json
import os
import pickle
import shlex
import shutil
import struct
import subprocess
import zlib

import numpy as np
import paddle
import pytest
import safetensors.numpy
from PIL import Image

from paddle_mnist.cli import main
from paddle_mnist.core.checkpoints import BEST_OPT, BEST_PARAMS, BEST_SAFETENSORS, LAST_CHECKPOINT, SAFE_GLOBALS, \
    load_state, save_safetensors, save_state
from paddle_mnist.core.errors import DataError
from paddle_mnist.runners.predict import export, predict
from paddle_mnist.core.model import build_model
from paddle_mnist.core.optim import OPTIMIZERS, build_optimizer
from paddle_mnist.core.schedules import build_schedule, step_after_batch, step_after_epoch
from conftest import run_cli


# the run the module's fixture trains; `train --resume` must be given the same flags
TRAIN = ("train", "--data", "synthetic", "--epochs", "2", "--optimizer", "adam", "--lr", "0.003",
         "--schedule", "step", "--quiet")


@pytest.fixture
def cli(capsys, monkeypatch, tmp_path):
    """The real CLI in this process (paddle_mnist.cli.main), run in tmp_path: faster than a new one."""
    monkeypatch.chdir(tmp_path)

    def run(*args):
        capsys.readouterr()
        code = main(list(args))
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, out, err)
    return run


def one_error_line(res):
    """The CLI's single error line (Paddle's own import-time warnings may precede it)."""
    assert "Traceback" not in res.stderr, res.stderr
    errors = [line for line in res.stderr.splitlines() if line.startswith("paddle-mnist: error:")]
    assert len(errors) == 1, res.stderr
    return errors[0]


class Payload:
    """What a hostile .pdparams carries: unpickling it runs a shell command (here: makes a file)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f"touch {shlex.quote(self.marker)}",)


def crafted(path, marker):
    """A 'state_dict' whose unpickling would create `marker`."""
    path.write_bytes(pickle.dumps({"fc.weight": Payload(marker)}, protocol=4))
    return path


def assert_same(a, b, where="state"):
    """Same nesting, keys, types and arrays (dtype, shape, bits)."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and list(a) == list(b), where
        for k in a:
            assert_same(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray) and (a.dtype, a.shape) == (b.dtype, b.shape), where
        assert a.tobytes() == b.tobytes(), where
    else:
        assert type(a) is type(b) and a == b, (where, a, b)


def snapshot(directory):
    """Every file under `directory` with its bytes: to show a refused command changed nothing."""
    return {os.path.relpath(os.path.join(d, f), directory): open(os.path.join(d, f), "rb").read()
            for d, _, files in os.walk(directory) for f in files}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A run folder written by the real CLI (2 epochs on synthetic digits) and a digit image."""
    root = tmp_path_factory.mktemp("trained")
    res = run_cli(*TRAIN, "--out", "run", cwd=root)
    assert res.returncode == 0, res.stderr
    digit = np.zeros((28, 28), np.uint8)
    digit[4:24, 13:16] = 255  # a "1"
    Image.fromarray(digit).save(root / "digit.png")
    return root


# ----------------------------------------------------------------------------- a crafted pickle


def test_the_payload_really_runs_under_plain_pickle(tmp_path):
    """The crafted file is a real attack: plain unpickling (what paddle.load does) runs it."""
    marker = tmp_path / "ran"
    pickle.loads(crafted(tmp_path / "evil.pdparams", marker).read_bytes())
    assert marker.exists()
    marker.unlink()
    with pytest.raises(DataError, match=r"evil.pdparams: refused to load: it asks for posix.system, "
                                        r"and a checkpoint cannot run code"):
        load_state(tmp_path / "evil.pdparams")
    assert not marker.exists()


@pytest.mark.slow
def test_predict_and_export_refuse_a_crafted_checkpoint(tmp_path, run, cli):
    marker = tmp_path / "ran"
    crafted(tmp_path / "evil.pdparams", marker)
    before = sorted(os.listdir(tmp_path))
    res = run_cli("predict", "--checkpoint", "evil.pdparams", str(run / "digit.png"), cwd=tmp_path)
    line = one_error_line(res)
    assert res.returncode == 1 and res.stdout == ""
    assert "evil.pdparams" in line and "posix.system" in line and "cannot run code" in line
    res = run_cli("export", "--checkpoint", "evil.pdparams", "--out", "deploy", cwd=tmp_path)
    line = one_error_line(res)
    assert res.returncode == 1 and "evil.pdparams" in line and "posix.system" in line
    res = cli("export", "--checkpoint", "evil.pdparams", "--out", "deploy", "--format", "safetensors")
    assert res.returncode == 1 and "posix.system" in one_error_line(res)
    assert not marker.exists()
    assert sorted(os.listdir(tmp_path)) == before  # no deploy/, no temporary directory


@pytest.mark.slow
def test_resume_refuses_a_crafted_last_checkpoint(tmp_path, run, cli):
    """Someone's run folder, with a last.pdckpt that would run code: `train --resume` refuses it."""
    folder = tmp_path / "sent"
    shutil.copytree(run / "run", folder)
    marker = tmp_path / "ran"
    crafted(folder / LAST_CHECKPOINT, marker)
    before = snapshot(folder)
    res = run_cli(*TRAIN, "--out", str(folder), "--resume", cwd=tmp_path)
    line = one_error_line(res)
    assert res.returncode == 1
    assert f"{folder / LAST_CHECKPOINT}: refused to load: it asks for posix.system" in line
    assert not marker.exists()
    assert snapshot(folder) == before  # record and weights untouched

    # a truncated resume point: one line too
    good = (run / "run" / LAST_CHECKPOINT).read_bytes()
    (folder / LAST_CHECKPOINT).write_bytes(good[: len(good) // 2])
    res = cli(*TRAIN, "--out", str(folder), "--resume")
    assert res.returncode == 1
    assert f"{folder / LAST_CHECKPOINT}: not a Paddle checkpoint (corrupt or truncated" in one_error_line(res)


def test_only_the_allow_list_is_looked_up(tmp_path):
    """Each global outside SAFE_GLOBALS is refused by name, as are tricks with the allowed ones."""
    cases = {
        "builtins.eval": pickle.dumps(eval),  # what paddle.save writes for a raw DenseTensor: refused
        "builtins.getattr": b"\x80\x04cbuiltins\ngetattr\n.",
        "subprocess.Popen": b"csubprocess\nPopen\n(S'true'\ntR.",  # protocol 0, as hand-written
        "_codecs.encode with codec 'rot13'": b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00aX\x05\x00\x00\x00rot13\x86R.",
    }
    for refused, data in cases.items():
        (tmp_path / "f.pdparams").write_bytes(data)
        with pytest.raises(DataError, match=f"refused to load: it asks for {refused}, "):
            load_state(tmp_path / "f.pdparams")
    # an array of Python objects can be built from allowed globals alone: not weights, refused
    save_state({"w": np.array([{"a": 1}, None], dtype=object)}, tmp_path / "objects.pdparams")
    with pytest.raises(DataError, match="objects.pdparams: not a Paddle checkpoint .*Python objects"):
        load_state(tmp_path / "objects.pdparams")
    assert ("posix", "system") not in SAFE_GLOBALS and ("builtins", "eval") not in SAFE_GLOBALS


# ----------------------------------------------------------------------------- what the project writes


def test_every_file_a_run_writes_loads_as_paddle_load_reads_it(run):
    folder = run / "run"
    assert {BEST_PARAMS, BEST_OPT, BEST_SAFETENSORS, LAST_CHECKPOINT} <= set(os.listdir(folder))
    for name in (BEST_PARAMS, BEST_OPT, LAST_CHECKPOINT):
        assert_same(load_state(folder / name), paddle.load(str(folder / name), return_numpy=True), name)
    assert (folder / BEST_SAFETENSORS).stat().st_mode == (folder / BEST_PARAMS).stat().st_mode  # usual permissions
    last = load_state(folder / LAST_CHECKPOINT)
    assert last["epoch"] == 2 and "LR_Scheduler" in last["optimizer"]
    # best.safetensors holds best.pdparams' arrays, and Paddle takes them as they are
    best = dict(sorted(load_state(folder / BEST_PARAMS).items()))  # safetensors orders keys its own way
    assert_same(dict(sorted(load_state(folder / BEST_SAFETENSORS).items())), best)
    assert_same(dict(sorted(safetensors.numpy.load_file(str(folder / BEST_SAFETENSORS)).items())), best)
    model = build_model("cnn")
    model.set_state_dict(load_state(folder / BEST_SAFETENSORS))
    assert_same(dict(sorted((k, v.numpy()) for k, v in model.state_dict().items())), best)
    opt = paddle.optimizer.Adam(0.003, parameters=model.parameters())
    opt.set_state_dict(last["optimizer"])  # accepted as numpy arrays on 2.6 and 3.x


@pytest.mark.slow
def test_compare_runs_load_through_the_safe_loader(tmp_path):
    res = run_cli("compare", "--data", "synthetic", "--optimizers", "momentum,adagrad", "--epochs", "1",
                  "--jobs", "1", "--no-plot", "--quiet", "--out", "sweep", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    files = [os.path.join(d, f) for d, _, fs in os.walk(tmp_path / "sweep") for f in fs
             if f.endswith((".pdparams", ".pdopt", ".pdckpt"))]
    assert len(files) == 6, files  # two runs, three files each
    for path in files:
        assert_same(load_state(path), paddle.load(path, return_numpy=True), path)


def test_every_optimizer_and_schedule_state_is_within_the_allow_list(tmp_path):
    """The allow-list check on whatever Paddle runs this: each optimizer this Paddle has, under a
    schedule with state (plateau behind a warmup, onecycle), at pickle protocols 2 and 4."""
    x, y = paddle.rand([8, 1, 28, 28]), paddle.randint(0, 10, [8, 1])
    checked = 0
    for name, spec in OPTIMIZERS.items():
        if not spec.available:
            continue
        for schedule, warmup in (("plateau", 2), ("onecycle", 0)):
            model = build_model("linear")
            sched = build_schedule(schedule, spec.typical_lr, epochs=2, steps_per_epoch=2, warmup_steps=warmup)
            opt = build_optimizer(name, model.parameters(), sched, weight_decay=1e-4)
            for _ in range(3):
                paddle.nn.functional.cross_entropy(model(x), y).backward()
                opt.step()
                opt.clear_grad()
                step_after_batch(sched)
            step_after_epoch(sched, 0.5)
            state = {"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 1}
            for protocol in (2, 4):
                for obj, path in ((opt.state_dict(), tmp_path / "o.pdopt"), (state, tmp_path / "c.pdckpt")):
                    paddle.save(obj, str(path), protocol=protocol)
                    assert_same(load_state(path), paddle.load(str(path), return_numpy=True), f"{name} {path}")
                    checked += 1
    assert checked >= 4 * 9  # the 9 optimizers every supported Paddle has, at least


# ----------------------------------------------------------------------------- safetensors


def test_safetensors_round_trip_predicts_the_same(tmp_path, run, cli):
    images = [str(run / "digit.png"), np.eye(28, dtype=np.float32)]
    want = predict(run / "run" / BEST_PARAMS, images)
    assert [r["probs"] for r in predict(run / "run" / BEST_SAFETENSORS, images)] == [r["probs"] for r in want]

    res = cli("export", "--checkpoint", str(run / "run" / BEST_PARAMS), "--format", "safetensors", "--out", "share")
    assert res.returncode == 0, res.stderr
    assert sorted(os.listdir(tmp_path / "share")) == ["export.json", "model.safetensors"]
    info = json.loads((tmp_path / "share" / "export.json").read_text())
    assert (info["format"], info["model"], info["files"]) == ("safetensors", "cnn", ["model.safetensors"])
    shared = tmp_path / "share" / "model.safetensors"
    assert f"predict --checkpoint {shared}" in res.stdout and "safetensors.numpy.load_file(" in res.stdout
    assert [r["probs"] for r in predict(shared, images)] == [r["probs"] for r in want]
    res = cli("predict", "--checkpoint", str(shared), str(run / "digit.png"))
    assert res.returncode == 0 and res.stdout.startswith(f"{run / 'digit.png'}: {want[0]['digit']} (")

    # a jit export into the same folder replaces the safetensors export: no stale model.* left
    export(shared, tmp_path / "share")
    info = json.loads((tmp_path / "share" / "export.json").read_text())
    assert sorted(os.listdir(tmp_path / "share")) == sorted(info["files"] + ["export.json"])
    assert "model.safetensors" not in info["files"]


def test_truncated_and_random_files_are_one_line(tmp_path, run, cli):
    rng = np.random.default_rng(0)
    params = (run / "run" / BEST_PARAMS).read_bytes()
    tensors = (run / "run" / BEST_SAFETENSORS).read_bytes()
    files = {
        "half.pdparams": (params[: len(params) // 2], "not a Paddle checkpoint (corrupt or truncated"),
        "noise.pdparams": (rng.bytes(4096), "not a Paddle checkpoint (corrupt or truncated"),
        "empty.pdparams": (b"", "not a Paddle checkpoint (corrupt or truncated"),
        "half.safetensors": (tensors[: len(tensors) // 2], "not a safetensors file (corrupt or truncated"),
        "noise.safetensors": (rng.bytes(4096), "not a safetensors file (corrupt or truncated"),
    }
    for name, (data, fault) in files.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(DataError, match=f"{name}: " + fault.replace("(", r"\(")):
            load_state(tmp_path / name)
    for name in ("half.pdparams", "noise.safetensors"):
        res = cli("predict", "--checkpoint", name, str(run / "digit.png"))
        assert res.returncode == 1 and res.stdout == ""
        assert one_error_line(res).startswith(f"paddle-mnist: error: {name}: not a ")
    # a run folder whose record.json was cut short: one line naming it
    folder = tmp_path / "cut_run"
    shutil.copytree(run / "run", folder)
    record = (folder / "record.json").read_bytes()
    (folder / "record.json").write_bytes(record[: len(record) // 2])
    res = cli("predict", "--checkpoint", "cut_run", str(run / "digit.png"))
    assert res.returncode == 1
    assert one_error_line(res).startswith(f"paddle-mnist: error: {os.path.join('cut_run', 'record.json')}: not a run record")
    # a well-formed pickle that is no resume point
    save_state({"epoch": 1}, tmp_path / LAST_CHECKPOINT)
    with pytest.raises(DataError, match="last.pdckpt: not a resume point"):
        load_state(tmp_path / LAST_CHECKPOINT)


# ----------------------------------------------------------------------------- images and outputs


def bomb_png(path, side=14000):
    """A PNG of side x side 1-bit pixels: about 24 KB on disk, 196 million pixels decoded.

    Written chunk by chunk with zlib, so making it needs no 196 MB image in memory."""
    row = bytes(1 + (side + 7) // 8)  # filter byte + one row of packed black pixels
    z = zlib.compressobj(9)
    idat = b"".join(z.compress(row) for _ in range(side)) + z.flush()

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)  # 1-bit grayscale
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


def test_image_reader_failures_are_one_line(tmp_path, run, cli):
    bomb = bomb_png(tmp_path / "bomb.png")
    assert bomb.stat().st_size < 64_000
    with pytest.raises(Image.DecompressionBombError):  # Pillow itself sees a bomb
        Image.open(bomb)
    res = cli("predict", "--checkpoint", str(run / "run"), str(run / "digit.png"), "bomb.png")
    line = one_error_line(res)
    assert res.returncode == 1 and res.stdout == ""
    assert line.startswith("paddle-mnist: error: bomb.png: refused, too large to decode (") and "196000000" in line

    good = (run / "digit.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(good[: len(good) - 30])  # header fine, pixel data cut
    res = cli("predict", "--checkpoint", str(run / "run"), "cut.png")
    assert res.returncode == 1
    assert one_error_line(res).startswith("paddle-mnist: error: cut.png: not an image Pillow can read (")


def test_unwritable_outputs_are_one_line_before_any_work(tmp_path, run, cli):
    (tmp_path / "a_file").write_text("in the way")
    before = snapshot(tmp_path)
    res = cli("export", "--checkpoint", str(run / "run"), "--out", "a_file/deploy")
    line = one_error_line(res)
    assert res.returncode == 1 and line.startswith(f"paddle-mnist: error: --out {tmp_path / 'a_file' / 'deploy'}: ")
    res = cli("export", "--checkpoint", str(run / "run"), "--out", "a_file")
    assert res.returncode == 1 and "a_file: exists and is not a directory" in one_error_line(res)
    res = cli("predict", "--checkpoint", str(run / "run"), str(run / "digit.png"), "--show", "a_file/seen")
    line = one_error_line(res)
    assert res.returncode == 1 and res.stdout == "" and line.startswith("paddle-mnist: error: --show a_file/seen: ")
    assert snapshot(tmp_path) == before  # nothing written, nothing half-written
