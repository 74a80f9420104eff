"""Loss-landscape slices: the identities every slice must satisfy, filter normalisation, the JSON
holding every value (and redrawing the figure), and bad input as one line."""

import json
import os

import numpy as np
import paddle
import pytest
from matplotlib.figure import Figure

from paddle_mnist.analysis.hessian import figure_landscape, figure_slices
from paddle_mnist.cli import main
from paddle_mnist.core.loss import build_loss
from paddle_mnist.core.model import build_model
from paddle_mnist.api import landscape
from paddle_mnist.runners.landscape import filter_normalised_direction, parse_span
from paddle_mnist.runners.runpoint import load_run
from paddle_mnist.runners.train import TrainConfig, train

IMAGES = 200


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    out = {}
    for name, epochs in (("linear", 2), ("cnn", 1)):
        record = train(TrainConfig(model=name, optimizer="adam", lr=0.003, epochs=epochs, data="synthetic",
                                   out=str(root / name)), progress=False)
        assert record["status"] == "completed"
        out[name] = str(root / name)
    return out


def direct_loss(model, run):
    """The loss on the subset computed without the slices module: one forward pass, the run's loss."""
    with paddle.no_grad():
        logits = model(paddle.to_tensor(run.images))
        return float(build_loss(run.record["config"]["loss"])(logits, paddle.to_tensor(run.labels.reshape(-1, 1))))


def initial(record):
    with paddle.utils.unique_name.guard():
        paddle.seed(record["config"]["seed"])
        return build_model(record["config"]["model"])


@pytest.mark.slow
@pytest.mark.parametrize("model_name", ["linear", "cnn"])
def test_random_slice_at_zero_is_the_trained_loss(runs, model_name):
    run = load_run(runs[model_name], images=IMAGES)
    r = landscape(runs[model_name], "random", span="-1:1:5", images=IMAGES, progress=False)
    trained = direct_loss(run.model, run)
    assert r["alphas"][2] == 0.0
    assert r["loss"][2] == pytest.approx(trained, rel=1e-5)
    assert r["centre"]["loss"] == pytest.approx(trained, rel=1e-5)
    assert max(r["loss"]) > trained  # a step of a filter's own size is felt


def test_interpolation_runs_from_the_initial_to_the_trained_loss(runs):
    run = load_run(runs["linear"], images=IMAGES)
    r = landscape(runs["linear"], "interpolate", images=IMAGES, progress=False)
    alphas = np.array(r["alphas"])
    assert len(alphas) == 31 and alphas[0] == -0.25 and alphas[-1] == 1.25
    at0, at1 = int(np.argmin(abs(alphas))), int(np.argmin(abs(alphas - 1)))
    assert r["loss"][at0] == pytest.approx(direct_loss(initial(run.record), run), rel=1e-5)
    assert r["init"]["loss"] == pytest.approx(r["loss"][at0], rel=1e-6)
    assert r["loss"][at1] == pytest.approx(direct_loss(run.model, run), rel=1e-5)
    assert r["loss"][at1] < r["loss"][at0]
    # drawn with other slices: the trained weights are marked at α = 1, the initial ones at 0
    ax = figure_slices([r], ["linear"]).axes[0]
    assert sorted(line.get_xdata()[0] for line in ax.lines[1:]) == [0, 1]
    (text,) = [t.get_text() for t in ax.get_legend().get_texts()]
    assert text == f"linear (trained: {r['loss'][at1]:.3g})"


def test_plane_centre_is_the_trained_loss_and_the_json_redraws(runs):
    run = load_run(runs["linear"], images=IMAGES)
    r = landscape(runs["linear"], "plane", span="-0.5:0.5:3", images=IMAGES, seed=3, progress=False)
    assert np.shape(r["loss"]) == (3, 3) and np.shape(r["accuracy"]) == (3, 3)
    assert r["loss"][1][1] == pytest.approx(direct_loss(run.model, run), rel=1e-5)
    path = os.path.join(runs["linear"], "landscape-plane.json")
    with open(path) as f:
        saved = json.load(f)
    assert saved["loss"] == r["loss"] and saved["accuracy"] == r["accuracy"] and saved["seed"] == 3
    assert saved["direction"]["biases"] == "zero" and abs(saved["direction"]["cosine_d1_d2"]) < 0.2
    assert isinstance(figure_landscape(path), Figure)
    assert os.path.getsize(os.path.join(runs["linear"], "landscape-plane.png")) > 10_000


