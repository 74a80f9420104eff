"""``train --sharpness-every N``: the Hessian's top eigenvalue λmax while the run trains.

Gradient descent with learning rate lr is stable along a direction of curvature λ only while
λ < 2/lr (on the quadratic ½λx², x ← (1 − lr·λ)x grows once lr·λ > 2). Cohen et al. (ICLR 2021)
found that full-batch training raises λmax until it reaches that line and then stays there: the
"edge of stability". This module measures λmax during a run, so the course's "the lr is too large"
becomes a picture: λmax against its stability line.

What is measured, on a fixed subset of M training images (``runpoint.subset_indices``, the same
rule ``train --train-images`` and ``hessian`` use, so with M = N a full-batch run is measured on
exactly the images it trains on; default M = ``DEFAULT_IMAGES``, or every training image when fewer):

* ``lambda_max``: the largest eigenvalue of the loss's Hessian H, by Lanczos started from the
  previous measurement's top eigenvector (a warm start: the sharpest direction moves little in N
  steps; the first point starts from a random vector). Lanczos stops as soon as its top pair (θ, y)
  has a residual ‖Hy − θy‖ of at most ``TOLERANCE``·θ (then an eigenvalue of H lies within that of
  θ), or after ``LANCZOS_STEPS`` products (``COLD_STEPS`` from a random start). Each point records
  its ``products`` and that relative ``residual``. A warm start usually stops after a few products:
  this is what keeps the measuring cheap. The products H·v are ``hvp.HessianOperator``'s on all M
  images at once (double backward for linear and mlp; for the CNN one-sided finite differences with
  its ReLU/max-pool pattern held, reusing the gradient the point measures anyway).
* ``preconditioned`` (Adam and AdamW only, else null): the largest eigenvalue of P⁻¹H, where
  P = diag((1 − β1ᵗ)(√v̂ + ε)) is the matrix of the step Adam just took, w ← w − lr·P⁻¹m (m its
  first moment, v̂ = v/(1 − β2ᵗ) from the optimizer's own state). That step is heavy-ball momentum on
  P⁻¹H, stable while its top eigenvalue stays below (2 + 2β1)/((1 − β1)·lr) = 38/lr for β1 = 0.9
  (Cohen et al. 2022). Computed as the top eigenvalue of the symmetric P^-½ H P^-½ (same spectrum).
* ``grad_norm`` and ``loss``: the gradient's norm and the loss on the same images.
* ``threshold``: the stability line at this step's lr (``stability_rule``); null where none is known.

Points are taken before the first step (step 0), after every N-th step and after the last one.
They sit in the run record (``record["sharpness"]["points"]``), which is written after every epoch:
a killed run keeps every finished epoch's points and ``--resume`` continues the series (its first
point after the resume starts Lanczos afresh, the warm-start vector is not saved).
"""

import time

import numpy as np
from scipy.linalg import eigh_tridiagonal

from paddle_mnist.core.errors import ConfigError
from paddle_mnist.core.optim import OPTIMIZERS
from paddle_mnist.core.weights import get_flat, trainable
from paddle_mnist.runners.hvp import HessianOperator
from paddle_mnist.runners.runpoint import SUBSET_RULE, subset_indices

DEFAULT_IMAGES = 500  # images λmax is measured on when --sharpness-images is not given
TOLERANCE = 0.01      # Lanczos stops once ‖Hy − θy‖ ≤ TOLERANCE·θ for its top pair (θ, y) ...
LANCZOS_STEPS = 16    # ... or after this many H·v products from a warm start
COLD_STEPS = 24       # ... or this many from a random start (the first point, and the first after a resume)
PRECONDITIONED = ("adam", "adamw")  # optimizers whose step is w - lr·P⁻¹m with P read from their state
START_SEED = 0        # the random start vector of the first measurement


