"""Optimizer registry and learning-rate schedules: every name builds and acts as documented."""

import inspect
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import paddle
import pytest

from paddle_mnist.core import optim, schedules
from paddle_mnist.core.errors import ConfigError
from paddle_mnist.core.model import MNIST

REPO = Path(__file__).resolve().parents[1]


def make_model(seed=0):
    paddle.seed(seed)
    return MNIST()


def batch(seed=0, n=4):
    rng = np.random.default_rng(seed)
    x = paddle.to_tensor(rng.random((n, 1, 28, 28), dtype=np.float32))
    y = paddle.to_tensor(rng.integers(0, 10, (n, 1)).astype(np.int64))
    return x, y


def params(model):
    return {k: v.numpy().copy() for k, v in model.state_dict().items()}


def train_step(model, opt, seed=0):
    """One step; returns (params before, grads, params after)."""
    x, y = batch(seed)
    loss = paddle.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    before = params(model)
    grads = {k: p.grad.numpy().copy() for k, p in model.named_parameters()}
    opt.step()
    opt.clear_grad()
    return before, grads, params(model)


def linear_steps(opt_name, steps=2, **kwargs):
    """Deltas of a Linear layer whose gradient is the same every step (loss linear in the weights)."""
    paddle.seed(0)
    layer = paddle.nn.Linear(3, 2)
    x = paddle.to_tensor([[1.0, 2.0, -1.0]])
    opt = optim.build_optimizer(opt_name, layer.parameters(), 0.1, **kwargs)
    deltas = []
    for _ in range(steps):
        w = layer.weight.numpy().copy()
        layer(x).sum().backward()
        opt.step()
        opt.clear_grad()
        deltas.append(w - layer.weight.numpy())
    grad = np.array([[1.0, 1.0], [2.0, 2.0], [-1.0, -1.0]], dtype=np.float32)
    return deltas, grad


# ----------------------------------------------------------------------------- registry

def test_registry_has_the_twelve_names():
    assert list(optim.OPTIMIZERS) == ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adadelta", "adam",
                                      "amsgrad", "adamax", "adamw", "radam", "nadam"]
    assert [o["name"] for o in optim.list_optimizers()] == list(optim.OPTIMIZERS)
    assert optim.list_optimizers()[2]["class"] == "paddle.optimizer.Momentum"


def on_this_paddle(names):
    """Parameters for each optimizer; one this Paddle lacks is skipped with the reason."""
    return [pytest.param(n, marks=pytest.mark.skipif(not optim.OPTIMIZERS[n].available,
                                                     reason=f"{n} needs Paddle >= {optim.OPTIMIZERS[n].since}"))
            for n in names]


@pytest.mark.parametrize("name", on_this_paddle(optim.OPTIMIZERS))
def test_defaults_match_paddle_signature(name):
    cls, defaults = optim.OPTIMIZERS[name].cls, optim.OPTIMIZERS[name].defaults
    signature = inspect.signature(cls).parameters
    for key, value in defaults.items():
        assert key in signature, f"{name}: {cls.__name__} has no argument {key}"
        paddle_default = signature[key].default
        if isinstance(paddle_default, bool):
            assert isinstance(value, bool)
        elif isinstance(paddle_default, (int, float)):
            assert isinstance(value, (int, float)) and not isinstance(value, bool)


@pytest.mark.skipif(not optim.OPTIMIZERS["amsgrad"].available, reason="Paddle 2.6's Adam has no amsgrad")
def test_amsgrad_is_supported_by_paddle_adam():
    assert inspect.signature(paddle.optimizer.Adam).parameters["amsgrad"].default is False
    spec = optim.OPTIMIZERS["amsgrad"]
    assert (spec.cls, spec.defaults) == (paddle.optimizer.Adam, {**optim.OPTIMIZERS["adam"].defaults, "amsgrad": True})


@pytest.mark.parametrize("name", on_this_paddle(optim.OPTIMIZERS))
def test_every_optimizer_takes_a_step(name):
    model = make_model()
    opt = optim.build_optimizer(name, model.parameters(), optim.OPTIMIZERS[name].typical_lr)
    assert isinstance(opt, optim.OPTIMIZERS[name].cls)
    before, _, after = train_step(model, opt)
    for key in before:
        assert np.abs(after[key] - before[key]).max() > 0, f"{name} did not move {key}"
        assert np.isfinite(after[key]).all()


