"""Optimizers walking on 2-D surfaces: the course's figure 3, with the real Paddle optimizers.

Each path is a two-element Paddle parameter stepped by the ``paddle.optimizer`` class the project's
registry names (same defaults, same ``--opt`` overrides as training) on a surface of
``core.surfaces``, whose gradient comes from Paddle's autograd. Nothing here re-implements an
optimizer, and nothing here draws: the runner writes ``paths_<surface>.json`` (``schemas.paths``),
``analysis.paths`` draws from it.

A fair choice of learning rate (``lr="auto"``): every optimizer gets the same log grid of learning
rates and the same score, and keeps its best (a path that leaves the box or becomes non-finite is
rejected). The score (``lr_rule``) is by default "path": f - f* after the last step *plus* its mean
along the path, so a lr that ends low only by zig-zagging across the ravine at the edge of stability
loses to one that walks down calmly (the rule of pytorch_optimizer's visualisations, after
jettify/pytorch-optimizer#219 showed that the final value alone picks such wild paths); "final",
f after the last step alone, is the older rule. The K trials of one optimizer run *together*: K parameters, each
with its own lr, in one optimizer, and the surface is evaluated at all K points in one call. Each
trial is still exactly the path a single run would take (tested).

``noise`` stands in for mini-batch noise: Gaussian noise added to each gradient component. It is
added by tilting the surface, f(p) + xi_t . p, whose gradient is grad f(p) + xi_t: a mini-batch
loss is the full loss plus a random tilt that changes every step.
"""

import math
from dataclasses import dataclass
from functools import partial
from typing import Optional, Union

import numpy as np
import paddle
from tqdm import tqdm

from paddle_mnist.core import checks, runtime
from paddle_mnist.core.config import COURSE_OPTIMIZERS
from paddle_mnist.core.errors import ConfigError
from paddle_mnist.core.files import ensure_writable_dir
from paddle_mnist.core.optim import build_optimizer, check_optimizers, optimizer_keywords, parse_overrides
from paddle_mnist.core.options import Options, option
from paddle_mnist.core.surfaces import SURFACES, surface_values
from paddle_mnist.schemas.paths import SCHEMA, write_paths

DEFAULT_OPTIMIZERS = COURSE_OPTIMIZERS
LR_GRID = [float(v) for v in np.logspace(-4, 1, 20)]  # 1e-4 ... 10, 20 values: every optimizer's budget
REACHED = 1e-3     # "reached the minimum": f - f* below this
STATIONARY = 1e-3  # an end point farther than this from a critical point is still moving
FLAT = 1e-6        # an eigenvalue within FLAT x the largest one (or 1) counts as zero
LR_RULES = ("path", "final")  # how lr="auto" scores a trial: see trial_score


# --------------------------------------------------------------------------------------------------
# the options: each error names the argument (the command line shows its flag)


def check_surfaces(surface, name="surface"):
    """'ravine' -> ['ravine']; 'all' -> every surface; a list is checked name by name."""
    names = list(SURFACES) if surface == "all" else ([surface] if isinstance(surface, str) else list(surface))
    for one in names:
        if one not in SURFACES:
            raise ConfigError(f"{name} {one!r} is unknown; choose one of: {', '.join(SURFACES)}, all", option=name)
    if not names:
        raise ConfigError(f"{name}: no surface given; choose one of: {', '.join(SURFACES)}, all", option=name)
    return names


def check_start(start, surface, name="start"):
    """None -> the surface's default start; else two finite numbers inside the surface's box."""
    if start is None:
        return list(surface.start)
    if isinstance(start, str):
        try:
            start = [float(v) for v in start.split(",")]
        except ValueError:
            raise ConfigError(f"{name} must be two finite numbers X,Y, got {start!r}", option=name) from None
    start = list(start) if isinstance(start, (list, tuple)) else [start]
    if len(start) != 2 or not all(checks.is_number(v) for v in start):
        raise ConfigError(f"{name} must be two finite numbers X,Y, got {start!r}", option=name)
    (x0, x1, y0, y1), (x, y) = surface.box, start
    if not (x0 < x < x1 and y0 < y < y1):
        raise ConfigError(f"{name} ({x:g}, {y:g}) is outside the {surface.name} box: "
                          f"x in ({x0:g}, {x1:g}), y in ({y0:g}, {y1:g})", option=name)
    return [float(x), float(y)]


def check_lr(name, lr):
    """'auto' (the grid, any case) or one positive learning rate for every optimizer."""
    if isinstance(lr, str):
        if lr.strip().lower() == "auto":
            return "auto"
        try:
            lr = float(lr)
        except ValueError:
            raise ConfigError(f"{name} must be a positive number or 'auto', got {lr!r}", option=name) from None
    if not checks.is_number(lr) or lr <= 0:
        raise ConfigError(f"{name} must be a positive number or 'auto', got {lr!r}", option=name)
    return float(lr)


