"""What every figure shares: each optimizer's own look (colour and marker), figures in Chinese."""

import functools
import inspect
import itertools
import os
import re
import sys
import warnings

import numpy as np
import pytest
from matplotlib.colors import to_rgb
from matplotlib.text import Text

from paddle_mnist.analysis import (curves, hessian, lang, lr_find, paths, sensitivity, sharpness, target, trajectory,
                                   tune)
from paddle_mnist.analysis.digits import figure_seen
from paddle_mnist.analysis.lang import ENV, PHRASES, check_lang, chinese_font
from paddle_mnist.analysis.report import plot
from paddle_mnist.analysis.style import OPTIMIZER_STYLES, dodge, optimizer_styles, save_figure
from paddle_mnist.core.errors import ConfigError
from paddle_mnist.core.numbers import value_text, with_error
from paddle_mnist.core.optim import OPTIMIZERS

from conftest import run_cli
from test_plot import sweep_records, write_sweep  # the plot tests' records, as train writes them


def test_every_optimizer_has_its_own_colour_and_marker():
    assert set(OPTIMIZER_STYLES) == set(OPTIMIZERS)
    colours = [c for c, _ in OPTIMIZER_STYLES.values()]
    markers = [m for _, m in OPTIMIZER_STYLES.values()]
    assert len(set(colours)) == len(colours) == 12 and len(set(markers)) == len(markers)
    for a, b in itertools.combinations(colours, 2):  # no two colours nearly the same
        assert sum(abs(x - y) for x, y in zip(to_rgb(a), to_rgb(b))) > 0.25, (a, b)
    assert not {"x", "X", "*"} & set(markers)  # kept for diverged, saddle and chosen marks
    # Adam and RAdam were two greens: now blue and rose
    assert OPTIMIZER_STYLES["adam"] != OPTIMIZER_STYLES["radam"]
    # a name outside the table still gets a look, not an error
    assert optimizer_styles(["sgd", "lion"])["lion"] not in OPTIMIZER_STYLES.values()


def test_dodge_moves_tied_points_apart_symmetrically():
    left, right = dodge([0.01], 0, 2), dodge([0.01], 1, 2)
    assert left[0] < 0.01 < right[0] and abs(left[0] * right[0] - 1e-4) < 1e-12
    assert dodge([0.01, 0.1], 0, 1) == [0.01, 0.1]


# ---------------------------------------------------------------------------------------------
# figures in Chinese

CJK = re.compile(r"[\u4e00-\u9fff]")
FIGURE_FUNCTIONS = [curves.figure_loss_by_optimizer, curves.figure_loss_by_lr, curves.figure_seeds,
                    sensitivity.figure_lr_sensitivity, sensitivity.figure_epochs, tune.figure_expected_best,
                    tune.figure_tune_sensitivity, hessian.figure_eigenvalues, hessian.figure_sharpness_by_lr,
                    hessian.figure_landscape, hessian.figure_slices, paths.figure_paths, paths.save_animation,
                    lr_find.figure_lr_find, sharpness.figure_sharpness, target.figure_time_to_target,
                    trajectory.figure_trajectory, trajectory.save_animation, figure_seen]


def chinese_font_or_skip():
    try:
        return chinese_font()
    except ConfigError:
        pytest.skip('no Chinese font here (pip install "paddle_mnist[zh]")')


def texts(fig):
    """Every text a reader sees: titles, labels, legends, tick labels."""
    return [t for t in fig.findobj(Text) if t.get_text().strip() and t.get_visible()]


def test_every_figure_function_takes_lang():
    for f in FIGURE_FUNCTIONS:
        assert "lang" in inspect.signature(f).parameters, f.__qualname__


