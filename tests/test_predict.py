"""predict / export: own images in, digits out; a jit-saved network gives the dygraph network's outputs."""

import gzip
import json
import os
from pathlib import Path

import numpy as np
import paddle
import pytest
from PIL import Image

from paddle_mnist import api
from paddle_mnist.analysis.digits import figure_seen
from paddle_mnist.analysis.lang import chinese_font
from paddle_mnist.cli import main
from paddle_mnist.core.checkpoints import save_safetensors
from paddle_mnist.core.errors import ConfigError, DataError
from paddle_mnist.core.model import build_model
from paddle_mnist.runners.predict import export, infer_model_name, load_checkpoint, load_image, predict
from conftest import run_cli

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT / ".." / "shared" / "mnist"
HAVE_REAL = (REAL / "train5k-images-idx3-ubyte.gz").exists() and (REAL / "t10k-images-idx3-ubyte.gz").exists()
N_TEST = 30  # real test digits written as PNG


def read_idx(images, labels):
    """IDX files → (uint8 [N, 28, 28] bright digit on black, int64 labels)."""
    x = np.frombuffer(gzip.open(REAL / images).read(), np.uint8, offset=16).reshape(-1, 28, 28)
    y = np.frombuffer(gzip.open(REAL / labels).read(), np.uint8, offset=8).astype(np.int64)
    return x, y