def test_sgd_step_is_lr_times_grad():
    model = make_model()
    before, grads, after = train_step(model, optim.build_optimizer("sgd", model, 0.1))
    for key in before:
        np.testing.assert_allclose(before[key] - after[key], 0.1 * grads[key], rtol=1e-5, atol=1e-7)


def test_momentum_default_and_override_change_the_second_step():
    # velocity v = mu * v + g; second step / first step = 1 + mu for a constant gradient
    (d1, d2), grad = linear_steps("momentum")
    np.testing.assert_allclose(d1, 0.1 * grad, rtol=1e-5)
    np.testing.assert_allclose(d2, 1.9 * d1, rtol=1e-5)
    (d1, d2), _ = linear_steps("momentum", momentum=0.5)
    np.testing.assert_allclose(d2, 1.5 * d1, rtol=1e-5)


def test_nesterov_looks_ahead_on_the_first_step():
    (d1,), grad = linear_steps("nesterov", steps=1)
    np.testing.assert_allclose(d1, 0.1 * 1.9 * grad, rtol=1e-5)  # (g + mu * (mu*0 + g)) * lr


def test_override_lands_on_adam_betas():
    model = make_model()
    opt = optim.build_optimizer("adam", model, 1e-3, beta1=0.5, epsilon=1e-7)
    assert opt._beta1 == 0.5 and opt._epsilon == 1e-7


def test_unknown_optimizer_lists_all_names():
    with pytest.raises(ConfigError) as e:
        optim.build_optimizer("adamm", make_model().parameters(), 0.1)
    for name in optim.OPTIMIZERS:
        assert name in str(e.value)
    assert "'adamm'" in str(e.value)


def test_unknown_override_lists_the_class_keywords():
    with pytest.raises(ConfigError) as e:
        optim.build_optimizer("momentum", make_model().parameters(), 0.1, beta1=0.9)
    msg = str(e.value)
    assert "'beta1'" in msg and "momentum" in msg and "use_nesterov" in msg and "rescale_grad" in msg
    assert "parameters" not in msg  # build_optimizer sets that itself


@pytest.mark.parametrize("overrides", [{"momentum": "fast"}, {"use_nesterov": 1}, {"momentum": float("nan")}])
def test_badly_typed_override_is_config_error(overrides):
    with pytest.raises(ConfigError, match="momentum"):
        optim.build_optimizer("momentum", make_model().parameters(), 0.1, **overrides)


@pytest.mark.parametrize("lr", [0, -0.1, "0.1", float("inf")])
def test_bad_learning_rate_is_config_error(lr):
    with pytest.raises(ConfigError, match="learning rate"):
        optim.build_optimizer("sgd", make_model().parameters(), lr)


def test_parse_overrides_converts_literals():
    got = optim.parse_overrides(["momentum=0.5", "use_nesterov=true", "amsgrad=False", "epsilon=1e-7",
                                 "milestones=[1, 2.5]", "anneal_strategy=linear", " patience = 3 "])
    assert got == {"momentum": 0.5, "use_nesterov": True, "amsgrad": False, "epsilon": 1e-7,
                   "milestones": [1, 2.5], "anneal_strategy": "linear", "patience": 3}
    assert optim.parse_overrides([]) == {} and optim.parse_overrides(None) == {}
    assert optim.parse_overrides(["momentum=0.1", "momentum=0.2"]) == {"momentum": 0.2}


@pytest.mark.parametrize("item", ["momentum", "=0.5", "two words=1"])
def test_parse_overrides_rejects_non_pairs(item):
    with pytest.raises(ConfigError, match="--schedule-arg"):
        optim.parse_overrides([item], option="--schedule-arg")


def test_cli_strings_build_an_optimizer():
    overrides = optim.parse_overrides(["momentum=0.5", "use_nesterov=True"])
    opt = optim.build_optimizer("momentum", make_model().parameters(), 0.1, **overrides)
    assert opt._momentum == 0.5 and opt._use_nesterov is True


# ----------------------------------------------------------------------------- weight decay, clipping

def test_sgd_weight_decay_is_l2_on_the_gradient():
    model = make_model()
    before, grads, after = train_step(model, optim.build_optimizer("sgd", model, 0.1, weight_decay=0.5))
    for key in before:
        np.testing.assert_allclose(before[key] - after[key], 0.1 * (grads[key] + 0.5 * before[key]),
                                   rtol=1e-4, atol=1e-7)


