"""The public functions: each runs a runner, which writes its JSON (and weights), then draws from it.

This is the composing layer (see docs/ARCHITECTURE.md). A runner (``paddle_mnist.runners``) trains
or measures and writes result files, and never draws; the analysis side (``paddle_mnist.analysis``)
reads such files and returns figures and tables, and never trains. Only here, and in the
command line (``paddle_mnist.cli``) that calls these functions, are the two put together, so that
``compare`` can train a sweep, measure its Hessians and draw the plots in one call.

``from paddle_mnist import train, compare, plot, ...`` finds every name below.
"""

import os

from paddle_mnist.analysis.digits import figure_seen
from paddle_mnist.analysis.hessian import figure_eigenvalues, figure_landscape, figure_sharpness_by_lr
from paddle_mnist.analysis.lr_find import figure_lr_find, save_lr_find
from paddle_mnist.analysis.paths import figure_paths, save_animation
from paddle_mnist.analysis import report
from paddle_mnist.analysis.lang import check_lang
from paddle_mnist.analysis.report import plot
from paddle_mnist.analysis.style import parse_formats, save_figure
from paddle_mnist.analysis.target import parse_target
from paddle_mnist.analysis.trajectory import figure_trajectory, save_animation as save_trajectory_animation
from paddle_mnist.analysis.tune import draw as draw_tune, save as save_tune
from paddle_mnist.core.config import TrainConfig
from paddle_mnist.core.data import MnistDataset, load_data, load_dataset
from paddle_mnist.core.errors import ConfigError
from paddle_mnist.core.files import ensure_writable_dir
from paddle_mnist.core.images import load_gray, load_image
from paddle_mnist.core.model import MNIST, build_model
from paddle_mnist.core.optim import build_optimizer
from paddle_mnist.live import LiveView
from paddle_mnist.runners import compare as compare_runner
from paddle_mnist.runners import hessian as hessian_runner
from paddle_mnist.runners import landscape as landscape_runner
from paddle_mnist.runners import lr_find as lr_find_runner
from paddle_mnist.runners import paths as paths_runner
from paddle_mnist.runners import trajectory as trajectory_runner
from paddle_mnist.runners import tune as tune_runner
from paddle_mnist.runners import predict as predict_runner
from paddle_mnist.runners.predict import export
from paddle_mnist.runners import train as train_runner
from paddle_mnist.schemas.hessian import SWEEP_FILE
from paddle_mnist.schemas.hessian import result_name as hessian_name
from paddle_mnist.schemas.landscape import result_name as landscape_name

__all__ = ["MNIST", "MnistDataset", "TrainConfig", "build_model", "build_optimizer", "compare", "export",
           "hessian", "hessian_sweep", "landscape", "load_data", "load_dataset", "lr_find", "paths", "plot",
           "predict", "train", "trajectory", "tune"]


def compare(optimizers=None, lrs=None, *, grid=None, epochs=3, jobs=None, out=None, data=None,
            plot=True, progress=True, formats=("png",), show=False, executor="local", ray_address=None,
            cpus_per_run=None, gpus_per_run=None, ray_retries=2, hessian=False, hessian_options=None,
            lang=None, live=None, target=None, **base_fields):
    """Train a grid of runs, optionally measure their Hessians, then draw the comparison.

    Returns ``{"records", "out", "skipped", "failed", "plot", "hessian"}``: the sweep as
    ``runners.compare.compare`` returns it (its arguments: see there), the plots and summary as
    ``plot`` returns them (None with ``plot=False``), and with ``hessian=True`` the Hessian sweep as
    ``hessian_sweep`` returns it (``hessian_options``: its keywords, e.g. ``{"images": 500}``),
    measured before the plots so that the summary table carries λmax and the verdict. ``lang``: the
    figures' language, "en" or "zh" (None: $PADDLE_MNIST_LANG, else English), as in every function here.
    ``live``: draw every run's loss while the sweep trains (``paddle_mnist.live``; None: in a notebook).
    ``target``: e.g. "valid_acc=0.97": the time each run took to reach it, in the plots (see ``plot``).
    """
    formats = parse_formats(formats)  # a bad format (or target) fails before the first run trains
    target = parse_target(target) if target is not None else None
    lang = check_lang(lang, option="lang")
    view = live if isinstance(live, LiveView) else LiveView.start(live, lang)
    with_view = {"on_progress": view, "progress": False} if view else {"progress": progress}
    hessian_options = dict(hessian_options or {})
    if "formats" in hessian_options or "progress" in hessian_options:
        raise ConfigError("hessian_options: formats and progress are compare's own arguments")
    result = compare_runner.compare(
        optimizers, lrs, grid=grid, epochs=epochs, jobs=jobs, out=out, data=data, executor=executor,
        ray_address=ray_address, cpus_per_run=cpus_per_run, gpus_per_run=gpus_per_run, ray_retries=ray_retries,
        **with_view, **base_fields)
    if view:
        view.close()
    result.update(plot=None, hessian=None)
    curvature = None
    if hessian:
        result["hessian"] = hessian_sweep(result["out"], formats=formats, progress=progress, lang=lang,
                                          **hessian_options)
        curvature = os.path.join(result["out"], SWEEP_FILE)
    if plot:  # a failed run shows as such in the summary
        result["plot"] = report.plot(result["records"], out=result["out"], formats=formats, show=show,
                                     curvature=curvature, lang=lang, target=target)
    return result


