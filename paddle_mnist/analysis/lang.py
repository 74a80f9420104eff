"""Figures in English or Chinese: every phrase a figure shows, in both languages, and a font for Chinese.

``PHRASES`` is the one table: a key, its English and its Chinese text (``str.format`` fields in
braces). A figure function takes ``lang`` ("en" or "zh"; None: the environment variable
PADDLE_MNIST_LANG, else English) and is wrapped in ``localized``, which draws it with a font that
has the Chinese characters: Noto Sans CJK SC from the ``noto-cjk-sans-otc`` package
(``pip install "paddle_mnist[zh]"``, SIL Open Font License) or a Chinese font already on the system.
Names of optimizers, numbers and formulas stay as they are in both languages.
"""

import functools
import os

import matplotlib
from matplotlib import font_manager
from matplotlib.text import Text

from paddle_mnist.core.errors import ConfigError

LANGS = ("en", "zh")
ENV = "PADDLE_MNIST_LANG"
FONT_EXTRA = 'pip install "paddle_mnist[zh]"'
CJK_LINESPACING = 1.5  # matplotlib's 1.2 spaces lines for Latin letters: Chinese ones would touch
# Chinese fonts a system may have, best first (Noto/Source Han are the same design under two names)
SYSTEM_CJK_FONTS = ["Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "Source Han Sans CN",
                    "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "Microsoft YaHei", "SimHei", "PingFang SC",
                    "Hiragino Sans GB", "Heiti SC", "Noto Sans CJK JP", "Noto Sans CJK TC"]