def test_adamw_weight_decay_is_decoupled():
    steps = {}
    for wd in (0.0, 0.5):
        model = make_model()
        steps[wd] = train_step(model, optim.build_optimizer("adamw", model, 0.01, weight_decay=wd))
    before = steps[0.0][0]
    for key in before:  # same Adam step; decay shrinks the weights by lr * wd * w beside it
        np.testing.assert_allclose(steps[0.0][2][key] - steps[0.5][2][key], 0.01 * 0.5 * before[key],
                                   rtol=1e-3, atol=1e-7)


def test_adamw_defaults_to_paddles_decay_and_zero_is_adam():
    results = {}
    for name, wd in (("adamw", None), ("adamw", 0.01), ("adamw", 0.0), ("adam", None)):
        model = make_model()
        results[name, wd] = train_step(model, optim.build_optimizer(name, model, 0.01, weight_decay=wd))[2]
    for key in results["adam", None]:
        np.testing.assert_array_equal(results["adamw", None][key], results["adamw", 0.01][key])
        np.testing.assert_allclose(results["adamw", 0.0][key], results["adam", None][key], rtol=1e-6, atol=1e-8)
    assert not np.array_equal(results["adamw", None]["fc.weight"], results["adam", None]["fc.weight"])


def test_adam_weight_decay_changes_the_update():
    results = {}
    for wd in (0.0, 5.0):
        model = make_model()
        results[wd] = train_step(model, optim.build_optimizer("adam", model, 0.01, weight_decay=wd))[2]
    assert not np.allclose(results[0.0]["fc.weight"], results[5.0]["fc.weight"])


def test_second_optimizer_on_same_model_does_not_inherit_decay_or_group_lr():
    # Paddle keeps a group's lr multiplier and L2 regularizer on the parameter itself
    model = make_model()
    optim.build_optimizer("sgd", model, 0.1, weight_decay=0.5, lr_groups={"fc": 0.001})
    optim.build_optimizer("adamw", model, 0.1, weight_decay=0.0)
    fresh = make_model()
    for m in (model, fresh):
        m.result = train_step(m, optim.build_optimizer("sgd", m, 0.1))[2]
    for key in fresh.result:
        np.testing.assert_array_equal(model.result[key], fresh.result[key])


@pytest.mark.parametrize("bad", [-0.1, "0.1", True])
def test_bad_weight_decay_is_config_error(bad):
    with pytest.raises(ConfigError, match="weight decay"):
        optim.build_optimizer("sgd", make_model().parameters(), 0.1, weight_decay=bad)


def global_norm(before, after):
    return math.sqrt(sum(float(((before[k] - after[k]).astype(np.float64) ** 2).sum()) for k in before))


def test_grad_clip_bounds_the_update():
    lr, clip = 1000.0, 1e-3
    model = make_model()
    before, grads, after = train_step(model, optim.build_optimizer("sgd", model, lr, grad_clip=clip))
    grad_norm = math.sqrt(sum(float((g.astype(np.float64) ** 2).sum()) for g in grads.values()))
    assert grad_norm > 10 * clip
    assert global_norm(before, after) == pytest.approx(lr * clip, rel=1e-3)
    model = make_model()
    before, _, after = train_step(model, optim.build_optimizer("sgd", model, lr))
    assert global_norm(before, after) == pytest.approx(lr * grad_norm, rel=1e-3)


@pytest.mark.parametrize("bad", [0, -1.0, "ten"])
def test_bad_grad_clip_is_config_error(bad):
    with pytest.raises(ConfigError, match="clip"):
        optim.build_optimizer("sgd", make_model().parameters(), 0.1, grad_clip=bad)


# ----------------------------------------------------------------------------- lr groups

def assert_group_steps(before, grads, after, lrs):
    for key in before:
        lr = lrs[key.split(".")[0]]
        # atol: float32 resolution of the weights themselves (~0.5 * 1.2e-7)
        np.testing.assert_allclose(before[key] - after[key], lr * grads[key], rtol=1e-5, atol=1e-7,
                                   err_msg=key)


def test_lr_groups_give_absolute_learning_rates():
    model = make_model()
    opt = optim.build_optimizer("sgd", model, 0.1, lr_groups={"conv": 0.01, "fc": 0.001})
    assert_group_steps(*train_step(model, opt), {"conv1": 0.01, "conv2": 0.01, "fc": 0.001})