def test_directions_are_filter_normalised_with_zero_biases(runs):
    model = load_run(runs["cnn"], images=1).model
    d = filter_normalised_direction(model, np.random.default_rng(0))
    again = filter_normalised_direction(model, np.random.default_rng(0))
    assert np.array_equal(d, again)  # fixed by the seed
    pieces = dict(zip([n for n, _ in model.named_parameters()],
                      np.split(d, np.cumsum([p.size for p in model.parameters()])[:-1])))
    conv = model.conv2.weight.numpy()
    d_conv = pieces["conv2.weight"].reshape(conv.shape)
    for f in range(conv.shape[0]):  # each output channel of a conv
        assert np.linalg.norm(d_conv[f]) == pytest.approx(np.linalg.norm(conv[f]), rel=1e-5)
    fc = model.fc.weight.numpy()  # Paddle's Linear: [in, out], filters are columns
    d_fc = pieces["fc.weight"].reshape(fc.shape)
    assert np.linalg.norm(d_fc, axis=0) == pytest.approx(np.linalg.norm(fc, axis=0), rel=1e-5)
    assert not pieces["conv1.bias"].any() and not pieces["fc.bias"].any()


def test_cli_prints_one_line_and_writes_the_json_and_figure(runs, capsys):
    assert main(["landscape", runs["linear"], "--kind", "random", "--range", "-1:1:7", "--images", "100",
                 "--seed", "2", "--quiet"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("linear: random slice, 7 finite points") and len(out) == 3
    with open(os.path.join(runs["linear"], "landscape-random.json")) as f:
        r = json.load(f)
    assert len(r["loss"]) == len(r["accuracy"]) == 7 and r["seed"] == 2 and r["images"] == 100


@pytest.mark.parametrize("args, message", [
    (["--range", "1:-1:5"], "--range must be START:STOP:N"),
    (["--range", "-1:1"], "--range must be START:STOP:N"),
    (["--range", "a:b:c"], "--range must be START:STOP:N"),
    (["--range", "-1:1:1"], "--range must be START:STOP:N"),
    (["--images", "0"], "--images must be an integer from 1 to 1000"),
    (["--kind", "interpolate", "--weights", "init"], "runs from the initial weights"),
])
def test_bad_input_is_one_line_and_writes_nothing(runs, tmp_path, capsys, args, message):
    import shutil

    run_dir = str(tmp_path / "run")
    shutil.copytree(runs["linear"], run_dir, ignore=shutil.ignore_patterns("landscape*"))
    assert main(["landscape", run_dir, *args, "--quiet"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("paddle-mnist: error:") and message in err and len(err.splitlines()) == 1
    assert not [f for f in os.listdir(run_dir) if f.startswith(("landscape", "."))]


def test_a_folder_without_a_record_is_one_line(tmp_path, capsys):
    assert main(["landscape", str(tmp_path)]) == 1
    assert "no run record" in capsys.readouterr().err


def test_parse_span_includes_both_ends():
    assert parse_span("-1:1:41")[[0, 20, 40]].tolist() == [-1.0, 0.0, 1.0]


@pytest.mark.slow  # a notebook in a fresh kernel
def test_curvature_notebook_runs_headless_and_shows_its_figures(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    notebook = os.path.join(os.path.dirname(os.path.dirname(__file__)), "tools", "notebooks", "curvature.ipynb")
    (tmp_path / "work").mkdir()  # the notebook writes into ROOT/work/notebook-curvature
    for name, value in (("DATA", "synthetic"), ("EPOCHS", "1"), ("IMAGES", "64"), ("PROBES", "4")):
        monkeypatch.setenv(f"PADDLE_MNIST_NOTEBOOK_{name}", value)
    nb = nbformat.read(notebook, as_version=4)
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "data: synthetic" in text and text.count("completed") == 2
    assert text.count("λmax") >= 2 and "finite difference" in text
    assert len([o for o in outputs if "image/png" in o.get("data", {})]) >= 5
    for name in ("hessian.json", "landscape-random.json", "landscape-interpolate.json"):
        assert (tmp_path / "work" / "notebook-curvature" / "sgd" / name).exists()