def _surface(name, value):
    check_surfaces(value, name)
    return value


def split_overrides(optimizers, overrides, name="opt"):
    """{name: the overrides it accepts}: an --opt key goes to every optimizer that has that option."""
    result = {one: {} for one in optimizers}
    for key, value in (overrides or {}).items():
        takers = [one for one in optimizers if key in optimizer_keywords(one)]
        if not takers:
            raise ConfigError(f"{name} {key}: none of {', '.join(optimizers)} has an option {key!r}", option=name)
        for one in takers:
            result[one][key] = value
    probe = [paddle.create_parameter([2], "float32")]
    for one, chosen in result.items():
        if chosen:  # a wrong value fails here, before any path is run
            try:
                build_optimizer(one, probe, 1.0, **chosen)
            except ConfigError as e:
                raise ConfigError(f"{name}: {e}", option=name) from None
    return result


@dataclass(frozen=True)
class PathsOptions(Options):
    """Which optimizers walk on which surfaces, and how; noise and seed go into each paths JSON as they
    are (start and steps as the surface resolved them)."""

    surface: Union[str, list] = option("ravine", f"{', '.join(SURFACES)}, or all (default: ravine)", check=_surface)
    optimizers: Union[str, list] = option(DEFAULT_OPTIMIZERS, f"comma-separated (default: {','.join(DEFAULT_OPTIMIZERS)}"
                                          "; see `paddle-mnist optimizers`)", check=check_optimizers)
    steps: Optional[int] = option(None, "optimizer steps (default: the surface's own, 100; rosenbrock 500, beale 200)",
                                  check=partial(checks.whole, low=1))
    start: Union[str, list, None] = option(None, "start point (default: the surface's own; write --start=-1,2 when "
                                           "X is negative)", metavar="X,Y")  # checked against each surface's box
    lr: Union[str, float] = option("auto", "one learning rate for every optimizer, or auto: each its best of the "
                                   "same grid (default)", check=check_lr)
    opt: dict = option({}, "an optimizer argument, e.g. momentum=0.5, given to every chosen optimizer that has it "
                       "(repeatable)", metavar="KEY=VALUE", parse=parse_overrides, check=checks.mapping)
    noise: float = option(0.0, "Gaussian noise of this std added to each gradient component, as mini-batches do "
                          "(default: 0)", metavar="SIGMA", check=partial(checks.number, low=0), echo=True)
    seed: int = option(0, "fixes the noise (default: 0)", check=checks.seed, echo=True)
    out: Optional[str] = option(None, "output directory (default: work/paths)")
    lr_rule: str = option("path", "how --lr auto scores a learning rate: path (default): f - f* at the end plus its "
                          "mean along the path, so a path that swings wildly loses; final: f at the end alone (the "
                          "older rule, which picks lrs at the edge of stability)", choices=LR_RULES,
                          check=partial(checks.one_of, choices=LR_RULES))

    def check_together(self):
        for name in check_surfaces(self.surface):
            check_start(self.start, SURFACES[name])
        split_overrides(self.optimizers, self.opt)


# --------------------------------------------------------------------------------------------------
# running the optimizers


def _trial_parameters(k, start):
    """K two-element float32 parameters at `start`: one per learning-rate trial."""
    init = paddle.nn.initializer.Assign(np.array(start, dtype="float32"))
    return [paddle.create_parameter([2], "float32", default_initializer=init) for _ in range(k)]


def _set_trial_lrs(params, lrs):
    """Give each trial its lr: Paddle multiplies the optimizer's lr (here 1.0) by each parameter's own
    ``optimize_attr["learning_rate"]``, the number that ParamAttr(learning_rate=...) and parameter
    groups set. One group of K parameters is one pass of Paddle's step; K groups of one (what
    build_optimizer's lr_groups makes) are K passes, 2.5x slower here for the same arithmetic."""
    for param, lr in zip(params, lrs):
        runtime.set_lr_multiplier(param, lr)


def _outside(points, box):
    """Per point (last axis x, y): not finite or outside the box."""
    x0, x1, y0, y1 = box
    x, y = points[..., 0], points[..., 1]
    with np.errstate(invalid="ignore"):
        return ~(np.isfinite(x) & np.isfinite(y) & (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1))