def test_unmatched_parameters_keep_the_base_lr_and_longest_prefix_wins():
    model = make_model()
    opt = optim.build_optimizer("sgd", model, 0.1, lr_groups={"conv": 0.01, "conv2": 0.05})
    assert_group_steps(*train_step(model, opt), {"conv1": 0.01, "conv2": 0.05, "fc": 0.1})


def test_lr_groups_follow_a_schedule():
    model = make_model()
    sched = schedules.build_schedule("step", 0.1, epochs=2, steps_per_epoch=1, gamma=0.5)
    opt = optim.build_optimizer("sgd", model, sched, lr_groups={"fc": 0.01})
    assert_group_steps(*train_step(model, opt), {"conv1": 0.1, "conv2": 0.1, "fc": 0.01})
    schedules.step_after_batch(sched)
    assert_group_steps(*train_step(model, opt, seed=1), {"conv1": 0.05, "conv2": 0.05, "fc": 0.005})


def test_lr_groups_behind_a_warmup_use_the_users_lr():
    model = make_model()
    sched = schedules.build_schedule("constant", 0.1, epochs=1, steps_per_epoch=4, warmup_steps=2)
    opt = optim.build_optimizer("sgd", model, sched, lr_groups={"fc": 0.01})
    for _ in range(2):
        schedules.step_after_batch(sched)
    assert_group_steps(*train_step(model, opt), {"conv1": 0.1, "conv2": 0.1, "fc": 0.01})


def test_lr_group_prefix_that_matches_nothing_lists_the_layers():
    with pytest.raises(ConfigError) as e:
        optim.build_optimizer("sgd", make_model(), 0.1, lr_groups={"dense": 0.01})
    assert "'dense'" in str(e.value) and "conv1, pool1, conv2, pool2, fc" in str(e.value)


def test_lr_groups_must_be_a_mapping():
    with pytest.raises(ConfigError, match="prefixes"):
        optim.build_optimizer("sgd", make_model(), 0.1, lr_groups=["fc"])


def test_lr_groups_need_the_model():
    with pytest.raises(ConfigError, match="model itself"):
        optim.build_optimizer("sgd", make_model().parameters(), 0.1, lr_groups={"fc": 0.01})


@pytest.mark.parametrize("bad", [0, -1, "0.1"])
def test_lr_group_needs_a_positive_lr(bad):
    with pytest.raises(ConfigError, match="'fc'"):
        optim.build_optimizer("sgd", make_model(), 0.1, lr_groups={"fc": bad})


# ----------------------------------------------------------------------------- schedules

def lr_sequence(sched, epochs, steps_per_epoch, valid_losses=None):
    """The lr of every batch, as the trainer records it."""
    seq = []
    for epoch in range(epochs):
        for _ in range(steps_per_epoch):
            seq.append(sched())
            schedules.step_after_batch(sched)
        schedules.step_after_epoch(sched, valid_losses[epoch] if valid_losses else 1.0)
    return seq


def onecycle(t, total, top, divide=25.0, end=1e-4, pct=0.3):
    """OneCycleLR by its definition: cosine up from top/divide to top, then down to end."""
    def cos(a, b, x):
        return b + (a - b) / 2 * (1 + math.cos(math.pi * x))
    peak = pct * total - 1
    if t <= peak:
        return cos(top / divide, top, t / peak)
    return cos(top, end, (t - peak) / (total - 1 - peak))


