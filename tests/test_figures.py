"""What every figure shares: each optimizer's own look (colour and marker), figures in Chinese."""

import inspect
import itertools
import os
import re
import sys
import warnings

import pytest
from matplotlib.colors import to_rgb
from matplotlib.text import Text

from paddle_mnist.analysis import curves, hessian, lang, lr_find, paths, sensitivity, sharpness, target, tune
from paddle_mnist.analysis.lang import ENV, PHRASES, check_lang, chinese_font
from paddle_mnist.analysis.report import plot
from paddle_mnist.analysis.style import OPTIMIZER_STYLES, dodge, optimizer_styles
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
                    lr_find.figure_lr_find, sharpness.figure_sharpness, target.figure_time_to_target]


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