def stability_rule(optimizer, opt_args):
    """(which value the line applies to, the rule as text, threshold(lr)) for an optimizer, or
    (None, None, None) when no line is known (e.g. rmsprop, adagrad)."""
    args = dict(OPTIMIZERS[optimizer].defaults, **opt_args) if optimizer in OPTIMIZERS else dict(opt_args)
    if optimizer == "sgd":
        return "lambda_max", "2/lr", lambda lr: 2 / lr
    if optimizer in ("momentum", "nesterov"):
        beta = float(args.get("momentum", 0.9))
        if args.get("use_nesterov"):  # w -= lr·(g + β·v)
            return ("lambda_max", f"(2+2β)/((1+2β)·lr), β = {beta:g}",
                    lambda lr: (2 + 2 * beta) / ((1 + 2 * beta) * lr))
        return "lambda_max", f"(2+2β)/lr, β = {beta:g}", lambda lr: (2 + 2 * beta) / lr
    if optimizer in PRECONDITIONED:
        beta1 = float(args.get("beta1", 0.9))
        return ("preconditioned", f"(2+2β1)/((1−β1)·lr), β1 = {beta1:g}",
                lambda lr: (2 + 2 * beta1) / ((1 - beta1) * lr))
    return None, None, None


def check_sharpness(config, n_train):
    """Refuse a bad --sharpness-images before any work; returns the number of images to measure on."""
    if config.sharpness_every is None:
        if config.sharpness_images is not None:
            raise ConfigError("--sharpness-images needs --sharpness-every N (how often to measure)")
        return None
    if config.sharpness_images is not None and config.sharpness_images > n_train:
        raise ConfigError(f"--sharpness-images must be at most {n_train} (the images the run trains on), "
                          f"not {config.sharpness_images}")
    return config.sharpness_images or min(DEFAULT_IMAGES, n_train)


def lanczos_top(matvec, start, steps=LANCZOS_STEPS, tolerance=TOLERANCE):
    """Largest eigenvalue θ, its unit eigenvector y, the products taken and the relative residual
    ‖Hy − θy‖/|θ| of a symmetric operator, by Lanczos from `start` (full reorthogonalisation: a handful
    of vectors). Stops at `steps` products or once that residual is at most `tolerance`: Lanczos
    knows it without another product (β_k times the last entry of the small eigenvector). scipy's
    eigsh cannot start from a vector and stop after two products; this loop can."""
    basis = [start / np.linalg.norm(start)]
    alphas, betas = [], []
    for j in range(steps):
        w = matvec(basis[j])
        alphas.append(float(w @ basis[j]))
        q = np.array(basis)
        w = w - q.T @ (q @ w)
        w = w - q.T @ (q @ w)  # twice: rounding leaves a little of the basis in w
        beta = float(np.linalg.norm(w))
        values, vectors = eigh_tridiagonal(np.array(alphas), np.array(betas))
        residual = beta * abs(vectors[-1, -1]) / max(abs(values[-1]), 1e-300)
        if j == steps - 1 or residual <= tolerance or beta <= 1e-8 * abs(alphas[0]):
            break
        betas.append(beta)
        basis.append(w / beta)
    vector = np.array(basis).T @ vectors[:, -1]
    return float(values[-1]), vector / np.linalg.norm(vector), len(alphas), float(residual)


def adam_preconditioner(optimizer, params):
    """The diagonal of P, (1 − β1ᵗ)(√v̂ + ε), of the step Adam/AdamW just took, flat (None before the
    first step). Paddle keeps βᵗ for the *next* step in its beta pow accumulators: divide by β once."""
    state = optimizer.state_dict()
    beta1, beta2, eps = (float(getattr(optimizer, a)) for a in ("_beta1", "_beta2", "_epsilon"))
    pieces = []
    for p in params:
        keys = [f"{p.name}_{k}_0" for k in ("moment2", "beta1_pow_acc", "beta2_pow_acc")]
        if not all(k in state for k in keys):
            return None
        v, b1_pow, b2_pow = (np.asarray(state[k].numpy(), dtype=np.float64) for k in keys)
        b1_t, b2_t = float(b1_pow.ravel()[0]) / beta1, float(b2_pow.ravel()[0]) / beta2
        pieces.append(((1 - b1_t) * (np.sqrt(v / (1 - b2_t)) + eps)).ravel())
    return np.concatenate(pieces)