@pytest.mark.parametrize("name, kwargs, expected", [
    ("constant", {}, [0.1] * 6),
    ("step", {}, [0.1, 0.1, 0.01, 0.01, 0.001, 0.001]),            # step_size = 3 // 3 = 1 epoch
    ("step", {"step_size": 2, "gamma": 0.5}, [0.1] * 4 + [0.05] * 2),
    ("multistep", {}, [0.1, 0.1, 0.1, 0.01, 0.01, 0.001]),         # 1.5 and 2.25 epochs -> steps 3, 5
    ("multistep", {"milestones": [1, 2], "gamma": 0.5}, [0.1, 0.1, 0.05, 0.05, 0.025, 0.025]),
    ("exponential", {}, [0.1 * 0.9 ** (t / 2) for t in range(6)]),
    ("cosine", {}, [0.1 * (1 + math.cos(math.pi * t / 6)) / 2 for t in range(6)]),
    ("cosine", {"eta_min": 0.01}, [0.01 + 0.09 * (1 + math.cos(math.pi * t / 6)) / 2 for t in range(6)]),
    ("onecycle", {}, [onecycle(t, 6, 0.1) for t in range(6)]),
    ("onecycle", {"max_learning_rate": 0.5}, [onecycle(t, 6, 0.5) for t in range(6)]),
    ("plateau", {}, [0.1] * 6),
])
def test_schedule_lr_sequence(name, kwargs, expected):
    sched = schedules.build_schedule(name, 0.1, epochs=3, steps_per_epoch=2, **kwargs)
    assert sched.schedule_name == name and sched.per_epoch == (name == "plateau")
    np.testing.assert_allclose(lr_sequence(sched, 3, 2), expected, rtol=1e-9, atol=1e-12)


def test_exponential_is_gamma_per_epoch_at_epoch_starts():
    seq = lr_sequence(schedules.build_schedule("exponential", 0.1, epochs=4, steps_per_epoch=5, gamma=0.5), 4, 5)
    np.testing.assert_allclose(seq[::5], [0.1, 0.05, 0.025, 0.0125], rtol=1e-9)


def test_default_step_size_is_a_third_of_the_epochs():
    seq = lr_sequence(schedules.build_schedule("step", 1.0, epochs=7, steps_per_epoch=1), 7, 1)
    np.testing.assert_allclose(seq, [1, 1, 0.1, 0.1, 0.01, 0.01, 0.001], rtol=1e-9)


def test_plateau_halves_the_lr_after_two_bad_epochs():
    sched = schedules.build_schedule("plateau", 0.1, epochs=6, steps_per_epoch=2)
    seq = lr_sequence(sched, 6, 2, valid_losses=[1.0, 1.0, 1.0, 0.5, 0.5, 0.5])
    np.testing.assert_allclose(seq, [0.1] * 6 + [0.05] * 6)
    assert sched() == pytest.approx(0.025)


def test_plateau_without_a_valid_loss_keeps_the_lr():
    sched = schedules.build_schedule("plateau", 0.1, epochs=4, steps_per_epoch=1, patience=0)
    for _ in range(4):
        schedules.step_after_epoch(sched, None)
    assert sched() == 0.1


@pytest.mark.parametrize("name, expected", [
    # the warmup rises over 2 batches to the schedule's first lr; the schedule's clock starts after it
    ("constant", [0.0, 0.05, 0.1, 0.1, 0.1, 0.1]),
    ("step", [0.0, 0.05, 0.1, 0.1, 0.01, 0.01]),
    ("cosine", [0.0, 0.05] + [0.1 * (1 + math.cos(math.pi * k / 4)) / 2 for k in range(4)]),
    ("onecycle", [0.0, 0.002] + [onecycle(k, 4, 0.1) for k in range(4)]),
])
def test_warmup_in_front(name, expected):
    sched = schedules.build_schedule(name, 0.1, epochs=3, steps_per_epoch=2, warmup_steps=2)
    assert isinstance(sched, paddle.optimizer.lr.LinearWarmup)
    np.testing.assert_allclose(lr_sequence(sched, 3, 2), expected, rtol=1e-9, atol=1e-12)


def test_warmup_start_lr():
    sched = schedules.build_schedule("constant", 0.1, epochs=1, steps_per_epoch=5, warmup_steps=4,
                                 warmup_start_lr=0.02)
    np.testing.assert_allclose(lr_sequence(sched, 1, 5), [0.02, 0.04, 0.06, 0.08, 0.1])


def test_warmup_in_front_of_plateau():
    sched = schedules.build_schedule("plateau", 0.1, epochs=5, steps_per_epoch=2, warmup_steps=3, patience=0)
    # epoch 1 ends inside the warmup: its loss is not judged; afterwards every bad epoch halves the lr
    seq = lr_sequence(sched, 5, 2, valid_losses=[9.0, 1.0, 1.0, 0.5, 0.5])
    np.testing.assert_allclose(seq, [0.0, 0.1 / 3, 0.2 / 3, 0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.05], rtol=1e-9)
    assert sched() == pytest.approx(0.025)


def test_unknown_schedule_lists_names():
    with pytest.raises(ConfigError) as e:
        schedules.build_schedule("cosin", 0.1, epochs=1, steps_per_epoch=1)
    assert all(name in str(e.value) for name in schedules.SCHEDULES)


