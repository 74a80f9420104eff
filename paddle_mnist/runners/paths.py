"""Optimizers walking on 2-D surfaces: the course's figure 3, with the real Paddle optimizers.

Each path is a two-element Paddle parameter stepped by the ``paddle.optimizer`` class the project's
registry names (same defaults, same ``--opt`` overrides as training); the surface is written in
Paddle ops and its gradient comes from autograd. Nothing here re-implements an optimizer.

A fair choice of learning rate (``lr="auto"``): every optimizer gets the same log grid of learning
rates and the same objective (f at the last step; a path that leaves the box or becomes non-finite
is rejected) and keeps its best. The K trials of one optimizer run *together*: K parameters, each
with its own lr, in one optimizer, and the surface is evaluated at all K points in one call. Each
trial is still exactly the path a single run would take (tested).

``noise`` stands in for mini-batch noise: Gaussian noise added to each gradient component. It is
added by tilting the surface, f(p) + xi_t . p, whose gradient is grad f(p) + xi_t: a mini-batch
loss is the full loss plus a random tilt that changes every step.
"""

import math
import os
from dataclasses import dataclass

import numpy as np
import paddle
from tqdm import tqdm

from paddle_mnist.core import runtime
from paddle_mnist.core.config import SEED_MAX
from paddle_mnist.core.errors import ConfigError
from paddle_mnist.core.files import ensure_writable_dir, write_json
from paddle_mnist.core.optim import build_optimizer, check_optimizer, optimizer_keywords

SCHEMA = "paddle_mnist.paths/1"
DEFAULT_OPTIMIZERS = ("sgd", "momentum", "adagrad", "adam")  # the course's four
LR_GRID = [float(v) for v in np.logspace(-4, 1, 20)]  # 1e-4 ... 10, 20 values: every optimizer's budget
REACHED = 1e-3     # "reached the minimum": f - f* below this
STATIONARY = 1e-3  # an end point farther than this from a critical point is still moving
FLAT = 1e-6        # an eigenvalue within FLAT x the largest one (or 1) counts as zero


@dataclass(frozen=True)
class Surface:
    """A 2-D test surface: its formula in Paddle ops and what the figure needs to teach with it."""

    name: str
    formula: str   # mathtext, shown in the figure
    fn: object     # f(x, y) in Paddle ops, on tensors of any (equal) shape
    start: tuple   # a default start that teaches something
    box: tuple     # (xmin, xmax, ymin, ymax): the plot, and where a path must stay
    minima: tuple  # the global minima
    f_star: float  # f at the minima
    saddles: tuple = ()
    steps: int = 100  # default number of steps: enough for the lesson to show
    lesson: str = ""


# Products, not `**`: Paddle's pow kernel rounds differently in its vectorised and scalar code, so
# x ** 2 over a batch of points is not always x ** 2 of each point alone (products are exact).

def _ravine(x, y):
    return x * x / 20 + y * y


def _saddle(x, y):
    x2 = x * x
    return x2 * x2 / 4 - x2 / 2 + y * y / 2


def _rosenbrock(x, y):
    a, b = 1 - x, y - x * x
    return a * a + 100 * b * b


def _beale(x, y):
    a = 1.5 - x + x * y
    b = 2.25 - x + x * y * y
    c = 2.625 - x + x * y * y * y
    return a * a + b * b + c * c


def _rastrigin(x, y):
    # 10 - 10 cos 2πx = 20 sin²πx: the same function, and Paddle 2.6 has second derivatives of sin
    # (for the Hessian) but not of cos
    sx, sy = paddle.sin(math.pi * x), paddle.sin(math.pi * y)
    return x * x + y * y + 20 * (sx * sx + sy * sy)


SURFACES = {
    "ravine": Surface("ravine", r"$f = x^2/20 + y^2$", _ravine, (-7.0, 2.0), (-10.0, 10.0, -5.0, 5.0),
                      ((0.0, 0.0),), 0.0,
                      lesson="an elongated bowl: one lr for both directions is too small along x, "
                             "too large across y, and SGD zig-zags"),
    "saddle": Surface("saddle", r"$f = x^4/4 - x^2/2 + y^2/2$", _saddle, (0.0, 1.0), (-2.0, 2.0, -1.5, 1.5),
                      ((-1.0, 0.0), (1.0, 0.0)), -0.25, saddles=((0.0, 0.0),),
                      lesson="from (0, 1) exact gradients lead into the saddle and stop there; "
                             "gradient noise (mini-batches) lets the path fall off it"),
    "rosenbrock": Surface("rosenbrock", r"$f = (1-x)^2 + 100\,(y-x^2)^2$", _rosenbrock, (-2.0, 2.0),
                          (-2.5, 2.5, -1.5, 4.5), ((1.0, 1.0),), 0.0, steps=500,
                          lesson="a curved, flat-bottomed valley: finding it is easy, following it is slow"),
    "beale": Surface("beale", r"$f = (1.5-x+xy)^2 + (2.25-x+xy^2)^2 + (2.625-x+xy^3)^2$", _beale,
                     (2.0, 2.5), (-4.5, 4.5, -4.5, 4.5), ((3.0, 0.5),), 0.0, steps=200,
                     lesson="a steep wall above a curved valley, and a plateau near x = 0 (f = 14.2 on the "
                            "line x = 0 itself): momentum gathered on the wall carries the path across the "
                            "valley onto the plateau, where the gradient is too weak to bring it back"),
    "rastrigin": Surface("rastrigin", r"$f = 20 + x^2 - 10\cos 2\pi x + y^2 - 10\cos 2\pi y$", _rastrigin,
                         (-2.0, 3.5), (-4.5, 4.5, -4.5, 4.5), ((0.0, 0.0),), 0.0,
                         lesson="a bowl covered in local minima: every optimizer stops in one"),
}