PHRASES = {
    # shared
    "diverged": ("diverged (loss became NaN/inf)", "发散（损失变为 NaN/inf）"),
    "epoch": ("Epoch", "轮次"),
    "lr": ("learning rate", "学习率"),
    "lr_log": ("Learning rate (log scale)", "学习率（对数坐标）"),
    # curves.py
    "loss_log": ("Training loss (log scale)", "训练损失（对数坐标）"),
    "title_by_optimizer": ("Training loss of each optimizer at each learning rate", "各优化器在各学习率下的训练损失"),
    "title_one_run": ("Training loss at every optimizer step", "每个优化步的训练损失"),
    "panel_lr": ("Learning rate {lr:g}", "学习率 {lr:g}"),
    "title_by_lr": ("Training loss of the optimizers at each learning rate", "各学习率下各优化器的训练损失"),
    "title_seeds": ("Training loss over seeds: mean line, ±1 standard deviation band",
                    "多个随机种子下的训练损失：线为均值，色带为 ±1 标准差"),
    "note_seeds": ("line: mean of {seeds} seeds, band: ±1 std", "线：{seeds} 个种子的均值，色带：±1 标准差"),
    "note_seeds_smoothed": ("; each seed smoothed over {window} steps first", "；每个种子先按 {window} 步平滑"),
    "note_smoothed": ("light: every step, dark: running mean over {window} steps",
                      "浅色：每一步，深色：{window} 步滑动平均"),
    "note_every_step": ("every step", "每一步"),
    "x_epochs": ("Epoch (optimizer steps / steps per epoch)", "轮次（优化步数 / 每轮步数）"),
    "x_steps": ("Optimizer step", "优化步"),
    "each_line_mean": ("; each line: mean of {n} seeds", "；每条线：{n} 个种子的均值"),
    "one_line_per_seed": ("one line per seed ({n} seeds)", "每个种子一条线（共 {n} 个种子）"),
    "n_seeds": ("{n} seeds", "{n} 个种子"),
    "all_diverged": ("diverged", "发散"),
    "some_diverged": ("{bad}/{n} diverged", "{bad}/{n} 发散"),
    # sensitivity.py
    "title_sensitivity": ("How the learning rate decides the result (final epoch, validation split)",
                          "学习率如何决定结果（最后一轮，验证集）"),
    "final_valid_acc": ("Final validation accuracy (%)", "最终验证准确率（%）"),
    "final_valid_loss": ("Final validation loss (log scale)", "最终验证损失（对数坐标）"),
    "acc_higher": ("Accuracy (higher is better)", "准确率（越高越好）"),
    "loss_lower": ("Loss (lower is better)", "损失（越低越好）"),
    "diverged_band": ("diverged: no final result (× in the red band)", "发散：没有最终结果（红色带中的 ×）"),
    "dodged": ("points of different lines are shifted sideways a little so that none hides another; "
               "exact values in the summary table", "不同线的点左右稍作错开以免互相遮挡；精确数值见汇总表"),
    "train_loss_log": ("Training loss (log scale)", "训练损失（对数坐标）"),
    "valid_loss_log": ("Validation loss (log scale)", "验证损失（对数坐标）"),
    "train_acc": ("Training accuracy (%)", "训练准确率（%）"),
    "valid_acc": ("Validation accuracy (%)", "验证准确率（%）"),
    "title_epochs": ("Per epoch: loss and accuracy on the training and validation splits",
                     "每轮：训练集与验证集上的损失和准确率"),
    "compact_legend": ("colour: optimizer, marker: learning rate", "颜色：优化器，标记：学习率"),
    "compact_legend_style": (", line style: other settings", "，线型：其他设置"),
    # tune.py
    "tune_title": ("Fair by budget: {budget} learning rates per optimizer, {ranges}; {epochs} epoch(s) each",
                   "按预算公平比较：每个优化器 {budget} 个学习率，{ranges}；每次训练 {epochs} 轮"),
    "log_uniform_in": ("log-uniform in {lo:g}:{hi:g}", "在 {lo:g}:{hi:g} 内按对数均匀抽取"),
    "log_uniform_each": ("log-uniform, per-optimizer ranges", "按对数均匀抽取，各优化器范围不同"),
    "tune_label": ("{name} (chosen lr {lr:g}; {bad}/{n} diverged)", "{name}（选中学习率 {lr:g}；{bad}/{n} 发散）"),
    "tune_k": ("Tuning budget k (runs per optimizer, lrs drawn at random)", "调参预算 k（每个优化器的训练次数，学习率随机抽取）"),
    "tune_expected": ("Expected best validation accuracy (%)", "期望最佳验证准确率（%）"),
    "tune_expected_title": ("Expected best after k trials (band: ±1 std over which k you draw)",
                            "k 次尝试后的期望最佳值（色带：抽取不同 k 个学习率时的 ±1 标准差）"),
    "eval_acc": ("Eval accuracy (%)", "测试准确率（%）"),
    "tune_rerun": ("Chosen lr, rerun with {seeds} new seed(s)", "选中的学习率，用 {seeds} 个新种子重新训练"),
    "tuned_mean_std": ("tuned lr: mean ± std", "调得的学习率：均值 ± 标准差"),
    "chosen_lr": ("chosen lr (best final valid acc)", "选中的学习率（最终验证准确率最高）"),
    # paths.py
    "left_box": ("left the box", "离开了区域"),
    "left_box_diverged": ("left the box (diverged)", "离开了区域（发散）"),
    "still_moving": (" (still moving)", "（仍在移动）"),
    "verdict_minimum": ("minimum", "极小值"),
    "verdict_maximum": ("maximum", "极大值"),
    "verdict_saddle": ("saddle", "鞍点"),
    "verdict_flat": ("flat", "平坦"),
    "verdict_diverged": ("diverged", "发散"),
    "start": ("start", "起点"),
    "step": ("step", "步"),
    "floor": ("  (below {floor:g}: drawn at {floor:g})", "（低于 {floor:g} 的画在 {floor:g}）"),
    "caption_auto": ("lr: each optimizer keeps its best of the same {n} lrs ({lo:g} … {hi:g}, log grid) {rule}; "
                     "paths that left the box were rejected.",
                     "学习率：每个优化器从同样的 {n} 个学习率（{lo:g} … {hi:g}，对数网格）中选最好的一个，{rule}；"
                     "离开区域的路径不参选。"),
    "rule_final": ("by f after {steps} steps", "标准是第 {steps} 步后的 f"),
    "rule_path": ("by the final f − f* plus the mean f − f* along the path (a wild path scores badly)",
                  "标准是最终的 f − f* 加上整条路径上 f − f* 的平均值（来回乱跳的路径得分差）"),
    "caption_given": ("lr: {lr:g} for every optimizer.", "学习率：所有优化器都用 {lr:g}。"),
    "caption_toy": ("A toy surface: it shows why optimizers differ, it is not a verdict on MNIST.",
                    "这是一个玩具曲面：它说明优化器为什么不同，但不是对 MNIST 的结论。"),
    "noise": (", gradient noise σ = {sigma:g} (seed {seed})", "，梯度噪声 σ = {sigma:g}（种子 {seed}）"),
    "exact_gradients": (", exact gradients", "，精确梯度"),
    "paths_from": ("from ({x:g}, {y:g}), {steps} steps", "从 ({x:g}, {y:g}) 出发，{steps} 步"),
    # hessian.py
    "largest": ("largest", "最大的"),
    "smallest": ("smallest", "最小的"),
    "smallest_zero": ("smallest, 0 within the solver's tolerance ±{tol} (grey band)",
                      "最小的，在求解器容差 ±{tol} 内即为 0（灰色带）"),
    "saddle_line": ("−{tol:g}·λmax (below: saddle)", "−{tol:g}·λmax（低于它：鞍点）"),
    "mean_eigenvalue": ("mean eigenvalue (trace {trace})", "平均特征值（迹 {trace}）"),
    "eig_title": ("{run} ({weights}): {verdict}, {critical}", "{run}（{weights}）：{verdict}，{critical}"),
    "critical": ("at a critical point", "在临界点"),
    "not_critical": ("not at a critical point", "不在临界点"),
    "eig_setup": ("{images} images, {parameters} parameters, {method}", "{images} 张图片，{parameters} 个参数，{method}"),
    "eigenvalue": ("eigenvalue of the Hessian", "Hessian 的特征值"),
    "stability_limit": ("2/lr: gradient descent's stability limit", "2/lr：梯度下降的稳定极限"),
    "sharpness": ("λmax of the Hessian (sharpness)", "Hessian 的 λmax（尖锐度）"),
    "sharpness_title": ("Sharpness at the end of training, on {images} training images\n"
                        "hollow: not at a critical point; X: saddle",
                        "训练结束时的尖锐度，基于 {images} 张训练图片\n空心：不在临界点；X：鞍点"),
    "slice_title": ("{run}: {kind} slice, {images} training images", "{run}：{kind}切片，{images} 张训练图片"),
    "slices_title": ("{kind} slices, {images} training images", "{kind}切片，{images} 张训练图片"),
    "kind_random": ("random", "随机方向"),
    "kind_interpolate": ("interpolate", "插值"),
    "kind_plane": ("plane", "平面"),
    "loss": ("loss", "损失"),
    "accuracy": ("accuracy", "准确率"),
    "train_loss_of": ("training loss ({loss})", "训练损失（{loss}）"),
    "alpha_interpolate": ("α: (1 − α)·w_init + α·w_trained  (0: initial weights, 1: trained)",
                          "α：(1 − α)·w_init + α·w_trained（0：初始权重，1：训练后）"),
    "alpha_random": ("α: w + α·d (d: random, filter-normalised, seed {seed}; biases fixed)",
                     "α：w + α·d（d：随机方向，按滤波器归一化，种子 {seed}；偏置不动）"),
    "alpha_d": ("α: w + α·d (filter-normalised d)", "α：w + α·d（d 按滤波器归一化）"),
    "slice_label": ("{label} (trained: {loss:.3g})", "{label}（训练后：{loss:.3g}）"),
    "log10_loss": ("log10 training loss", "log10 训练损失"),
    "direction": ("{greek} (direction {d})", "{greek}（方向 {d}）"),
    "plane_title": ("; w + α·d1 + β·d2, filter-normalised random directions (seed {seed})",
                    "；w + α·d1 + β·d2，按滤波器归一化的随机方向（种子 {seed}）"),
    # target.py
    "images_seen": ("training images seen", "已见过的训练图片数"),
    "train_seconds": ("training seconds", "训练秒数"),
    "target_title": ("Time to target: {target} (each optimizer at its best lr)",
                     "达到目标所需时间：{target}（每个优化器用它最好的学习率）"),
    "never": ("never", "从未达到"),
    "no_run_finished": (" (no run finished)", "（没有完成的运行）"),
    "some_seeds_never": (" ({k} of {n} seeds; the others never)", "（{n} 个种子中 {k} 个；其余从未达到）"),
    # sharpness.py
    "lambda_max_h": ("λmax of the Hessian H", "Hessian H 的 λmax"),
    "lambda_max_ph": ("λmax of P⁻¹H (Adam's step)", "P⁻¹H 的 λmax（Adam 的步长）"),
    "sharp_title": ("Sharpness during training: λmax against the most curvature the lr can take",
                    "训练中的尖锐度：λmax 与该学习率能承受的最大曲率"),
    "measured_lmax": ("measured λmax", "测得的 λmax"),
    "stability_line": ("its stability line (at this lr)", "它的稳定线（在这个学习率下）"),
    "diverged_record_ends": ("diverged (the record ends there)", "发散（记录到此为止）"),
    "log_scale": (" (log scale)", "（对数坐标）"),
    "sharp_step": ("step (weights after this many optimizer steps)", "步（经过这么多优化步后的权重）"),
    "full_batch": ("full-batch", "全批量"),
    "batch_n": ("batch {batch}", "批大小 {batch}"),
    "sharp_note": ("{kind} training on {n} images; λmax measured every {every} steps\n"
                   "on {images} training images (warm-started Lanczos, residual ≤ {tol:g} % of λ)",
                   "在 {n} 张图片上训练（{kind}）；每 {every} 步测一次 λmax，\n"
                   "用 {images} 张训练图片（热启动 Lanczos，残差 ≤ λ 的 {tol:g} %）"),
    # lr_find.py
    "train_loss": ("training loss", "训练损失"),
    "lrf_each_batch": ("loss (each batch)", "损失（每个批次）"),
    "lrf_smoothed": ("smoothed loss", "平滑后的损失"),
    "lrf_steepest": ("steepest descent: lr {lr:.2g}", "下降最陡处：学习率 {lr:.2g}"),
    "lrf_min10": ("minimum / 10: lr {lr:.2g}", "最低点 / 10：学习率 {lr:.2g}"),
    "lrf_min": ("minimum: lr {lr:.2g}", "最低点：学习率 {lr:.2g}"),
    "lrf_title": ("LR range test: {optimizer}, {model}, batch {batch}",
                  "学习率范围测试：{optimizer}，{model}，批大小 {batch}"),
    "lrf_stopped": ("stopped at lr {lr:.2g}: diverged", "在学习率 {lr:.2g} 处停止：发散"),
    # trajectory.py
    "traj_title": ("{runs} from one start on the loss surface of the {model} ({plane}; loss on {images} training images)",
                   "{runs}从同一起点出发，走在 {model} 的损失曲面上（{plane}；损失基于 {images} 张训练图片）"),
    "traj_one_run": ("1 run", "1 个运行"),
    "traj_runs": ("{n} runs", "{n} 个运行"),
    "traj_pca_plane": ("PCA plane", "PCA 平面"),
    "traj_ends_plane": ("plane through the start and the ends of {a} and {b}", "过起点及 {a}、{b} 终点的平面"),
    "traj_pc": ("PC{i} ({share:.1%} of the variance)", "主成分 {i}（占方差的 {share:.1%}）"),
    "traj_direction_1": ("direction 1: start → end of {a}", "方向 1：起点 → {a} 的终点"),
    "traj_direction_2": ("direction 2: towards the end of {b} (orthogonal to 1)", "方向 2：指向 {b} 的终点（与方向 1 正交）"),
    "traj_end_label": ("{name}\nloss {loss:.3g}", "{name}\n损失 {loss:.3g}"),
    "traj_start_label": ("start\nloss {loss:.3g}", "起点\n损失 {loss:.3g}"),
    "traj_plane_loss": ("loss on the plane at the point's projection", "该点投影到平面处的损失"),
    "traj_own_loss": ("the saved weights' own loss", "保存的权重自身的损失"),
    "traj_shadow_title": ("how much the plane shows\non the dashed line the contour is the run's real loss;\n"
                          "the farthest saved point lies {worst:.3g} off the plane",
                          "平面能反映多少\n落在虚线上：等高线就是运行真实的损失；\n离平面最远的保存点相距 {worst:.3g}"),
    "traj_start": ("start (the shared initial weights)", "起点（共同的初始权重）"),
    "traj_epoch_end": ("end of an epoch (the optimizer's marker)", "一轮结束（该优化器的标记）"),
    "traj_step": ("step {step} of {last}", "第 {step} 步，共 {last} 步"),
    # digits.py
    "seen_yours": ("your image ({w}×{h})", "你的图片（{w}×{h}）"),
    "seen_input": ("the network's input\n28×28 ({how})", "网络的输入\n28×28（{how}）"),
    "seen_mnist": ("cropped, 20 px, centred", "裁剪、20 像素、居中"),
    "seen_course": ("whole image resized", "整张图缩放"),
    "seen_guess": ("guess: {digit} ({prob:.0%})", "猜测：{digit}（{prob:.0%}）"),
    "seen_probability": ("probability", "概率"),
    # live.py
    "live_runs": ("Training loss, live: {done} of {n} runs finished", "训练损失（实时）：{n} 个运行中已完成 {done} 个"),
    "live_one": ("Training loss, live: step {step} of {total}", "训练损失（实时）：第 {step} 步，共 {total} 步"),
    "live_done": ("Training loss: {n} runs finished", "训练损失：{n} 个运行已完成"),
    "live_wait": ("Training loss, live: waiting for the first steps", "训练损失（实时）：等待最初的几步"),
    "live_note": ("light: every step, dark: mean of the last {window} steps; legend: latest mean loss, share done",
                  "浅色：每一步，深色：最近 {window} 步的平均；图例：最新平均损失、完成比例"),
}