def synthetic_digits(n, seed=0):
    """Blocky 'digits': class k lights up a bar at row 2 + 2k, so a network can learn them."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, n)
    x = (rng.random((n, 28, 28)) * 40).astype(np.uint8)
    for i, k in enumerate(y):
        x[i, 2 + 2 * k: 4 + 2 * k, 4:24] = 255
    return x, y.astype(np.int64)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A run directory holding a cnn trained briefly (real digits when available) + test digits."""
    if HAVE_REAL:
        x, y = read_idx("train5k-images-idx3-ubyte.gz", "train5k-labels-idx1-ubyte.gz")
        xt, yt = read_idx("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
    else:
        x, y = synthetic_digits(1000, seed=1)
        xt, yt = synthetic_digits(N_TEST, seed=2)
    paddle.seed(0)
    model = build_model("cnn")
    opt = paddle.optimizer.Adam(2e-3, parameters=model.parameters())
    order = np.random.default_rng(0).permutation(len(x))
    for start in range(0, min(len(x), 3000), 50):  # 60 steps: a few seconds, ~90% on real digits
        b = order[start:start + 50]
        imgs = paddle.to_tensor(x[b, None].astype(np.float32) / 255.0)
        loss = paddle.nn.functional.cross_entropy(model(imgs), paddle.to_tensor(y[b]))
        loss.backward()
        opt.step()
        opt.clear_grad()
    model.eval()
    run = tmp_path_factory.mktemp("run")
    paddle.save(model.state_dict(), str(run / "best.pdparams"))
    (run / "record.json").write_text(json.dumps({"schema": "paddle_mnist.run/1", "config": {"model": "cnn"}}))
    return {"run": run, "model": model, "x": xt[:N_TEST], "y": yt[:N_TEST]}


def write_pngs(directory, images, invert=False):
    directory.mkdir(exist_ok=True)
    paths = []
    for i, im in enumerate(images):
        path = directory / f"digit{i:02d}.png"
        Image.fromarray(255 - im if invert else im).save(path)
        paths.append(str(path))
    return paths


@pytest.fixture(scope="module")
def jit_files(tmp_path_factory):
    """The files this Paddle's paddle.jit.save writes (3.x: model.json + model.pdiparams; 2.6:
    model.pdmodel + model.pdiparams + model.pdiparams.info): what `export` must write and name."""
    from paddle.static import InputSpec

    d = tmp_path_factory.mktemp("jit")
    paddle.jit.save(paddle.nn.Linear(2, 2), str(d / "model"), input_spec=[InputSpec([None, 2], "float32")])
    files = sorted(os.listdir(d))
    assert "model.pdiparams" in files and ("model.json" in files or "model.pdmodel" in files), files
    return files


def one_error_line(res):
    """The CLI's single error line (Paddle's own import-time warnings may precede it)."""
    assert "Traceback" not in res.stderr, res.stderr
    errors = [line for line in res.stderr.splitlines() if line.startswith("paddle-mnist: error:")]
    assert len(errors) == 1, res.stderr
    return errors[0]


# ----------------------------------------------------------------------------- load_image


def test_load_image_the_course_way_keeps_mnist_like_digits_and_inverts_drawings(tmp_path):
    # preprocess="course": the whole image resized (the MNIST way is tested in test_own_digits.py)
    digit = synthetic_digits(1, seed=3)[0][0]
    Image.fromarray(digit).save(tmp_path / "light.png")
    Image.fromarray(255 - digit).save(tmp_path / "dark.png")
    light = load_image(tmp_path / "light.png", preprocess="course")
    dark = load_image(str(tmp_path / "dark.png"), preprocess="course")
    assert light.shape == (1, 1, 28, 28) and light.dtype == np.float32
    np.testing.assert_allclose(light[0, 0], digit / 255.0, atol=1e-6)  # as is: just scaled to [0, 1]
    np.testing.assert_allclose(dark, light, atol=1e-6)  # dark-on-light turned around

    # a bigger black-on-white JPEG-like RGB drawing is resized to 28×28 and inverted
    big = np.full((112, 112, 3), 255, np.uint8)
    big[20:92, 50:62] = 0  # a thick vertical stroke: a "1"
    x = load_image(Image.fromarray(big), preprocess="course")[0, 0]
    assert x.shape == (28, 28)
    assert x[14, 14] > 0.9 and x[2, 2] < 0.05 and x[14, 3] < 0.05  # bright stroke, dark background

    # black strokes on a transparent background: composited on white, then inverted
    rgba = np.zeros((28, 28, 4), np.uint8)
    rgba[5:23, 13:15] = (0, 0, 0, 255)
    y = load_image(Image.fromarray(rgba, "RGBA"), preprocess="course")[0, 0]
    assert y[10, 13] > 0.9 and y[0, 0] < 0.05


def test_load_image_arrays_and_errors(tmp_path):
    digit = synthetic_digits(1, seed=4)[0][0]
    np.testing.assert_allclose(load_image(digit.astype(np.float32) / 255.0), load_image(digit), atol=1e-6)
    np.testing.assert_allclose(load_image(digit[None, None]), load_image(digit))
    with pytest.raises(DataError, match="in \\[0, 1\\]"):
        load_image(digit.astype(np.float32))  # 0..255 floats: ambiguous, refused
    with pytest.raises(DataError, match="2-D"):
        load_image(np.zeros((2, 3, 28, 28), np.float32))
    (tmp_path / "notes.png").write_text("not a picture")
    with pytest.raises(DataError, match="notes.png: not an image"):
        load_image(tmp_path / "notes.png")
    with pytest.raises(DataError, match="missing.png: no such image file"):
        load_image(tmp_path / "missing.png")


# ----------------------------------------------------------------------------- checkpoints


@pytest.mark.slow
def test_load_checkpoint_infers_the_model_and_rejects_mismatches(tmp_path, trained):
    for name in ("linear", "mlp"):
        paddle.save(build_model(name).state_dict(), str(tmp_path / f"{name}.pdparams"))
        net, found = load_checkpoint(tmp_path / f"{name}.pdparams")
        assert found == name and not net.training
    net, found = load_checkpoint(trained["run"])  # run directory: record.json names it
    assert found == "cnn"
    w = trained["model"].state_dict()["fc.weight"].numpy()
    np.testing.assert_array_equal(net.state_dict()["fc.weight"].numpy(), w)  # weights really loaded
    assert infer_model_name(trained["model"].state_dict()) == "cnn"

    with pytest.raises(DataError, match=r"linear.pdparams: does not fit model 'cnn': missing conv1.bias, conv1.weight"):
        load_checkpoint(tmp_path / "linear.pdparams", model="cnn")
    with pytest.raises(DataError, match=r"fc.weight has shape \[980, 10\], model wants \[784, 10\]"):
        load_checkpoint(trained["run"] / "best.pdparams", model="linear")
    with pytest.raises(ConfigError, match="unknown model 'resnet'"):
        load_checkpoint(trained["run"], model="resnet")
    (tmp_path / "junk.pdparams").write_bytes(b"\x00garbage")
    with pytest.raises(DataError, match="junk.pdparams: not a Paddle checkpoint"):
        load_checkpoint(tmp_path / "junk.pdparams")
    paddle.save({"fc.weight": paddle.zeros([3, 3])}, str(tmp_path / "odd.pdparams"))
    with pytest.raises(DataError, match="odd.pdparams: weights match none of the models"):
        load_checkpoint(tmp_path / "odd.pdparams")
    with pytest.raises(DataError, match="nowhere.pdparams: no such checkpoint"):
        load_checkpoint(tmp_path / "nowhere.pdparams")
    (tmp_path / "empty_run").mkdir()
    with pytest.raises(DataError, match="empty_run: a run directory without weights"):
        load_checkpoint(tmp_path / "empty_run")

    # the trainer's resume point (last.pdckpt) holds {"model": state_dict, ...}: its model part is used
    resume = tmp_path / "resumed_run"
    resume.mkdir()
    opt = paddle.optimizer.SGD(0.1, parameters=trained["model"].parameters())
    paddle.save({"model": trained["model"].state_dict(), "optimizer": opt.state_dict(), "epoch": 1},
                str(resume / "last.pdckpt"))
    assert load_checkpoint(resume)[1] == "cnn"
    # a .safetensors file (weights alone) is a checkpoint too; a run's best.safetensors is used
    save_safetensors(trained["model"].state_dict(), tmp_path / "shared.safetensors")
    net, found = load_checkpoint(tmp_path / "shared.safetensors")
    assert found == "cnn"
    np.testing.assert_array_equal(net.state_dict()["fc.weight"].numpy(), w)


# ----------------------------------------------------------------------------- predict


def test_predict_real_digits_as_they_are_and_inverted(tmp_path, trained):
    plain = write_pngs(tmp_path / "plain", trained["x"])
    drawn = write_pngs(tmp_path / "drawn", trained["x"], invert=True)  # black on white, like a drawing
    r_plain, r_drawn = predict(trained["run"], plain), predict(trained["run"], drawn)
    assert [r["file"] for r in r_plain] == plain
    for r in r_plain + r_drawn:
        assert abs(sum(r["probs"]) - 1) < 1e-4 and r["prob"] == max(r["probs"])
        assert r["digit"] == int(np.argmax(r["probs"]))
    digits_plain = np.array([r["digit"] for r in r_plain])
    digits_drawn = np.array([r["digit"] for r in r_drawn])
    assert (digits_plain == digits_drawn).all()  # inversion detected: the network sees the same input
    accuracy = (digits_plain == trained["y"]).mean()
    if not HAVE_REAL:
        pytest.skip(f"no real MNIST under {REAL}: accuracy not checked (synthetic: {accuracy:.0%})")
    assert accuracy >= 0.8, accuracy


def test_predict_accepts_paths_pil_images_and_arrays(tmp_path, trained):
    digit = trained["x"][0]
    path = write_pngs(tmp_path, [digit])[0]
    results = predict(trained["model"], [path, Image.open(path), digit, digit / 255.0])
    assert [r["file"] for r in results] == [path, "<image 1>", "<image 2>", "<image 3>"]
    for r in results[1:]:
        np.testing.assert_allclose(r["probs"], results[0]["probs"], atol=1e-5)
    assert predict(trained["model"], []) == []


def test_predict_show_saves_what_the_network_saw_in_the_language_asked(tmp_path, trained, monkeypatch):
    """api.predict(show=DIR, lang=...) and `predict --show DIR --lang zh` (in-process): one figure
    per image, named by its file's stem, drawn in the language asked; without show nothing is drawn."""
    drawn = []
    monkeypatch.setattr(api, "figure_seen", lambda *a, **k: drawn.append(k["lang"]) or figure_seen(*a, **k))
    monkeypatch.delenv("PADDLE_MNIST_LANG", raising=False)
    path = write_pngs(tmp_path / "imgs", trained["x"][:1])[0]
    results = api.predict(trained["run"], [path, path, trained["x"][1]], show=str(tmp_path / "seen"), lang="en")
    assert [os.path.basename(r["seen"]) for r in results] == ["digit00.png", "digit00-1.png", "image2.png"]
    assert [r["digit"] for r in results] == [r["digit"] for r in predict(trained["run"], [path, path, trained["x"][1]])]
    with Image.open(results[0]["seen"]) as im:
        assert im.format == "PNG"
    assert drawn == ["en"] * 3
    assert "seen" not in api.predict(trained["model"], path)[0] and len(drawn) == 3  # nothing drawn
    with pytest.raises(ConfigError, match="^lang: unknown language 'fr'"):
        api.predict(trained["run"], path, show=str(tmp_path / "never"), lang="fr")
    assert not (tmp_path / "never").exists()  # refused before anything was written
    try:
        chinese_font()
    except ConfigError:
        pytest.skip('no Chinese font here (pip install "paddle_mnist[zh]")')
    assert main(["predict", "--checkpoint", str(trained["run"]), path, "--show", str(tmp_path / "zh"),
                 "--lang", "zh"]) == 0
    assert drawn[-1] == "zh" and os.listdir(tmp_path / "zh") == ["digit00.png"]


@pytest.mark.slow
def test_cli_predict_prints_one_line_per_image_and_shows(tmp_path, trained):
    paths = write_pngs(tmp_path / "imgs", trained["x"][:3])
    expected = predict(trained["run"], paths)
    res = run_cli("predict", "--checkpoint", str(trained["run"]), *paths, "--show", "seen", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.strip().splitlines()
    assert len(lines) == 3
    for line, r in zip(lines, expected):
        assert line.startswith(f"{r['file']}: {r['digit']} (")
    shown = sorted(os.listdir(tmp_path / "seen"))
    assert shown == ["digit00.png", "digit01.png", "digit02.png"]
    with Image.open(tmp_path / "seen" / "digit00.png") as im:
        assert im.format == "PNG" and im.size[0] >= 4 * 28

    (tmp_path / "notes.png").write_text("not a picture")
    res = run_cli("predict", "--checkpoint", str(trained["run"]), paths[0], "notes.png", cwd=tmp_path)
    assert res.returncode == 1 and res.stdout == ""
    assert "notes.png: not an image" in one_error_line(res)


# ----------------------------------------------------------------------------- export


def test_export_matches_the_dygraph_network(tmp_path, trained, jit_files):
    files = export(trained["run"], tmp_path / "exported")
    names = sorted(os.path.basename(f) for f in files)
    assert names == sorted(["export.json"] + jit_files)  # what this Paddle writes (3.x: model.json, PIR)
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")]  # no temporary directory left
    meta = json.loads((tmp_path / "exported" / "export.json").read_text())
    assert meta["model"] == "cnn" and meta["input"]["shape"] == [None, 1, 28, 28]
    program = "model.json" if "model.json" in jit_files else "model.pdmodel"
    assert (meta["format"], meta["program"], meta["params"]) == (
        "pir" if program == "model.json" else "program", program, "model.pdiparams")
    assert meta["files"] == sorted(jit_files)

    loaded = paddle.jit.load(str(tmp_path / "exported" / "model"))
    loaded.eval()
    x_all = trained["x"][:7, None].astype(np.float32) / 255.0
    for n in (1, 7):  # dynamic batch
        x = paddle.to_tensor(x_all[:n])
        with paddle.no_grad():
            want = trained["model"](x).numpy()
            got = loaded(x).numpy()
        assert got.shape == (n, 10)
        np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5)

    # Paddle Inference (the deployment API) runs the same files with the CPU wheel
    from paddle import inference

    config = inference.Config(str(tmp_path / "exported" / meta["program"]),
                              str(tmp_path / "exported" / meta["params"]))
    config.disable_gpu()
    config.disable_glog_info()
    predictor = inference.create_predictor(config)
    assert predictor.get_input_names() == ["image"]
    for n in (1, 7):
        handle = predictor.get_input_handle("image")
        handle.reshape([n, 1, 28, 28])
        handle.copy_from_cpu(x_all[:n])
        predictor.run()
        got = predictor.get_output_handle(predictor.get_output_names()[0]).copy_to_cpu()
        with paddle.no_grad():
            want = trained["model"](paddle.to_tensor(x_all[:n])).numpy()
        np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5)