def test_unknown_schedule_option_lists_valid_ones():
    with pytest.raises(ConfigError) as e:
        schedules.build_schedule("step", 0.1, epochs=3, steps_per_epoch=2, T_max=3)
    assert "'T_max'" in str(e.value) and "step_size, gamma, warmup_start_lr" in str(e.value)


@pytest.mark.parametrize("name, kwargs, match", [
    ("step", {"gamma": "x"}, "gamma"),
    ("step", {"step_size": 0}, "step_size"),
    ("multistep", {"milestones": 5}, "milestones"),
    ("multistep", {"milestones": [1, -2]}, "milestones"),
    ("exponential", {"gamma": 0}, "gamma"),
    ("onecycle", {"anneal_strategy": "sine"}, "onecycle"),
    ("plateau", {"factor": 2.0}, "plateau"),
    ("plateau", {"patience": 1.5}, "patience must be an integer"),
    ("constant", {"warmup_start_lr": 0.5}, "constant"),  # a warmup must rise
])
def test_bad_schedule_values_are_config_errors(name, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        schedules.build_schedule(name, 0.1, epochs=3, steps_per_epoch=2, warmup_steps=1, **kwargs)


@pytest.mark.parametrize("kwargs, match", [
    ({"epochs": 0, "steps_per_epoch": 2}, "epochs"),
    ({"epochs": 2, "steps_per_epoch": 2.5}, "steps_per_epoch"),
    ({"epochs": 2, "steps_per_epoch": 2, "warmup_steps": 4}, "warmup"),
    ({"epochs": 2, "steps_per_epoch": 2, "warmup_steps": -1}, "warmup"),
])
def test_bad_run_lengths_are_config_errors(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        schedules.build_schedule("cosine", 0.1, **kwargs)


@pytest.mark.parametrize("name, warmup", [(n, 0) for n in schedules.SCHEDULES] + [(n, 3) for n in schedules.SCHEDULES])
def test_resumed_schedule_equals_uninterrupted(name, warmup):
    epochs, spe = 4, 3
    losses = [1.0, 1.0, 1.0, 0.9]

    def build():
        return schedules.build_schedule(name, 0.1, epochs=epochs, steps_per_epoch=spe, warmup_steps=warmup)

    full = lr_sequence(build(), epochs, spe, losses)
    first = build()
    seq = lr_sequence(first, 2, spe, losses)  # stop after epoch 2 and save ...
    state = first.state_dict()
    resumed = build()  # ... then a new process builds the same schedule and loads the state
    resumed.set_state_dict(state)
    seq += lr_sequence(resumed, 2, spe, losses[2:])
    assert seq == full
    if name != "constant":
        assert len(set(full)) > 1  # the sequence really changes, so the comparison means something


def test_schedule_state_survives_optimizer_checkpoint(tmp_path):
    def build():
        model = make_model()
        sched = schedules.build_schedule("plateau", 0.1, epochs=6, steps_per_epoch=2, warmup_steps=1, patience=0)
        return sched, optim.build_optimizer("momentum", model, sched)

    sched, opt = build()
    lr_sequence(sched, 3, 2, [1.0, 1.0, 1.0])  # best, bad (0.05), bad (0.025)
    paddle.save(opt.state_dict(), str(tmp_path / "opt.pdopt"))
    sched2, opt2 = build()
    opt2.set_state_dict(paddle.load(str(tmp_path / "opt.pdopt")))
    assert sched2() == sched() == pytest.approx(0.025)
    assert lr_sequence(sched2, 1, 2, [1.0]) == lr_sequence(sched, 1, 2, [1.0])
    assert opt2.get_lr() == pytest.approx(0.0125)


# ----------------------------------------------------------------------------- CLI

@pytest.mark.slow
def test_cli_optimizers_lists_everything(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-m", "paddle_mnist", "optimizers"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    for name, spec in optim.OPTIMIZERS.items():
        assert any(line.split()[:2] == [name, f"paddle.optimizer.{spec.class_name}"] for line in lines), name
    assert "momentum=0.9, use_nesterov=True" in proc.stdout
    for name in schedules.SCHEDULES + ("ReduceOnPlateau", "per epoch", "cross_entropy", "nll", "mse"):
        assert name in proc.stdout