# --------------------------------------------------------------------------------------------------
# checking the options (messages name the command's flags; the Python API shares them)


def check_surfaces(surface):
    """'ravine' -> ['ravine']; 'all' -> every surface; a list is checked name by name."""
    names = list(SURFACES) if surface == "all" else ([surface] if isinstance(surface, str) else list(surface))
    for name in names:
        if name not in SURFACES:
            raise ConfigError(f"--surface {name!r} is unknown; choose one of: {', '.join(SURFACES)}, all")
    if not names:
        raise ConfigError(f"--surface: no surface given; choose one of: {', '.join(SURFACES)}, all")
    return names


def _number(value):
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


def check_start(start, surface):
    """None -> the surface's default start; else two finite numbers inside the surface's box."""
    if start is None:
        return list(surface.start)
    if isinstance(start, str):
        try:
            start = [float(v) for v in start.split(",")]
        except ValueError:
            raise ConfigError(f"--start must be two finite numbers X,Y, got {start!r}") from None
    start = list(start) if isinstance(start, (list, tuple)) else [start]
    if len(start) != 2 or not all(_number(v) for v in start):
        raise ConfigError(f"--start must be two finite numbers X,Y, got {start!r}")
    (x0, x1, y0, y1), (x, y) = surface.box, start
    if not (x0 < x < x1 and y0 < y < y1):
        raise ConfigError(f"--start ({x:g}, {y:g}) is outside the {surface.name} box: "
                          f"x in ({x0:g}, {x1:g}), y in ({y0:g}, {y1:g})")
    return [float(x), float(y)]


def check_lr(lr):
    """'auto' -> None (the grid); else one positive learning rate for every optimizer."""
    if isinstance(lr, str):
        if lr.strip().lower() == "auto":
            return None
        try:
            lr = float(lr)
        except ValueError:
            raise ConfigError(f"--lr must be a positive number or 'auto', got {lr!r}") from None
    if not _number(lr) or lr <= 0:
        raise ConfigError(f"--lr must be a positive number or 'auto', got {lr!r}")
    return float(lr)


def check_steps(steps):
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ConfigError(f"--steps must be a whole number >= 1, got {steps!r}")