def test_lang_defaults_to_the_environment_then_english(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    assert check_lang() == "en" and check_lang("zh") == "zh"
    monkeypatch.setenv(ENV, "zh")
    assert check_lang() == "zh"
    monkeypatch.setenv(ENV, "fr")
    with pytest.raises(ConfigError, match="PADDLE_MNIST_LANG: unknown language 'fr'"):
        check_lang()
    with pytest.raises(ConfigError, match="--lang: unknown language 'de'"):
        check_lang("de")


def test_every_phrase_has_both_languages_and_the_same_fields():
    fields = re.compile(r"\{(\w+)")
    for key, (en, zh) in PHRASES.items():
        assert en and zh and zh != en, key
        assert sorted(fields.findall(en)) == sorted(fields.findall(zh)), key


@pytest.mark.slow
def test_plot_in_chinese_draws_chinese_text_in_a_cjk_font(tmp_path):
    font = chinese_font_or_skip()
    records = sweep_records()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = plot(records, out=str(tmp_path), lang="zh")
        english = plot(records, lang="en")
    assert not [w for w in caught if "missing from font" in str(w.message)]
    fig = result["figures"]["lr_sensitivity"]
    assert fig.get_suptitle() == "学习率如何决定结果（最后一轮，验证集）"
    assert fig.axes[0].get_ylabel() == "最终验证准确率（%）"
    assert english["figures"]["lr_sensitivity"].axes[0].get_ylabel() == "Final validation accuracy (%)"
    for t in texts(fig):  # every text is drawn with the Chinese font (DejaVu only behind it)
        assert t.get_fontfamily()[0] == font, t.get_text()
    assert (tmp_path / "lr_sensitivity.png").stat().st_size > 10_000


@pytest.mark.slow
def test_plot_cli_lang_zh_exits_0_without_missing_glyphs(tmp_path):
    """`paddle-mnist plot DIR --lang zh`, the real command line, on a sweep of records."""
    chinese_font_or_skip()
    folder = write_sweep(tmp_path / "sweep", sweep_records(seeds=(0, 1)))
    done = run_cli("plot", folder, "--lang", "zh", cwd=tmp_path, env={**os.environ, "PYTHONWARNINGS": "always"})
    assert done.returncode == 0, done.stderr
    assert "missing from font" not in done.stderr and "Glyph" not in done.stderr
    for name in ("loss_by_optimizer", "loss_by_lr", "lr_sensitivity", "epochs", "seeds"):
        assert (tmp_path / "sweep" / f"{name}.png").stat().st_size > 10_000, name
    bad = run_cli("plot", folder, "--lang", "fr", cwd=tmp_path)
    assert bad.returncode == 2 and "--lang: invalid choice: 'fr'" in bad.stderr


# ---------------------------------------------------------------------------------------------
# numbers as far as they are known


def linear_model_result():
    """A hessian.json as a linear model gives it: its bottom is exactly 0, the solver says ~1e-3."""
    return {"run": "linear", "weights": "best", "top_eigenvalues": [146.0612, 80.2, 60.1],
            "bottom_eigenvalues": [3.6e-5, 1.0e-3, 3.4e-3], "residuals": {"top": [0.0213, 0.03, 0.02],
                                                                          "bottom": [2e-4, 3e-4, 2e-4]},
            "lambda_max": 146.0612, "lambda_min": 3.6e-5, "zero_tolerance": 0.146, "trace": 512.3,
            "trace_stderr": 21.7, "probes": 50, "verdict": "minimum", "verdict_tol": 0.01,
            "at_critical_point": True, "gradient_norm": 1e-4, "weight_norm": 10.0, "hvp_count": 120,
            "method": "double_backward", "hvp_seconds": 0.05, "images": 1000, "parameters": 7850,
            "lanczos": {"tol": 1e-3}}


def test_numbers_carry_what_they_are_known_to():
    assert with_error(146.0612, 0.0213) == "146.06 ± 0.02"
    assert with_error(512.3, 21.7) == "512 ± 22"
    assert with_error(3.689923, 4e-7) == "3.68992 ± 4e-07"  # past float32's digits: six, no more
    assert value_text(3.4e-3, 2e-4, 0.146) == "0 (within tolerance 0.1)"
    assert value_text(-0.5, 0.01, 0.003) == "-0.50 ± 0.01"


def test_hessian_reads_a_zero_bottom_as_zero_within_tolerance():
    r = linear_model_result()
    line = hessian.hessian_summary(r)
    assert "λmax 146.06 ± 0.02" in line and "λmin 0 (within tolerance 0.1)" in line
    assert "trace 512 ± 22" in line and "3.6e-05" not in line
    fig = hessian.figure_eigenvalues(r)
    ax = fig.axes[0]
    hollow = [line for line in ax.lines if line.get_markerfacecolor() == "white"]
    assert hollow and list(hollow[0].get_ydata()) == [0.0, 0.0, 0.0]  # drawn at 0, not as a spectrum
    assert "0 within the solver's tolerance ±0.1" in " ".join(t.get_text() for t in ax.get_legend().get_texts())
    top = max(r["top_eigenvalues"]) + max(r["residuals"]["top"])
    assert ax.get_ylim()[1] > 2 * top  # the λ1 marker and its error bar are not clipped


def test_no_chinese_font_is_one_clear_line(monkeypatch):
    """With neither the [zh] extra nor a Chinese system font, --lang zh stops before drawing, saying how to fix it."""
    monkeypatch.setitem(sys.modules, "noto_cjk_sans_otc", None)  # as if the extra were not installed
    monkeypatch.setattr(lang, "SYSTEM_CJK_FONTS", [])            # and the system had no Chinese font
    lang.chinese_font.cache_clear()
    try:
        with pytest.raises(ConfigError, match=r'^--lang zh: no Chinese font found; install one with: '
                                              r'pip install "paddle_mnist\[zh\]"$'):
            curves.figure_loss_by_lr(sweep_records(), lang="zh")
    finally:
        lang.chinese_font.cache_clear()


# ---------------------------------------------------------------------------------------------
# the trajectory figure, its GIF and what the network saw, in Chinese

def _bowl(a, b):
    return 0.05 + 0.3 * (a - 2) ** 2 + 0.5 * (b - 1) ** 2


def trajectory_result(plane):
    """A trajectory.json's content (schemas/trajectory.py), made up: two paths on a bowl."""
    alphas, betas = np.linspace(-1.0, 3.0, 9), np.linspace(-1.0, 2.0, 7)
    runs = []
    for name, end in (("sgd-lr0.01-s0", (1.0, 0.3)), ("adam-lr0.01-s0", (2.0, 1.0))):
        points = np.linspace(0, 1, 7)[:, None] * np.array(end)
        loss = [_bowl(a, b) for a, b in points]
        runs.append({"name": name, "optimizer": name.split("-")[0], "lr": 0.01, "steps": list(range(0, 14, 2)),
                     "epoch_ends": [3, 6], "points": points.tolist(), "own_loss": [v * 1.1 for v in loss],
                     "plane_loss": loss, "off_plane": [0.0] + [0.2] * 6})
    return {"plane": plane, "ends": [r["name"] for r in runs] if plane == "ends" else None,
            "explained_variance": [0.856, 0.101] if plane == "pca" else None,
            "origin": {"loss": _bowl(0, 0), "accuracy": 0.1}, "model": "MNIST", "images": 300, "runs": runs,
            "grid": {"alphas": alphas.tolist(), "betas": betas.tolist(),
                     "loss": [[_bowl(a, b) for a in alphas] for b in betas]}}


def drawn_without_missing_glyphs(draw):
    """What `draw()` returns, and every warning it gave about a glyph missing from the font."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = draw()
    return result, [str(w.message) for w in caught if "missing from font" in str(w.message) or "Glyph" in str(w.message)]


@pytest.mark.parametrize("plane", ["pca", "ends"])
def test_trajectory_figure_in_chinese(tmp_path, plane):
    font = chinese_font_or_skip()
    r = trajectory_result(plane)
    zh = functools.partial(lang.phrase, lang="zh")
    fig, missing = drawn_without_missing_glyphs(lambda: trajectory.figure_trajectory(r, lang="zh"))
    _, missing_saved = drawn_without_missing_glyphs(lambda: save_figure(fig, tmp_path, "trajectory"))
    assert not missing + missing_saved
    left, right = fig.axes[:2]
    plane_name = zh("traj_pca_plane") if plane == "pca" else zh("traj_ends_plane", a=r["ends"][0], b=r["ends"][1])
    assert fig.get_suptitle() == zh("traj_title", runs=zh("traj_runs", n=2), model="MNIST", plane=plane_name,
                                    images=300)
    if plane == "pca":
        assert left.get_xlabel() == "主成分 1（占方差的 85.6%）"
    else:
        assert left.get_xlabel() == zh("traj_direction_1", a="sgd-lr0.01-s0")
    assert right.get_ylabel() == zh("traj_own_loss") and right.get_title().startswith("平面能反映多少")
    assert fig.axes[2].get_ylabel() == "训练损失（对数坐标）"  # the colour bar
    shown = {t.get_text() for t in texts(fig)}
    assert {zh("traj_start"), zh("traj_epoch_end"), "起点\n损失 1.75"} <= shown
    for t in texts(fig):
        assert t.get_fontfamily()[0] == font, t.get_text()
    english = trajectory.figure_trajectory(r, lang="en")
    assert english.get_suptitle().startswith("2 runs from one start on the loss surface of the MNIST")


def test_trajectory_gif_in_chinese(tmp_path):
    chinese_font_or_skip()
    gif, missing = drawn_without_missing_glyphs(
        lambda: trajectory.save_animation(trajectory_result("pca"), str(tmp_path / "t.gif"), frames=3, lang="zh"))
    assert not missing and open(gif, "rb").read(6) == b"GIF89a"
    with pytest.raises(ConfigError, match="lang: unknown language 'fr'"):
        trajectory.save_animation(trajectory_result("pca"), str(tmp_path / "u.gif"), lang="fr")
    assert not (tmp_path / "u.gif").exists()


def test_what_the_network_saw_in_chinese(tmp_path):
    font = chinese_font_or_skip()
    seen, original = np.zeros((28, 28)), np.ones((40, 30))
    seen[8:20, 12:16] = 1.0
    probs = [0.01] * 10
    probs[7] = 0.91
    result = {"digit": 7, "prob": 0.91, "probs": probs}
    fig, missing = drawn_without_missing_glyphs(
        lambda: save_figure(figure_seen(seen, result, original=original, lang="zh"), tmp_path, "seen") and
        figure_seen(seen, result, original=original, lang="zh"))
    assert not missing
    yours, net, bars = fig.axes
    assert yours.get_title() == "你的图片（30×40）"
    assert net.get_title() == "网络的输入\n28×28（裁剪、20 像素、居中）"
    assert net.title.get_linespacing() == lang.CJK_LINESPACING  # the two lines do not touch
    assert bars.get_title() == "猜测：7（91%）" and bars.get_xlabel() == "概率"
    for t in texts(fig):
        assert t.get_fontfamily()[0] == font, t.get_text()
    course = figure_seen(seen, result, preprocess="course", lang="zh")
    assert course.axes[0].get_title() == "网络的输入\n28×28（整张图缩放）"
    assert figure_seen(seen, result, lang="en").axes[1].get_title() == "guess: 7 (91%)"