def check_lang(lang=None, option="--lang"):
    """'en' or 'zh': `lang`, else $PADDLE_MNIST_LANG, else English; anything else is a ConfigError."""
    where = option
    if lang is None:
        lang, where = os.environ.get(ENV) or "en", ENV
    if lang not in LANGS:
        raise ConfigError(f"{where}: unknown language {lang!r} (choose from {', '.join(LANGS)})")
    return lang


def phrase(key, lang, **values):
    """The phrase `key` in language `lang`, its {fields} filled from `values`."""
    text = PHRASES[key][LANGS.index(lang)]
    return text.format(**values) if values else text


def translator(lang):
    """A function key, **values -> text in `lang` (what the figure functions call `tr`)."""
    return functools.partial(_translate, lang)


def _translate(lang, key, **values):
    return phrase(key, lang, **values)


@functools.lru_cache(maxsize=None)
def chinese_font():
    """The family name of a font that has the Chinese characters, or a ConfigError saying how to get one.

    First Noto Sans CJK SC from the noto-cjk-sans-otc package (the [zh] extra), then a system font."""
    try:
        import noto_cjk_sans_otc  # optional: the [zh] extra; a system font does as well
    except ImportError:
        pass
    else:
        font_manager.fontManager.addfont(str(noto_cjk_sans_otc.FONT_PATH))
    installed = {f.name for f in font_manager.fontManager.ttflist}
    for name in SYSTEM_CJK_FONTS:
        if name in installed:
            return name
    raise ConfigError(f"--lang zh: no Chinese font found; install one with: {FONT_EXTRA}")