def check_noise_seed(noise, seed):
    if not _number(noise) or noise < 0:
        raise ConfigError(f"--noise must be a number >= 0, got {noise!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= SEED_MAX:
        raise ConfigError(f"--seed must be a whole number in 0..{SEED_MAX}, got {seed!r}")


def split_overrides(optimizers, overrides):
    """{name: the overrides it accepts}: an --opt key goes to every optimizer that has that option."""
    result = {name: {} for name in optimizers}
    for key, value in (overrides or {}).items():
        takers = [name for name in optimizers if key in optimizer_keywords(name)]
        if not takers:
            raise ConfigError(f"--opt {key}: none of {', '.join(optimizers)} has an option {key!r}")
        for name in takers:
            result[name][key] = value
    probe = [paddle.create_parameter([2], "float32")]
    for name, chosen in result.items():
        if chosen:  # a wrong value fails here, before any path is run
            try:
                build_optimizer(name, probe, 1.0, **chosen)
            except ConfigError as e:
                raise ConfigError(f"--opt: {e}") from None
    return result


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
    return points, evaluate(surface, points)


def evaluate(surface, points):
    """f at points [..., 2] in float64 (one Paddle call); non-finite points give NaN."""
    points = points.astype("float64")
    xy = paddle.to_tensor(np.where(np.isfinite(points), points, np.nan))
    return surface.fn(xy[..., 0], xy[..., 1]).numpy().astype(float)


def choose_lr(lrs, points, values, box):
    """The trial table and the index of the best trial: lowest final f among the paths that stayed
    in the box and finite; a tie goes to the smaller lr. None when every trial was rejected."""
    out = _outside(points, box)  # [steps+1, K]
    table, best = [], None
    for k, lr in enumerate(lrs):
        left = int(np.argmax(out[:, k])) if out[:, k].any() else None
        final = float(values[-1, k]) if left is None and math.isfinite(values[-1, k]) else None
        table.append({"lr": lr, "final_f": final, "left_box_at": left})
        if final is not None and (best is None or (final, lr) < (table[best]["final_f"], lrs[best])):
            best = k
    return table, best


def hessian(surface, point, still=STATIONARY):
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
    return {"hessian": h.tolist(), "eigenvalues": [float(v) for v in eig], "verdict": verdict(eig),
            "grad_norm": float(np.linalg.norm(g)), "stationary": newton <= still}


def verdict(eigenvalues):
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
        entry["end"] = dict(point=pts[-1].tolist(), f=float(f[-1]), **hessian(surface, pts[-1], still))
    else:
        entry["end"] = {"point": pts[-1].tolist(), "f": float(f[-1]), "verdict": "diverged"}
    return entry


def run_surface(surface, optimizers, *, steps=None, start=None, lr=None, overrides=None,
                noise=0.0, seed=0, bar=None):
    """Everything paths.json holds for one surface (a plain dict: it is the file's content)."""
    start = check_start(start, surface)
    steps = surface.steps if steps is None else steps
    lrs = LR_GRID if lr is None else [lr]
    per_opt = split_overrides(optimizers, overrides)
    run = {"schema": SCHEMA, "surface": surface.name, "formula": surface.formula, "box": list(surface.box),
           "minima": [list(m) for m in surface.minima], "saddles": [list(s) for s in surface.saddles],
           "f_star": surface.f_star, "lesson": surface.lesson, "start": start, "steps": steps,
           "noise": float(noise), "seed": seed, "lr_rule": "auto" if lr is None else "given",
           "lr_grid": LR_GRID if lr is None else None, "reached_threshold": REACHED,
           "paddle": paddle.__version__, "optimizers": [],
           "critical_points": [dict(point=list(c), kind=k, **hessian(surface, c))
                               for k, cs in (("minimum", surface.minima), ("saddle", surface.saddles))
                               for c in cs]}
    for name in optimizers:
        points, values = run_trials(surface, name, lrs, start, steps, noise, seed, per_opt[name])
        table, best = choose_lr(lrs, points, values, surface.box)
        k = 0 if best is None else best  # every trial rejected: show the smallest lr, marked diverged
        entry = _path(surface, name, lrs[k], points[:, k], values[:, k], table[k]["left_box_at"], noise)
        entry.update(overrides=per_opt[name], trials=table)
        run["optimizers"].append(entry)
        if bar is not None:
            bar.update(1)
    return run


def _check_request(surface, optimizers, steps, start, lr, opt, noise, seed, animate, out, formats):
    """Every option checked before anything runs or is written: (surfaces, optimizers, lr, formats)."""
    from paddle_mnist.analysis.style import parse_formats  # analysis imports this module: import late

    names = check_surfaces(surface)
    if isinstance(optimizers, str):
        optimizers = [o.strip() for o in optimizers.split(",") if o.strip()]
    if not optimizers:
        raise ConfigError("--optimizers: no optimizer given, e.g. --optimizers sgd,adam")
    for name in optimizers:
        check_optimizer(name, option="--optimizers")
    if steps is not None:
        check_steps(steps)
    check_noise_seed(noise, seed)
    lr = check_lr(lr)
    formats = parse_formats(formats)
    if animate and out is None:
        raise ConfigError("--animate needs an output directory (out=...) for the GIF")
    for name in names:
        check_start(start, SURFACES[name])
    split_overrides(optimizers, opt)
    if out is not None:
        ensure_writable_dir(out)
    return names, list(optimizers), lr, formats


def paths(surface="ravine", optimizers=DEFAULT_OPTIMIZERS, *, steps=None, start=None, lr="auto",
          opt=None, noise=0.0, seed=0, animate=False, out=None, formats=("png",), show=False,
          progress=True):
    """Optimizer paths on one surface or several (``surface="all"``).

    Returns ``{"runs": {surface: run}, "figures": {surface: Figure}, "files": [...]}``; each run is
    what ``OUT/paths_<surface>.json`` holds. With ``out``, also writes the JSON, the figure
    (``paths_<surface>.png``) and with ``animate`` a GIF; without it, nothing is written.
    ``opt`` = {"momentum": 0.5}: each key goes to every optimizer that has that option.
    """
    from paddle_mnist.analysis.paths import figure_paths, save_animation  # it imports this module
    from paddle_mnist.analysis.style import save_figure

    names, optimizers, lr, formats = _check_request(surface, optimizers, steps, start, lr, opt, noise, seed,
                                                    animate, out, formats)
    result = {"runs": {}, "figures": {}, "files": []}
    bar = tqdm(total=len(names) * len(optimizers), desc="paths", unit="optimizer", disable=not progress)
    try:
        for name in names:
            bar.set_postfix_str(name)
            run = run_surface(SURFACES[name], optimizers, steps=steps, start=start, lr=lr,
                              overrides=opt, noise=noise, seed=seed, bar=bar)
            result["runs"][name] = run
            result["figures"][name] = fig = figure_paths(run, show=show)
            if out is not None:
                path = os.path.join(out, f"paths_{name}.json")
                write_json(path, run)
                result["files"] += [path] + save_figure(fig, out, f"paths_{name}", formats)
                if animate:
                    result["files"].append(save_animation(run, os.path.join(out, f"paths_{name}.gif")))
    finally:
        bar.close()
    return result