def train(config, *, live=None, lang=None, progress=True, **options):
    """Train one run (``runners.train.train``: its options) and return its record. ``live``: draw the
    loss while it trains, in place of the progress bar (``paddle_mnist.live``; None: in a notebook)."""
    view = live if isinstance(live, LiveView) else LiveView.start(live, lang)
    if view is None:
        return train_runner.train(config, progress=progress, **options)
    record = train_runner.train(config, progress=False, on_steps=view.run, **options)
    view.close(record)
    return record


def tune(optimizers=tune_runner.DEFAULT_OPTIMIZERS, *, plot=True, formats=("png",), show=False, lang=None,
         **options):
    """Tune every optimizer with the same budget, rerun each one's best lr over seeds, then draw.

    ``options``: the fields of ``runners.tune.TuneOptions`` (budget, lr_range, epochs, final_seeds, seed,
    data, out, jobs, executor, executor_options, course_dirs), progress, and TrainConfig fields.
    Returns ``{"tune": the content of OUT/tune.json, "figures": {name: Figure}, "table": markdown,
    "skipped_figures": {name: why}, "files": [paths], "out": OUT, "skipped": finished runs not run
    again}``.
    """
    formats = parse_formats(formats)
    lang = check_lang(lang, option="lang")
    result = tune_runner.tune(optimizers, **options)
    drawn = draw_tune(result["tune"], result["out"], figures=plot, show=show, lang=lang)
    return {"tune": result["tune"], **drawn, "files": save_tune(drawn, result["out"], formats),
            "out": result["out"], "skipped": result["skipped"]}


def paths(surface="ravine", optimizers=paths_runner.DEFAULT_OPTIMIZERS, *, animate=False, out=None,
          formats=("png",), show=False, lang=None, **options):
    """Optimizer paths on one surface or several (``surface="all"``), and their figures.

    ``options``: the fields of ``runners.paths.PathsOptions`` (steps, start, lr "auto" or a number,
    lr_rule "path" or "final", opt {"momentum": 0.5}, noise, seed) and progress. Returns
    ``{"runs": {surface: run}, "figures": {surface: Figure}, "files": [...]}``; with ``out``, writes
    OUT/paths_<surface>.json, its figure (and with ``animate`` a GIF); without it, nothing is written.
    """
    formats = parse_formats(formats)
    lang = check_lang(lang, option="lang")
    if animate and out is None:
        raise ConfigError("--animate needs an output directory (out=...) for the GIF")
    result = paths_runner.paths(surface, optimizers, out=out, **options)
    written, result["files"], result["figures"] = result["files"], [], {}
    for i, (name, run) in enumerate(result["runs"].items()):
        result["figures"][name] = fig = figure_paths(run, show=show, lang=lang)
        if out is not None:
            result["files"] += [written[i]] + save_figure(fig, out, f"paths_{name}", formats)
            if animate:
                result["files"].append(save_animation(run, os.path.join(out, f"paths_{name}.gif"), lang=lang))
    return result


def hessian(run_dir, *, weights="best", formats=("png",), write=True, lang=None, **options):
    """Curvature of one trained run: eigenvalues at both ends, trace, verdict (``runners.hessian``).

    ``options``: the fields of ``runners.hessian.HessianOptions`` (images, top, bottom, probes, data,
    method, seed, workers) and progress. Writes
    RUN_DIR/hessian.json (hessian-last/-init for other weights) and its figure; returns the result.
    """
    formats = parse_formats(formats)
    lang = check_lang(lang, option="lang")
    result = hessian_runner.hessian(run_dir, weights=weights, write=write, **options)
    if write:
        figures = save_figure(figure_eigenvalues(result, lang=lang), run_dir, hessian_name(weights), formats)
        result["files"] = figures + result["files"]
    return result


