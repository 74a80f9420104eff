"""Hessian-vector products H·v of a network's mean loss on a fixed subset: all Lanczos needs.

Two ways, chosen automatically by ``HessianOperator``:

* ``double_backward`` (exact): ``paddle.grad(..., create_graph=True)`` twice. Paddle's
  ``cross_entropy``/``log_softmax``/``softmax``/``mean`` kernels have no second derivative in
  dygraph, so the loss is written again with ops that have one (``smooth_loss``; tests check it
  equals ``paddle_mnist.core.loss``). Used for ``linear`` and ``mlp``.
* ``finite_difference``: (∇L(w + εv) − ∇L(w − εv)) / 2ε, for networks Paddle cannot differentiate
  twice (or, with ``difference="forward"``, (∇L(w + εv) − ∇L(w)) / ε: one gradient per product
  instead of two, ∇L(w) computed once; ``train --sharpness-every`` uses it, where it read λmax within
  0.07 % of the central one on the CNN, at its initial weights and after 30 full-batch steps): the course's CNN (max-pool has no second derivative; conv's double grad misses the
  filter-filter block). Two choices make it accurate (measured on the CNN after 3 epochs of SGD,
  against the same differences in float64 with a 1,000x smaller step: λmax 146.06 against 146.00):

  - ε is scaled to each parameter tensor: no tensor moves by more than ``FD_STEP`` of its own norm.
    One global step ‖εv‖ = 3e-3·‖w‖ moved the CNN's tiny biases (norm 0.02-0.04, where a third of
    its sharpest direction lives) by their whole size, and λmax came out 11 % high (162.6).
    On ``mlp`` the rule gives products within 7e-4 of the exact ones (float32 rounding).
  - for the course's CNN the ReLU on/off pattern and the max-pool winners are held at those of the
    base weights (``record_pattern``/``replay``: the same value and gradient there). The CNN's loss
    has a kink wherever a ReLU or a max-pool switches, and ±εv crosses thousands of them among 1,000
    images: with the pattern held, zᵀHz for a random z stays within 0.2 % from ε/30 to ε, without it
    it jumps by 20 %. The result is the Hessian autograd would give (the one PyHessian reports).

  Gradients are summed over chunks in float64. Paddle's CPU kernels run the CNN on one core (two
  threads were no faster: its GEMMs are one image small), so the images are split between worker
  processes, one per core (``workers``); each holds its share and returns its part of the gradient.
"""

import multiprocessing
import time

import numpy as np
import paddle
import paddle.nn.functional as F
from scipy.sparse.linalg import LinearOperator

from paddle_mnist.core import runtime
from paddle_mnist.core.errors import ConfigError, PaddleMnistError
from paddle_mnist.core.loss import build_loss
from paddle_mnist.core.model import MNIST, MODELS, build_model
from paddle_mnist.core.weights import get_flat, set_flat, trainable

METHODS = ("auto", "double_backward", "finite_difference")
CHUNK = 250       # images per forward pass
FD_STEP = 3e-3    # finite differences: no parameter tensor moves by more than this share of its norm
FD_FLOOR = 1e-3   # ... where a tensor's norm counts as at least this share of ‖w‖ (zero biases at init)
# what a saved measurement was made with: a sweep reuses a run's hessian.json only when this matches
VERSION = (f"double backward with the smooth loss; central differences, {FD_STEP:g} per tensor "
           f"(floor {FD_FLOOR:g}), the CNN's pattern held")


def log_sum_exp(logits):
    """log Σ_k exp(z_k) as a running sum, log(e^a + e^b) = a + softplus(b − a): exact, stable, and
    made of ops that Paddle 2.6 and 3.x both differentiate twice (2.6 cannot do exp, 3.3 logsumexp)."""
    total = logits[:, 0]
    for k in range(1, logits.shape[1]):
        total = total + F.softplus(logits[:, k] - total)
    return total


def smooth_loss(name):
    """The run's loss (``paddle_mnist.core.loss``) with twice-differentiable ops: (logits, onehot) -> mean."""
    if name not in ("cross_entropy", "nll", "mse"):
        raise ConfigError(f"unknown loss {name!r}")

    def loss(logits, onehot):
        log_p = logits - log_sum_exp(logits).unsqueeze(-1)  # log-softmax
        if name == "mse":
            # exp(u) as sigmoid(u)/sigmoid(−u): Paddle 2.6 has no second derivative of exp
            probs = F.sigmoid(log_p) / F.sigmoid(-log_p)
            per_image = paddle.square(probs - onehot).sum(axis=-1)
        else:  # cross_entropy and nll are the same function (loss.py)
            per_image = -(log_p * onehot).sum(axis=-1)
        return per_image.sum() * (1.0 / logits.shape[0])  # not .mean(): no double grad on Paddle 3

    return loss