class SharpnessLog:
    """Measures and records the sharpness series of a run (see the module docstring); does nothing
    when ``config.sharpness_every`` is None. `train_split`: the data file's whole train split (the
    measured images are drawn from it by the subset rule). Takes the step-0 point when created."""

    def __init__(self, config, run, train_split, record):
        self.every, self.run = config.sharpness_every, run
        self.step = len(record["steps"]["loss"])  # a resumed run's steps so far
        old = record.get("sharpness") or {}
        if old:  # a resumed run: its points up to the resumed step
            old["points"] = [p for p in old["points"] if p["step"] <= self.step]
        if not self.every:
            return
        images = check_sharpness(config, record["data"]["sizes"]["train"])
        chosen = subset_indices(len(train_split.labels), images)
        self.images, self.labels = train_split.images[chosen], train_split.labels[chosen]
        self.loss, self.params = config.loss, trainable(run.model)
        self.of, rule, self.threshold = stability_rule(config.optimizer, config.opt_args)
        self.vector = self.p_vector = None
        self.method = "auto"
        self.series = record["sharpness"] = {
            "every": self.every, "images": images, "subset": SUBSET_RULE,
            "tolerance": TOLERANCE, "lanczos_steps": LANCZOS_STEPS, "cold_steps": COLD_STEPS,
            "method": old.get("method"), "difference": "forward", "stability": {"of": self.of, "rule": rule},
            "preconditioner": ("diag((1-beta1^t)(sqrt(v_hat)+eps)) of the step just taken"
                               if config.optimizer in PRECONDITIONED else None),
            "seconds": old.get("seconds", 0.0),
            "points": old.get("points", [])}
        if not self.series["points"] or self.series["points"][-1]["step"] != self.step:
            self.measure()

    def on_step(self):
        """After each optimizer step."""
        if self.every:
            self.step += 1
            if self.step % self.every == 0:
                self.measure()

    def finish(self, record):
        """At the end of a run: the last step's point (if not taken yet), and no point past the
        record's last step (a diverged run's record ends where the divergence rule fired)."""
        if not self.every:
            return
        last = len(record["steps"]["loss"])
        self.series["points"] = [p for p in self.series["points"] if p["step"] <= last]
        if self.step == last and self.series["points"][-1]["step"] != last and record.get("divergence") is None:
            self.measure()

    def measure(self):
        """One point of the series at the current weights."""
        start = time.perf_counter()
        lr = float(self.run.optimizer.get_lr())
        point = {"step": self.step, "lambda_max": None, "preconditioned": None, "grad_norm": None,
                 "loss": None, "lr": lr, "threshold": self.threshold(lr) if self.threshold else None,
                 "products": 0, "residual": None}
        if np.all(np.isfinite(get_flat(self.params))):
            # all images in one chunk: one pass per product, and the exact method keeps its graph;
            # finite differences (the CNN) one-sided: one gradient per product
            with HessianOperator(self.run.model, self.images, self.labels, self.loss, self.method,
                                 chunk=len(self.labels), difference="forward") as op:
                self.method = self.series["method"] = op.method
                point.update(self._values(op))
        self.run.model.train()  # the operator put the network in eval mode
        self.series["points"].append(point)
        self.series["seconds"] += time.perf_counter() - start

    def _values(self, op):
        """λmax, the preconditioned value, the gradient norm and the loss at the operator's weights."""
        rng = np.random.default_rng(START_SEED)
        loss, grad = op.at_base()
        values = {"loss": _finite(loss), "grad_norm": _finite(np.linalg.norm(grad))}
        top, self.vector, products, residual = lanczos_top(op, *_start(self.vector, rng, op.dim))
        values.update(lambda_max=_finite(top), products=products, residual=_finite(residual))
        p = adam_preconditioner(self.run.optimizer, self.params) if self.of == "preconditioned" else None
        if p is not None:
            scale = 1 / np.sqrt(p)
            top, self.p_vector, products, _ = lanczos_top(lambda u: scale * op(scale * u),
                                                          *_start(self.p_vector, rng, op.dim))
            values.update(preconditioned=_finite(top), products=values["products"] + products)
        # a vector with NaN in it would poison every later start
        self.vector = self.vector if values["lambda_max"] is not None else None
        self.p_vector = self.p_vector if values.get("preconditioned") is not None else None
        return values


def _start(previous, rng, dim):
    """(start vector, Lanczos steps): warm from the previous eigenvector, else cold with more steps."""
    if previous is not None:
        return previous, LANCZOS_STEPS
    return rng.standard_normal(dim), COLD_STEPS


def _finite(x):
    x = float(x)
    return x if np.isfinite(x) else None