@pytest.mark.slow
def test_cli_export_writes_atomically_and_says_how_to_load(tmp_path, trained, jit_files):
    res = run_cli("export", "--checkpoint", str(trained["run"]), "--out", "deploy", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    program = "model.json" if "model.json" in jit_files else "model.pdmodel"
    deploy = tmp_path / "deploy"
    for f in jit_files + ["export.json"]:  # the files it actually wrote
        assert f"  {deploy / f}\n" in res.stdout, res.stdout
    assert f"paddle.jit.load({str(deploy / 'model')!r})" in res.stdout
    assert f"paddle.inference.Config({str(deploy / program)!r}, {str(deploy / 'model.pdiparams')!r})" in res.stdout
    # exporting again into the same directory replaces the files (another model this time)
    paddle.save(build_model("linear").state_dict(), str(tmp_path / "linear.pdparams"))
    export(tmp_path / "linear.pdparams", tmp_path / "deploy")
    assert json.loads((tmp_path / "deploy" / "export.json").read_text())["model"] == "linear"
    assert sorted(os.listdir(tmp_path / "deploy")) == sorted(["export.json"] + jit_files)
    assert paddle.jit.load(str(tmp_path / "deploy" / "model"))(paddle.zeros([2, 1, 28, 28])).shape == [2, 10]
    # a bad checkpoint: one line, exit 1, and no directory (or temporary one) left behind
    (tmp_path / "junk.pdparams").write_bytes(b"junk")
    res = run_cli("export", "--checkpoint", "junk.pdparams", "--out", "nothing", cwd=tmp_path)
    assert res.returncode == 1 and "junk.pdparams: not a Paddle checkpoint" in one_error_line(res)
    assert sorted(os.listdir(tmp_path)) == ["deploy", "junk.pdparams", "linear.pdparams"]