def no_double_backward(model):
    """Why Paddle cannot differentiate `model` twice (None when it can, as far as we know).

    Measured on Paddle 2.6.2 and 3.3.1: max-pool has no second derivative, and conv's double grad
    leaves out the filter-filter block (Hv of sum(conv(x, W)²) in W comes back empty), so a network
    with either gets finite differences even where double backward runs without an error."""
    nn = paddle.nn
    kinds = {"max-pool has no second derivative in Paddle": (nn.MaxPool1D, nn.MaxPool2D, nn.MaxPool3D),
             "conv's double grad in Paddle leaves out the filter-filter block": (nn.Conv1D, nn.Conv2D, nn.Conv3D)}
    found = [why for why, types in kinds.items() if any(isinstance(m, types) for m in model.sublayers())]
    return "; ".join(found) or None


# ---------------------------------------------------------------------------------------------
# The course's CNN with its ReLU and max-pool pattern held fixed
# ---------------------------------------------------------------------------------------------

def _blocks(model):
    return ((model.conv1, model.pool1), (model.conv2, model.pool2))


def record_pattern(model, x):
    """For the course's CNN at its current weights: which input won each max-pool window and which
    ReLU is on, per block (compact numpy arrays: int16 winners, bool on/off)."""
    pattern, h = [], x
    with paddle.no_grad():
        for conv, pool in _blocks(model):
            y = F.conv2d(h, conv.weight, stride=conv._stride, padding=conv._padding)
            pooled, winners = F.max_pool2d(y, pool.ksize, pool.stride, return_mask=True)
            pre = pooled + conv.bias.reshape([-1, 1, 1])
            pattern.append((winners.numpy().astype(np.int16), (pre > 0).numpy()))
            h = F.relu(pre)
    return pattern


def replay(model, x, pattern):
    """The course's CNN with a recorded pattern: the max-pool picks the recorded winners and the ReLU
    passes where it did. At the recording weights this is ``model(x)``, value and gradient; around
    them it is smooth in the weights (a polynomial through the softmax)."""
    h = x
    for (conv, _), (winners, on) in zip(_blocks(model), pattern):
        y = F.conv2d(h, conv.weight, stride=conv._stride, padding=conv._padding)
        b, c, rows, cols = y.shape
        index = paddle.to_tensor(winners.reshape(b, c, -1).astype(np.int64))
        pooled = paddle.take_along_axis(y.reshape([b, c, rows * cols]), index, axis=2).reshape(
            [b, c] + list(winners.shape[2:]))
        h = (pooled + conv.bias.reshape([-1, 1, 1])) * paddle.to_tensor(on.astype(np.float32))
    return model.fc(h.reshape([h.shape[0], -1]))


# ---------------------------------------------------------------------------------------------
# H·v on a fixed subset
# ---------------------------------------------------------------------------------------------