def run_trials(surface, name, lrs, start, steps, noise=0.0, seed=0, overrides=None):
    """Paths of optimizer `name` at each lr in `lrs`, stepped together.

    Returns (points [steps+1, K, 2] float32, f [steps+1, K] float64), start included: the optimizer
    works in float32 (as training does); f is then evaluated at its points in float64, so that
    f - f* stays meaningful below float32's resolution. Every trial sees the same noise sequence
    (fixed by `seed`), as every optimizer does. A trial that leaves the box is rejected: from then
    on it is parked at the start before each evaluation, so that its huge values never share the
    surface's one call with the others (Paddle's vectorised sin treats a packet of numbers with one
    huge argument differently, which changed its neighbours' last bit).
    """
    params = _trial_parameters(len(lrs), start)
    opt = build_optimizer(name, params, 1.0, **(overrides or {}))
    _set_trial_lrs(params, lrs)
    xi = np.random.default_rng(seed).standard_normal((steps, 2)).astype("float32") * np.float32(noise)
    park = paddle.to_tensor(np.array(start, dtype="float32"))
    points = []
    for t in range(steps + 1):
        xy = paddle.stack(params)  # [K, 2]
        points.append(xy.numpy())
        if t == steps:
            break
        outside = np.nonzero(_outside(points[-1], surface.box))[0]
        for k in outside:
            params[k].set_value(park)
        if len(outside):
            xy = paddle.stack(params)
        # the K points are independent: d(sum)/d(point k) is the gradient of f at point k alone
        loss = surface.fn(xy[:, 0], xy[:, 1]).sum()
        if noise:
            loss = loss + (xy * paddle.to_tensor(xi[t])).sum()  # tilt: the gradient gains xi_t
        loss.backward()
        opt.step()
        opt.clear_grad()
    points = np.stack(points)
    return points, surface_values(surface, points)


def trial_score(values, f_star, rule="path"):
    """The number lr="auto" minimises for one path's f values (start included).

    final: f after the last step. path: (f - f*) after the last step plus the mean of f - f* over
    the steps after the start; a path that reaches the minimum calmly scores lower than one that
    ends as low but swung high on the way."""
    gap = np.asarray(values, dtype=float) - f_star
    return float(values[-1]) if rule == "final" else float(gap[-1] + gap[1:].mean())


def best_trial(lrs, points, values, box, f_star=0.0, rule="path"):
    """The trial table and the index of the best trial: lowest score (trial_score) among the paths
    that stayed in the box and finite; a tie goes to the smaller lr. None when every trial was rejected."""
    out = _outside(points, box)  # [steps+1, K]
    table, best = [], None
    for k, lr in enumerate(lrs):
        left = int(np.argmax(out[:, k])) if out[:, k].any() else None
        ok = left is None and bool(np.isfinite(values[:, k]).all())
        final = float(values[-1, k]) if ok else None
        score = trial_score(values[:, k], f_star, rule) if ok else None
        table.append({"lr": lr, "final_f": final, "score": score, "left_box_at": left})
        if score is not None and (best is None or (score, lr) < (table[best]["score"], lrs[best])):
            best = k
    return table, best


def hessian_at(surface, point, still=STATIONARY):
    """The exact 2x2 Hessian at `point` by Paddle autograd (float64), its eigenvalues and a verdict.

    The verdict is the shape of f there; `stationary` says whether the point is also (nearly) a
    critical point: the Newton step H^-1 grad f, the distance to the critical point of f's local
    quadratic model, is at most `still`. Otherwise the path ended on a slope, still moving.
    """
    p = paddle.to_tensor(np.array(point, dtype="float64"), stop_gradient=False)
    f = surface.fn(p[0], p[1])
    (g,) = paddle.grad(f, p, create_graph=True)
    rows = [paddle.grad(g[i], p, retain_graph=True)[0] for i in range(2)]
    h = paddle.stack(rows).numpy().astype(float)
    h = (h + h.T) / 2  # symmetric up to rounding; eigvalsh reads one triangle
    eig = np.linalg.eigvalsh(h)
    g = g.numpy().astype(float)
    try:
        newton = float(np.linalg.norm(np.linalg.solve(h, g))) if g.any() else 0.0
    except np.linalg.LinAlgError:  # singular (flat): moving unless the gradient is zero
        newton = math.inf
    return {"hessian": h.tolist(), "eigenvalues": [float(v) for v in eig], "verdict": shape_verdict(eig),
            "grad_norm": float(np.linalg.norm(g)), "stationary": newton <= still}


def shape_verdict(eigenvalues):
    """minimum (both positive), maximum (both negative), saddle (one of each), flat (one ~ 0)."""
    lo, hi = sorted(float(v) for v in eigenvalues)
    tol = FLAT * max(1.0, abs(lo), abs(hi))
    if abs(lo) <= tol or abs(hi) <= tol:
        return "flat"
    return "minimum" if lo > 0 else "maximum" if hi < 0 else "saddle"


