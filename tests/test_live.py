"""The live view: the terminal bar's running numbers, compare's notes from its workers, and the
notebook figure that redraws in place (run headless in a real kernel with nbclient)."""

import pytest

from paddle_mnist.analysis.live import curve_of, figure_live, live_text
from paddle_mnist.runners.compare import compare
from paddle_mnist.runners.train import TrainConfig, live_numbers, train

TINY = dict(data="synthetic", model="mlp", batch_size=10, optimizer="adam", lr=0.01)


def test_train_hands_on_steps_every_chunk_and_the_bar_numbers(tmp_path):
    seen = []
    record = train(TrainConfig(epochs=2, **TINY), progress=False,
                   on_steps=lambda r: seen.append((len(r["steps"]["loss"]), len(r["epochs"]))))
    spe = record["steps_per_epoch"]  # 1000 synthetic images / 10 = 100 steps: chunks of 50
    assert spe == 100
    assert seen == [(50, 0), (100, 0), (100, 1), (150, 1), (200, 1), (200, 2)]
    numbers = live_numbers(record)
    last = record["steps"]["loss"][-50:]
    assert numbers["epoch"] == 2 and numbers["lr"] == "0.01"
    assert float(numbers["loss"]) == pytest.approx(sum(last) / len(last), rel=1e-3)
    assert numbers["valid_acc"] == f"{record['epochs'][-1]['valid_acc']:.1%}"


@pytest.mark.slow
@pytest.mark.parametrize("jobs", [1, 2])
def test_compare_reports_each_runs_steps_as_they_come(tmp_path, jobs):
    snapshots = []
    result = compare(["sgd", "adam"], [0.01], epochs=1, data="synthetic", model="mlp", batch_size=10, jobs=jobs,
                     out=str(tmp_path / "sweep"), progress=False,
                     on_progress=lambda curves: snapshots.append({n: (len(c["losses"]), c["done"])
                                                                  for n, c in curves.items()}))
    assert [r["status"] for r in result["records"]] == ["completed", "completed"]
    # a note after every chunk of 50 steps (and the epoch's end), then each finished record
    assert any(not done for snap in snapshots for _, done in snap.values())
    assert snapshots[-1] == {"sgd-lr0.01": (100, True), "adam-lr0.01": (100, True)}
    partial = [snap[n][0] for snap in snapshots for n in snap if not snap[n][1]]
    assert 50 in partial


def test_live_figure_and_text_from_a_record(tmp_path):
    record = train(TrainConfig(epochs=1, **TINY), progress=False)
    curves = {record["name"]: dict(curve_of(record), losses=record["steps"]["loss"][:60], done=False)}
    fig = figure_live(curves)
    ax = fig.axes[0]
    assert ax.get_xlim() == (0, 103)  # the whole run's steps: the axes do not move while it grows
    assert "step 60 of 100" in ax.get_title()
    assert len(ax.lines) == 3 and len(ax.lines[0].get_xdata()) == 60  # every step, its running mean, its marker
    assert list(ax.lines[2].get_xdata()) == [60]  # the marker: where the run is now
    text = live_text(curves)
    assert text.startswith(f"{record['name']}: step 60/100") and "lr 0.01" in text
    assert figure_live(curves, lang="zh").axes[0].get_title() == "训练损失（实时）：第 60 步，共 100 步"


def test_end_markers_that_tie_sit_side_by_side():
    losses = [1.0 / (1 + 0.1 * i) for i in range(100)]
    far = [4 * x for x in losses]
    curves = {name: {"losses": list(ls), "total": 100, "lr": 0.01, "valid_acc": None, "done": True}
              for name, ls in (("momentum-lr0.01", losses), ("adagrad-lr0.01", losses), ("sgd-lr0.01", far),
                               ("adam-lr0.01", losses))}
    ax = figure_live(curves).axes[0]
    ends = [(line.get_xdata()[0], line.get_ydata()[0]) for line in ax.lines if len(line.get_xdata()) == 1]
    assert [x for x, _ in ends] == [100, 102.5, 100, 105]  # the three equal ones move 2.5 % apart; sgd stays
    assert ends[0][1] == ends[1][1] == ends[3][1] and ends[2][1] == pytest.approx(4 * ends[0][1])
    assert ax.get_xlim()[1] == pytest.approx(103 + 2 * 2.5)  # the last one is not clipped
    assert [t.get_text().split(":")[0] for t in ax.get_legend().get_texts()] == list(curves)


@pytest.mark.slow
def test_notebook_figure_updates_in_place_and_ends_as_one(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    types = []  # (cell, message type, has a PNG): nbclient applies an update to the output it
    # updates and stores nothing of the update itself, so its messages are counted here

    class Client(nbclient.NotebookClient):
        def process_message(self, msg, cell, cell_index):
            if msg["msg_type"] in ("display_data", "update_display_data"):
                types.append((cell_index, msg["msg_type"], "image/png" in msg["content"]["data"]))
            return super().process_message(msg, cell, cell_index)

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in (
        # a redraw at most every 0.2 s (the default: 1 s, and 2 % of the time): so this tiny run
        # shows several, even on a loaded machine
        "import paddle_mnist\nfrom paddle_mnist.live import LiveView\n"
        f"cfg = paddle_mnist.TrainConfig(epochs=4, **{TINY!r})\n"
        "record = paddle_mnist.train(cfg, live=LiveView(min_seconds=0.2, budget=1.0))",
        # the defaults, as a learner gets them
        f"record = paddle_mnist.train(paddle_mnist.TrainConfig(epochs=1, **{TINY!r}))",
    )])
    Client(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    first = [t for t in types if t[0] == 0]
    assert first[0][1:] == ("display_data", True)
    updates = [t for t in first if t[1] == "update_display_data"]
    assert len(updates) >= 2 and all(png for _, _, png in updates)  # redrawn during the run, and at its end
    for cell in nb.cells:  # what is stored: exactly one figure per cell, no tqdm warning, no bar
        images = [o for o in cell.outputs if "image/png" in o.get("data", {})]
        assert len(images) == 1, cell.outputs
        assert "done" in images[0]["data"]["text/plain"]  # the text a display without images shows
        streams = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
        assert "IProgress" not in streams and "step/s" not in streams
    assert [t[1] for t in types if t[0] == 1][0] == "display_data"