def font_rc(lang):
    """The matplotlib settings a figure in `lang` is drawn with ({} for English).

    The family is named, not 'sans-serif', because texts keep the family they were made with and a
    figure is saved later, outside these settings. DejaVu Sans stands behind the Chinese font for any
    symbol it lacks; the minus sign (U+2212) is kept only if the Chinese font has it."""
    if lang == "en":
        return {}
    name = chinese_font()
    font = font_manager.get_font(font_manager.findfont(name, fallback_to_default=False))
    return {"font.family": [name, "DejaVu Sans"], "axes.unicode_minus": 0x2212 in font.get_charmap()}


def localized(figure_function):
    """Wrap a figure function that takes `lang`: the language checked first, the figure drawn in its font."""

    @functools.wraps(figure_function)
    def draw(*args, lang=None, **kwargs):
        lang = check_lang(lang, option="lang")
        with matplotlib.rc_context(font_rc(lang)):
            fig = figure_function(*args, lang=lang, **kwargs)
            for ax in fig.axes:  # tick labels are made lazily: make them now, in this font
                ax.xaxis.get_major_ticks()
                ax.yaxis.get_major_ticks()
        if lang == "zh":
            spread_lines(fig)
        return fig

    return draw


def spread_lines(fig):
    """More room between the lines of every text of several lines: matplotlib spaces them by the
    height of Latin letters, and taller Chinese characters would touch the next line (and the first
    line would stick out of the text's box, where a tight layout clips it)."""
    for text in fig.findobj(Text):
        if "\n" in text.get_text():
            text.set_linespacing(CJK_LINESPACING)
