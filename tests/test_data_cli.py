"""`paddle-mnist data build|inspect`, end to end: the real command, small files, cwd in a tmp dir."""

import gzip
import hashlib
import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from paddle_mnist.core.data import load_dataset

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT / ".." / "shared" / "mnist"


def cli(*args, cwd, **env):
    e = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""), **env)
    return subprocess.run([sys.executable, "-m", "paddle_mnist", "data", *args], cwd=cwd, env=e,
                          capture_output=True, text=True, timeout=600)


def one_line_error(result, *parts):
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("paddle-mnist")]
    assert len(lines) == 1 and lines[0].startswith("paddle-mnist: error: "), result.stderr
    for part in parts:
        assert part in lines[0]


def write_idx(path, array):
    array = np.asarray(array, np.uint8)
    raw = struct.pack(">BBBB", 0, 0, 8, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()
    Path(path).write_bytes(gzip.compress(raw))


@pytest.mark.slow
def test_build_synthetic_then_inspect(tmp_path):
    r = cli("build", "--synthetic", "--sizes", "30,10,10", "--seed", "1", "--out", "s.json.gz", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "synthetic" in r.stdout and "wrote s.json.gz: train 30, valid 10, eval 10" in r.stdout
    r = cli("inspect", "s.json.gz", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["sizes"] == {"train": 30, "valid": 10, "eval": 10}
    assert summary["pixel_range"] == "0..1" and summary["format"] == "course JSON, gzipped"
    assert summary["sha256"] == hashlib.sha256((tmp_path / "s.json.gz").read_bytes()).hexdigest()
    assert [sum(summary["labels"][s]) for s in ("train", "valid", "eval")] == [30, 10, 10]
    # the file holds exactly the synthetic set of that seed
    built, generated = load_dataset(str(tmp_path / "s.json.gz")), load_dataset("synthetic", seed=1,
                                                                                 synthetic_size=(30, 10, 10))
    for name in ("train", "valid", "eval"):
        np.testing.assert_array_equal(built.split(name).images, generated.split(name).images)
        np.testing.assert_array_equal(built.split(name).labels, generated.split(name).labels)
        assert summary["labels"][name] == np.bincount(generated.split(name).labels, minlength=10).tolist()


@pytest.mark.slow
def test_build_from_idx_into_work_then_inspect_finds_it(tmp_path):
    idx = tmp_path / "idx"
    idx.mkdir()
    rng = np.random.default_rng(0)
    train, test = rng.integers(0, 256, (8, 28, 28)), rng.integers(0, 256, (6, 28, 28))
    train_labels, test_labels = np.arange(8) % 10, np.array([1, 1, 2, 3, 5, 8])
    write_idx(idx / "train-images-idx3-ubyte.gz", train)
    write_idx(idx / "train-labels-idx1-ubyte.gz", train_labels)
    write_idx(idx / "t10k-images-idx3-ubyte.gz", test)
    write_idx(idx / "t10k-labels-idx1-ubyte.gz", test_labels)
    r = cli("build", "--idx", str(idx), cwd=tmp_path)  # default --out: work/mnist.json.gz
    assert r.returncode == 0, r.stderr
    assert "valid = test[:3], eval = test[3:]" in r.stdout
    assert "wrote work/mnist.json.gz: train 8, valid 3, eval 3" in r.stdout
    r = cli("inspect", cwd=tmp_path)  # no PATH: the chain finds work/mnist.json.gz
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("source       work/mnist.json.gz")
    assert any(line.startswith("pixel range  0..1") for line in lines)
    rows = {line.split()[0]: line.split()[1:] for line in lines[-3:]}
    assert rows["train"] == ["8", "1", "1", "1", "1", "1", "1", "1", "1", "0", "0"]
    assert rows["valid"] == ["3", "0", "2", "1", "0", "0", "0", "0", "0", "0", "0"]
    assert rows["eval"] == ["3", "0", "0", "0", "1", "0", "1", "0", "0", "1", "0"]
    data = load_dataset(str(tmp_path / "work" / "mnist.json.gz"))
    np.testing.assert_array_equal(data.valid.images.reshape(3, 28, 28), (test[:3] / 255).astype(np.float32))


@pytest.mark.slow
def test_inspect_bad_file_is_one_line_exit_1(tmp_path):
    text = json.dumps([[[[0.0] * 783], [1]], [[[0.0] * 784], [2]], [[[0.0] * 784], [3]]])
    (tmp_path / "bad.json.gz").write_bytes(gzip.compress(text.encode()))
    one_line_error(cli("inspect", "bad.json.gz", cwd=tmp_path), "bad.json.gz", "train image 0 has 783 values")


@pytest.mark.slow
def test_failed_build_leaves_no_file(tmp_path):
    (tmp_path / "idx").mkdir()
    write_idx(tmp_path / "idx" / "train-images-idx3-ubyte.gz", np.zeros((2, 28, 28)))
    one_line_error(cli("build", "--idx", "idx", "--out", "out.json.gz", cwd=tmp_path), "idx", "no IDX")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["idx"]


@pytest.mark.slow
def test_inspect_without_data_says_how_to_get_some(tmp_path):
    # Paddle's cache under an empty home (matplotlib keeps its font cache where it was)
    mpl = os.environ.get("MPLCONFIGDIR") or os.path.join(os.path.expanduser("~"), ".cache", "matplotlib")
    r = cli("inspect", cwd=tmp_path, HOME=str(tmp_path), MPLCONFIGDIR=mpl)
    one_line_error(r, "no MNIST data found", "work/mnist.json.gz", "--data synthetic", "data build --idx")


@pytest.mark.slow
def test_build_from_the_real_idx_files_gives_the_shared_json(tmp_path):
    if not (SHARED / "mnist-real15k.json.gz").exists():
        pytest.skip("real digits not present (../shared/mnist)")
    r = cli("build", "--idx", str(SHARED), "--out", "real.json.gz", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "train = all 5,000 training digits, valid = test[:5,000], eval = test[5,000:]" in r.stdout
    assert "train5k-images-idx3-ubyte.gz" in r.stdout
    # the same JSON text, character for character, as the shared file made the course's way
    assert gzip.decompress((tmp_path / "real.json.gz").read_bytes()) == \
        gzip.decompress((SHARED / "mnist-real15k.json.gz").read_bytes())


def test_build_flags_that_do_not_fit_are_refused(tmp_path, monkeypatch, capsys):
    from paddle_mnist.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["data", "build", "--idx", "somewhere", "--seed", "3"]) == 1
    assert capsys.readouterr().err.strip() == ("paddle-mnist: error: --seed and --sizes go with --synthetic; "
                                               "IDX files hold their own digits")
    with pytest.raises(SystemExit) as e:  # argparse: a usage error
        main(["data", "build", "--synthetic", "--sizes", "10,0,5"])
    assert e.value.code == 2
    assert list(tmp_path.iterdir()) == []