class HessianOperator:
    """H·v of the mean loss of `model` over (images, labels), for flat float64 vectors v.

    ``method``: "auto" (double backward when the network allows it, else finite differences),
    "double_backward" or "finite_difference". ``count`` is the number of products so far.
    ``workers``: processes sharing the images for finite differences (None: one per usable core,
    at most one per chunk of images; exact products stay in this process). ``close()`` (or a
    ``with`` block) stops them."""

    def __init__(self, model, images, labels, loss="cross_entropy", method="auto", chunk=CHUNK, workers=1,
                 difference="central"):
        self.model, self.params = model, trainable(model)
        self.sizes = [int(np.prod(p.shape)) for p in self.params]
        self.dim = sum(self.sizes)
        self.w0 = get_flat(self.params)
        self.images, self.labels = np.asarray(images, np.float32), np.asarray(labels).reshape(-1)
        self.loss_name, self.loss_fn, self.smooth_fn = loss, build_loss(loss), smooth_loss(loss)
        self.chunk = chunk
        self.count, self.seconds = 0, 0.0
        model.eval()
        self.method, self.reason = self._choose(method)
        # each tensor's scale for the step: its norm, but never below FD_FLOOR·‖w‖ (tiny or zero biases)
        floor = FD_FLOOR * max(float(np.linalg.norm(self.w0)), 1.0)
        self.scales = [max(float(np.linalg.norm(w)), floor) for w in self._pieces(self.w0)]
        self.patterns = None  # the CNN's ReLU/max-pool pattern per chunk, recorded at w0
        self.graph = None  # double backward on one chunk: its gradient graph, kept for every product
        self.difference, self.base = difference, None  # base: (loss, gradient) at w0, once computed
        self.shards, self.workers = None, 1
        self.holds_pattern = self.method == "finite_difference" and isinstance(model, MNIST)
        if self.method == "finite_difference":
            self.workers = self._worker_count(workers)
            if self.workers > 1:
                self.shards = Shards(model, self.images, self.labels, loss, self.workers, chunk)
            elif self.holds_pattern:
                self.patterns = [record_pattern(model, x) for x, _, _ in self._chunks()]

    def _worker_count(self, asked):
        """At most one process per core and per chunk; one for a network a worker cannot rebuild
        by name (not one of ``model.MODELS``)."""
        if type(self.model) not in MODELS.values():
            return 1
        chunks = -(-len(self.labels) // self.chunk)
        return min(runtime.usable_cores() if asked is None else asked, chunks)

    def close(self):
        if self.shards is not None:
            self.shards.close()
            self.shards = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _pieces(self, flat):
        return np.split(flat, np.cumsum(self.sizes)[:-1])

    def _flat(self, tensors):
        return np.concatenate([t.numpy().astype(np.float64).ravel() for t in tensors])

    def _chunks(self):
        n = len(self.labels)
        for i in range(0, n, self.chunk):
            x = paddle.to_tensor(self.images[i:i + self.chunk])
            y = paddle.to_tensor(self.labels[i:i + self.chunk].astype(np.int64))
            yield x, y, len(y) / n

    def _forward(self, x, i):
        """The network, or for the course's CNN under finite differences its pattern-fixed replay."""
        if self.patterns is None:
            return self.model(x)
        return replay(self.model, x, self.patterns[i])

    def loss_and_gradient(self):
        """Loss and gradient at the current weights, summed over chunks in float64."""
        if self.shards is not None:
            return self.shards.loss_and_gradient(get_flat(self.params))
        loss, grad = 0.0, np.zeros(self.dim)
        for i, (x, y, share) in enumerate(self._chunks()):
            value = self.loss_fn(self._forward(x, i), y.reshape([-1, 1])) * share
            grad += self._flat(paddle.grad(value, self.params))
            loss += float(value)
        return loss, grad

    def _gradient_graph(self, x, y, share):
        """The gradient of a chunk's smooth loss, with its graph (create_graph): H·v is its derivative."""
        logits = self.model(x)
        onehot = F.one_hot(y, num_classes=logits.shape[-1]).astype(logits.dtype)
        return paddle.grad(self.smooth_fn(logits, onehot) * share, self.params, create_graph=True)

    def at_base(self):
        """Loss and gradient at the operator's weights w0, computed once."""
        if self.base is None:
            self.base = self.loss_and_gradient()
        return self.base

    def _double_backward(self, v, images=None):
        vs = [paddle.to_tensor(piece.reshape(p.shape).astype(np.float32))
              for piece, p in zip(self._pieces(v), self.params)]
        if images is None and len(self.labels) <= self.chunk:  # one chunk: its graph serves every product
            if self.graph is None:  # (the weights never change while the operator lives)
                self.graph = self._gradient_graph(*next(self._chunks()))
            g_dot_v = sum((g * u).sum() for g, u in zip(self.graph, vs))
            return self._flat(paddle.grad(g_dot_v, self.params, retain_graph=True))
        hv = np.zeros(self.dim)
        for x, y, share in self._chunks() if images is None else [images]:
            grads = self._gradient_graph(x, y, share)
            hv += self._flat(paddle.grad(sum((g * u).sum() for g, u in zip(grads, vs)), self.params))
        return hv

    def step(self, v):
        """ε for direction v: the largest tensor move ε·‖v_g‖ is FD_STEP times that tensor's norm."""
        ratio = max(float(np.linalg.norm(piece)) / s for piece, s in zip(self._pieces(v), self.scales))
        return FD_STEP / max(ratio, 1e-300)

    def _gradient_at(self, w):
        if self.shards is not None:
            return self.shards.loss_and_gradient(w)[1]
        try:
            set_flat(self.params, w)
            return self.loss_and_gradient()[1]
        finally:
            set_flat(self.params, self.w0)

    def _finite_difference(self, v):
        eps = self.step(v)
        if self.difference == "forward":
            return (self._gradient_at(self.w0 + eps * v) - self.at_base()[1]) / eps
        return (self._gradient_at(self.w0 + eps * v) - self._gradient_at(self.w0 - eps * v)) / (2 * eps)

    def _choose(self, method):
        """Double backward where Paddle can do it (tried once on two images), else finite differences."""
        if method not in METHODS:
            raise ConfigError(f"--method must be one of {', '.join(METHODS)}, not {method!r}")
        if method != "auto":
            return method, "asked for"
        reason = no_double_backward(self.model)
        if reason:
            return "finite_difference", reason
        try:
            x = paddle.to_tensor(self.images[:2])
            y = paddle.to_tensor(self.labels[:2].astype(np.int64))
            self._double_backward(np.ones(self.dim), images=(x, y, 1.0))
        except (RuntimeError, ValueError) as e:  # "The Op ... doesn't have any grad op"
            return "finite_difference", f"no double backward: {str(e).splitlines()[0][:120]}"
        return "double_backward", "exact (paddle.grad with create_graph=True)"

    def __call__(self, v):
        v = np.asarray(v, dtype=np.float64).ravel()
        start = time.perf_counter()
        hv = self._double_backward(v) if self.method == "double_backward" else self._finite_difference(v)
        self.count += 1
        self.seconds += time.perf_counter() - start
        return hv

    def as_linear_operator(self, shift=0.0, bar=None):
        """(H − shift·I) as a scipy LinearOperator (a shift moves eigsh's stopping rule)."""
        def matvec(v):
            if bar is not None:
                bar.update(1)
            v = np.asarray(v, dtype=np.float64).ravel()
            return self(v) - shift * v
        return LinearOperator((self.dim, self.dim), matvec=matvec, dtype=np.float64)


# ---------------------------------------------------------------------------------------------
# Worker processes, each with a share of the images (finite differences on several cores)
# ---------------------------------------------------------------------------------------------

class Shards:
    """`workers` processes, each holding whole chunks of the images (the same chunks as in one
    process, so each chunk's gradient is computed exactly as there) and answering, for a weight
    vector, its share of the loss and of the gradient."""

    def __init__(self, model, images, labels, loss, workers, chunk):
        name = next(n for n, cls in MODELS.items() if type(model) is cls)
        state = {k: v.numpy() for k, v in model.state_dict().items()}
        chunks = -(-len(labels) // chunk)
        bounds = [round(i * chunks / workers) * chunk for i in range(workers + 1)]
        context = multiprocessing.get_context("spawn")  # never fork a process that runs Paddle
        self.pipes, self.processes = [], []
        for a, b in zip(bounds, bounds[1:]):
            here, there = context.Pipe()
            shard = (images[a:b], labels[a:b], len(labels[a:b]) / len(labels))
            process = context.Process(target=_shard_loop, args=(there, name, state, shard, loss, chunk), daemon=True)
            process.start()
            self.pipes.append(here)
            self.processes.append(process)

    def loss_and_gradient(self, flat):
        for pipe in self.pipes:
            pipe.send(flat)
        parts = []
        for pipe in self.pipes:  # summed in shard order: the same result every time
            try:
                answer = pipe.recv()
            except EOFError:
                raise PaddleMnistError("a worker process of the Hessian-vector products died") from None
            if isinstance(answer, BaseException):
                raise answer
            parts.append(answer)
        return sum(loss for loss, _ in parts), sum(grad for _, grad in parts)

    def close(self):
        for pipe in self.pipes:
            try:
                pipe.send(None)
            except OSError:
                pass
        for process in self.processes:  # a worker leaves its loop on None; a busy machine may take a while
            process.join(timeout=30)
            if process.is_alive():
                process.terminate()


def _shard_loop(pipe, name, state, shard, loss, chunk):
    """A worker: build the network, then answer weight vectors until it gets None."""
    paddle.disable_signal_handler()  # a stopped worker dies quietly: no C++ "Termination signal" trace
    runtime.sweep_worker_start()  # one thread, dies with its parent
    model = build_model(name)
    model.set_state_dict({k: paddle.to_tensor(v) for k, v in state.items()})
    images, labels, share = shard
    op = HessianOperator(model, images, labels, loss, "finite_difference", chunk, workers=1)
    while (flat := pipe.recv()) is not None:
        try:
            set_flat(op.params, flat)
            loss_value, grad = op.loss_and_gradient()
            pipe.send((loss_value * share, grad * share))
        except Exception as e:  # re-raised in the parent
            pipe.send(e)