def hessian_sweep(sweep_dir, *, weights="best", formats=("png",), lang=None, **options):
    """Every finished run of a sweep measured on the same images (``runners.hessian.hessian_sweep``),
    then each newly measured run's eigenvalue figure and the sweep's sharpness figure."""
    formats = parse_formats(formats)
    lang = check_lang(lang, option="lang")
    swept = hessian_runner.hessian_sweep(sweep_dir, weights=weights, **options)
    for run_dir, result in swept["measured"].items():
        result["files"] = save_figure(figure_eigenvalues(result, lang=lang), run_dir, hessian_name(weights),
                                      formats) + result["files"]
    sharpness = figure_sharpness_by_lr(swept["table"], lang=lang)
    swept["files"] = save_figure(sharpness, sweep_dir, "sharpness", formats) + swept["files"]
    return swept


def landscape(run_dir, kind="random", *, weights="best", formats=("png",), write=True, lang=None, **options):
    """A slice through the loss landscape of a trained run (``runners.landscape``), and its figure.

    ``options``: the fields of ``runners.landscape.LandscapeOptions`` (span, images, seed, data) and
    progress. Writes RUN_DIR/landscape-KIND.json and its figure; returns the result.
    """
    formats = parse_formats(formats)
    lang = check_lang(lang, option="lang")
    result = landscape_runner.landscape(run_dir, kind, weights=weights, write=write, **options)
    if write:
        fig = figure_landscape(result, lang=lang)
        result["files"] = save_figure(fig, run_dir, landscape_name(kind, weights), formats) + result["files"]
    return result


def lr_find(optimizer="sgd", data=None, *, out=None, lang=None, **options):
    """The learning-rate range test (``runners.lr_find``; ``options``: the fields of its ``LrFindOptions``
    and progress), then with ``out`` its figure: OUT/lr_find.json and OUT/lr_find.png. Returns the
    result (``files``: {"json", "png"})."""
    lang = check_lang(lang, option="lang")
    result = lr_find_runner.lr_find(optimizer, data, out=out, **options)
    if out:
        result["files"]["png"] = save_lr_find(figure_lr_find(result, lang=lang), out)
    return result


def trajectory(path, *, plane="pca", animate=False, formats=("png",), show=False, lang=None, **options):
    """The runs of a sweep (trained with ``trajectory=EVERY``) on one plane of the loss surface
    (``runners.trajectory``: ``plane`` "pca" or "ends:RUN_A,RUN_B"; ``options``: runs, span, grid,
    images, data, progress). Writes PATH/trajectory.json, trajectory.png (and with ``animate``
    trajectory.gif, in ``lang``); returns the result with its ``figure`` and ``files``."""
    formats = parse_formats(formats)
    lang = check_lang(lang, option="lang")
    result = trajectory_runner.trajectory(path, plane=plane, **options)
    result["figure"] = fig = figure_trajectory(result, show=show, lang=lang)
    result["files"] = save_figure(fig, path, "trajectory", formats) + result["files"]
    if animate:
        gif = save_trajectory_animation(result, os.path.join(path, "trajectory.gif"), lang=lang)
        result["files"].append(gif)
    return result


def predict(checkpoint, images, model=None, preprocess="mnist", *, show=None, lang=None):
    """Predict digits (``runners.predict.predict``: a list of {file, digit, prob, probs}). With
    ``show=DIR``, also DIR/NAME.png per image (NAME: its file's stem): the image, the 28×28 input the
    network saw and its guesses (``analysis.digits.figure_seen``, in ``lang``); each result then
    names that file under ``seen``."""
    images = predict_runner.as_image_list(images)
    if show is not None:  # both checked before any work
        lang = check_lang(lang, option="lang")
        ensure_writable_dir(show, "show")
    results = predict_runner.predict(checkpoint, images, model, preprocess)
    for image, result, name in zip(images, results, seen_names(images) if show is not None else []):
        fig = figure_seen(load_image(image, preprocess), result, original=load_gray(image), preprocess=preprocess,
                          lang=lang)
        (result["seen"],) = save_figure(fig, show, name)
    return results


def seen_names(images):
    """One figure name per image: its file's stem (image<i> for a picture given as an object), made
    unique when two share a stem."""
    names, used = [], set()
    for i, image in enumerate(images):
        stem = os.path.splitext(os.path.basename(image))[0] if isinstance(image, (str, os.PathLike)) else f"image{i}"
        name = stem if stem not in used else f"{stem}-{i}"
        used.add(name)
        names.append(name)
    return names