def _path(surface, name, lr, points, values, left, noise):
    """One optimizer's entry in paths.json: the path up to where it left the box, and its end."""
    last = len(points) - 1 if left is None else left
    if left is not None and _outside(points[left], (-np.inf, np.inf, -np.inf, np.inf)):
        last = left - 1  # a non-finite point cannot be drawn (nor written to JSON)
    pts = points[: last + 1].astype(float)
    f = values[: last + 1].astype(float)
    gap = f - surface.f_star
    reached = np.nonzero(gap < REACHED)[0]
    entry = {"name": name, "lr": lr, "points": pts.tolist(), "f": f.tolist(),
             "left_box_at": left, "diverged": left is not None,
             "reached_at": int(reached[0]) if len(reached) else None}
    if left is None:
        # with noise a path never settles: within sigma of a critical point counts as arrived
        still = max(STATIONARY, noise)
        entry["end"] = dict(point=pts[-1].tolist(), f=float(f[-1]), **hessian_at(surface, pts[-1], still))
    else:
        entry["end"] = {"point": pts[-1].tolist(), "f": float(f[-1]), "verdict": "diverged"}
    return entry


def run_surface(surface, optimizers, *, steps=None, start=None, lr=None, overrides=None,
                noise=0.0, seed=0, lr_rule="path", bar=None):
    """Everything paths.json holds for one surface (a plain dict: it is the file's content)."""
    start = check_start(start, surface)
    steps = surface.steps if steps is None else steps
    lrs = LR_GRID if lr is None else [lr]
    per_opt = split_overrides(optimizers, overrides)
    run = {"schema": SCHEMA, "surface": surface.name, "formula": surface.formula, "box": list(surface.box),
           "minima": [list(m) for m in surface.minima], "saddles": [list(s) for s in surface.saddles],
           "f_star": surface.f_star, "lesson": surface.lesson, "start": start, "steps": steps,
           "noise": float(noise), "seed": seed, "lr_rule": "auto" if lr is None else "given",
           "lr_grid": LR_GRID if lr is None else None, "lr_score": lr_rule if lr is None else None,
           "reached_threshold": REACHED,
           "paddle": paddle.__version__, "optimizers": [],
           "critical_points": [dict(point=list(c), kind=k, **hessian_at(surface, c))
                               for k, cs in (("minimum", surface.minima), ("saddle", surface.saddles))
                               for c in cs]}
    for name in optimizers:
        points, values = run_trials(surface, name, lrs, start, steps, noise, seed, per_opt[name])
        table, best = best_trial(lrs, points, values, surface.box, surface.f_star, lr_rule)
        k = 0 if best is None else best  # every trial rejected: show the smallest lr, marked diverged
        entry = _path(surface, name, lrs[k], points[:, k], values[:, k], table[k]["left_box_at"], noise)
        entry.update(overrides=per_opt[name], trials=table)
        run["optimizers"].append(entry)
        if bar is not None:
            bar.update(1)
    return run


def paths(surface="ravine", optimizers=DEFAULT_OPTIMIZERS, *, steps=None, start=None, lr="auto",
          opt=None, noise=0.0, seed=0, out=None, progress=True, lr_rule="path"):
    """Optimizer paths on one surface or several (``surface="all"``); draws nothing.

    Returns ``{"runs": {surface: run}, "files": [...]}``; each run is what ``OUT/paths_<surface>.json``
    holds (``schemas.paths``), written only when ``out`` is given.
    ``opt`` = {"momentum": 0.5}: each key goes to every optimizer that has that option.
    ``lr_rule``: how lr="auto" scores a learning rate, "path" (final plus mean f - f*) or "final".
    """
    o = PathsOptions(surface=surface, optimizers=optimizers, steps=steps, start=start, lr=lr, opt=opt,
                     noise=noise, seed=seed, out=out, lr_rule=lr_rule)
    if o.out is not None:
        ensure_writable_dir(o.out)
    names, lr = check_surfaces(o.surface), None if o.lr == "auto" else o.lr
    result = {"runs": {}, "files": []}
    bar = tqdm(total=len(names) * len(o.optimizers), desc="paths", unit="optimizer", disable=not progress)
    try:
        for name in names:
            bar.set_postfix_str(name)
            run = run_surface(SURFACES[name], o.optimizers, steps=o.steps, start=o.start, lr=lr, overrides=o.opt,
                              lr_rule=o.lr_rule, bar=bar, **o.echo())  # noise, seed
            result["runs"][name] = run
            if o.out is not None:
                result["files"].append(write_paths(o.out, run))
    finally:
        bar.close()
    return result
