"""nnref.optim is torch.optim: the same trajectories in float64, defaults included.

Each optimizer and its PyTorch twin minimise the same loss from the same start for
STEPS steps: a tiny tanh MLP on a random regression problem (four parameter tensors of
different shapes), its gradients from torch autograd. After every step all parameters
must agree to 1e-10 (relative). Then the lectures' forms: Polyak's momentum and NAG are
PyTorch's momentum and Nesterov with rescaled step sizes; clipping, schedulers and the
stopping rules; properties (Adam's first step, bias correction).
"""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from nnref import optim

STEPS = 100
RTOL, ATOL = 1e-10, 1e-13


@pytest.fixture(autouse=True)
def torch_float64():
    """torch.optim keeps scalar state (NAdam's product of the mu_k) in the default
    dtype: float32 unless the default is float64."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)

# --- the problem: a tiny MLP, loss and gradients by torch autograd ----------------------

_rng = np.random.default_rng(0)
X = torch.tensor(_rng.standard_normal((16, 3)))
Y = torch.tensor(_rng.standard_normal((16, 2)))
START = {"W1": 0.5 * _rng.standard_normal((3, 5)), "b1": 0.1 * _rng.standard_normal(5),
         "W2": 0.5 * _rng.standard_normal((5, 2)), "b2": 0.1 * _rng.standard_normal(2)}


def mlp_loss(p):
    """Mean squared error of tanh(X W1 + b1) W2 + b2 (torch tensors)."""
    return ((torch.tanh(X @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"] - Y) ** 2).mean()


def loss_and_grads(params):
    """The loss and its gradients at numpy parameters, through torch autograd."""
    p = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    loss = mlp_loss(p)
    loss.backward()
    return loss.item(), {k: t.grad.numpy().copy() for k, t in p.items()}


def torch_trajectory(make_optimizer, steps=STEPS):
    """Parameters after each of ``steps`` steps of a torch.optim optimizer."""
    p = {k: torch.tensor(v, requires_grad=True) for k, v in START.items()}
    opt = make_optimizer(list(p.values()))
    out = []
    for _ in range(steps):
        opt.zero_grad()
        mlp_loss(p).backward()
        opt.step()
        out.append({k: t.detach().numpy().copy() for k, t in p.items()})
    return out


def nnref_trajectory(optimizer, steps=STEPS):
    """Parameters after each of ``steps`` steps of an nnref optimizer."""
    params = {k: v.copy() for k, v in START.items()}
    out = []
    for _ in range(steps):
        _, grads = loss_and_grads(optimizer.lookahead(params))
        optimizer.step(params, grads)
        out.append({k: v.copy() for k, v in params.items()})
    return out


def assert_same_trajectory(ours, theirs, rtol=RTOL, atol=ATOL):
    for t, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        for k in b:
            np.testing.assert_allclose(a[k], b[k], rtol=rtol, atol=atol,
                                       err_msg=f"parameter {k} after step {t + 1}")


def moved(trajectory):
    """How far the optimizer went: a comparison of two optimizers that never move is void."""
    return max(np.max(np.abs(trajectory[-1][k] - START[k])) for k in START)


# (nnref optimizer, torch constructor): defaults first, then non-default settings.
CASES = {
    "SGD": (optim.SGD(0.1), lambda p: torch.optim.SGD(p, lr=0.1)),
    "SGD momentum": (optim.SGD(0.05, momentum=0.9),
                     lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9)),
    "SGD dampening+decay": (optim.SGD(0.05, momentum=0.8, dampening=0.3, weight_decay=0.01),
                            lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.8, dampening=0.3,
                                                      weight_decay=0.01)),
    "SGD nesterov": (optim.SGD(0.05, momentum=0.9, nesterov=True),
                     lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True)),
    "Adagrad defaults": (optim.Adagrad(), lambda p: torch.optim.Adagrad(p)),
    "Adagrad options": (optim.Adagrad(0.1, lr_decay=0.01, weight_decay=0.01,
                                      initial_accumulator_value=0.1, eps=1e-4),
                        lambda p: torch.optim.Adagrad(p, lr=0.1, lr_decay=0.01, weight_decay=0.01,
                                                      initial_accumulator_value=0.1, eps=1e-4)),
    "RMSprop defaults": (optim.RMSprop(), lambda p: torch.optim.RMSprop(p)),
    "RMSprop options": (optim.RMSprop(0.003, alpha=0.95, eps=1e-3, weight_decay=0.05),
                        lambda p: torch.optim.RMSprop(p, lr=0.003, alpha=0.95, eps=1e-3,
                                                      weight_decay=0.05)),
    "RMSprop centered momentum": (optim.RMSprop(0.002, momentum=0.5, centered=True),
                                  lambda p: torch.optim.RMSprop(p, lr=0.002, momentum=0.5,
                                                                centered=True)),
    "Adadelta defaults": (optim.Adadelta(), lambda p: torch.optim.Adadelta(p)),
    "Adadelta options": (optim.Adadelta(0.5, rho=0.95, eps=1e-4, weight_decay=0.01),
                         lambda p: torch.optim.Adadelta(p, lr=0.5, rho=0.95, eps=1e-4,
                                                        weight_decay=0.01)),
    "Adam defaults": (optim.Adam(), lambda p: torch.optim.Adam(p)),
    "Adam options": (optim.Adam(0.02, beta1=0.8, beta2=0.99, eps=1e-6, weight_decay=0.1),
                     lambda p: torch.optim.Adam(p, lr=0.02, betas=(0.8, 0.99), eps=1e-6,
                                                weight_decay=0.1)),
    "AdamW defaults": (optim.AdamW(), lambda p: torch.optim.AdamW(p)),
    "AdamW options": (optim.AdamW(0.02, beta1=0.85, beta2=0.995, weight_decay=0.3),
                      lambda p: torch.optim.AdamW(p, lr=0.02, betas=(0.85, 0.995),
                                                  weight_decay=0.3)),
    "NAdam defaults": (optim.NAdam(), lambda p: torch.optim.NAdam(p)),
    "NAdam options": (optim.NAdam(0.01, beta1=0.95, momentum_decay=0.02, weight_decay=0.05),
                      lambda p: torch.optim.NAdam(p, lr=0.01, betas=(0.95, 0.999),
                                                  momentum_decay=0.02, weight_decay=0.05)),
    "NAdam decoupled": (optim.NAdam(0.01, weight_decay=0.1, decoupled_weight_decay=True),
                        lambda p: torch.optim.NAdam(p, lr=0.01, weight_decay=0.1,
                                                    decoupled_weight_decay=True)),
}


@pytest.mark.parametrize("name", CASES)
def test_matches_torch_optim_step_for_step(name):
    ours, make_torch = CASES[name]
    theirs = torch_trajectory(make_torch)
    assert moved(theirs) > 1e-3
    assert_same_trajectory(nnref_trajectory(ours), theirs)


def test_defaults_are_torchs():
    """The constructors' defaults are PyTorch's (the comparison above relies on them)."""
    p = [torch.zeros(1, requires_grad=True)]
    assert optim.Adagrad().eta == torch.optim.Adagrad(p).defaults["lr"] == 1e-2
    assert optim.Adagrad().eps == torch.optim.Adagrad(p).defaults["eps"]
    rms, trms = optim.RMSprop(), torch.optim.RMSprop(p).defaults
    assert (rms.eta, rms.alpha, rms.eps) == (trms["lr"], trms["alpha"], trms["eps"])
    ada, tada = optim.Adadelta(), torch.optim.Adadelta(p).defaults
    assert (ada.eta, ada.rho, ada.eps) == (tada["lr"], tada["rho"], tada["eps"]) == (1.0, 0.9, 1e-6)
    for ours, theirs in [(optim.Adam(), torch.optim.Adam), (optim.AdamW(), torch.optim.AdamW),
                         (optim.NAdam(), torch.optim.NAdam)]:
        d = theirs(p).defaults
        assert (ours.eta, (ours.beta1, ours.beta2), ours.eps, ours.weight_decay) == \
            (d["lr"], d["betas"], d["eps"], d["weight_decay"])
    assert optim.NAdam().momentum_decay == torch.optim.NAdam(p).defaults["momentum_decay"]


# --- the lectures' forms of momentum ----------------------------------------------------


@pytest.mark.parametrize("eta, gamma", [(0.5, 0.9), (0.2, 0.5), (1.0, 0.99)])
def test_polyak_momentum_is_torch_momentum_with_eta_times_one_minus_gamma(eta, gamma):
    """v := γv + (1−γ)g, w -= ηv  ≡  b := γb + g, w -= η(1−γ)b, since v = (1−γ)b."""
    ours = nnref_trajectory(optim.PolyakMomentum(eta, gamma))
    theirs = torch_trajectory(lambda p: torch.optim.SGD(p, lr=eta * (1 - gamma), momentum=gamma))
    assert moved(theirs) > 1e-3
    assert_same_trajectory(ours, theirs)


def test_lecture_002_momentum_is_torch_momentum():
    """Δw := αΔw − η∇L, w := w + Δw is SGD(lr=η, momentum=α) with Δw = −η b."""
    eta, alpha = 0.05, 0.9
    params, delta, ours = {k: v.copy() for k, v in START.items()}, None, []
    for _ in range(STEPS):
        _, grads = loss_and_grads(params)
        delta = {k: (alpha * delta[k] if delta else 0.0) - eta * grads[k] for k in grads}
        params = {k: params[k] + delta[k] for k in params}
        ours.append(params)
    assert_same_trajectory(ours, torch_trajectory(
        lambda p: torch.optim.SGD(p, lr=eta, momentum=alpha)))


def test_lecture_001_momentum_applies_eta_twice():
    """The slide's g := αg + η∇, w -= ηg is momentum with the step η², not η."""
    eta, alpha = 0.3, 0.9
    params, g, ours = {k: v.copy() for k, v in START.items()}, None, []
    for _ in range(STEPS):
        _, grads = loss_and_grads(params)
        g = {k: (alpha * g[k] if g else 0.0) + eta * grads[k] for k in grads}
        params = {k: params[k] - eta * g[k] for k in params}
        ours.append(params)
    assert_same_trajectory(ours, nnref_trajectory(optim.SGD(eta**2, momentum=alpha)))


@pytest.mark.parametrize("eta, gamma", [(0.5, 0.9), (0.3, 0.7)])
def test_lecture_nag_look_ahead_points_are_torch_nesterov_iterates(eta, gamma):
    """Lecture 000's NAG, seen at its look-ahead points u = w − ηγv, is PyTorch's
    SGD(lr=η(1−γ), momentum=γ, nesterov=True)."""
    nag, params, lookaheads = optim.NAG(eta, gamma), {k: v.copy() for k, v in START.items()}, []
    for _ in range(STEPS):
        _, grads = loss_and_grads(nag.lookahead(params))
        nag.step(params, grads)
        lookaheads.append(nag.lookahead(params))
    theirs = torch_trajectory(lambda p: torch.optim.SGD(p, lr=eta * (1 - gamma), momentum=gamma,
                                                        nesterov=True))
    assert moved(theirs) > 1e-3
    assert_same_trajectory(lookaheads, theirs)


def test_nag_takes_the_gradient_ahead_along_the_velocity():
    nag = optim.NAG(eta=0.5, gamma=0.9)
    params = {"w": np.array([1.0, -2.0])}
    assert np.array_equal(nag.lookahead(params)["w"], params["w"])  # v = 0 at the start
    nag.step(params, {"w": np.array([1.0, 1.0])})
    v = nag.state["w"]["v"]
    np.testing.assert_allclose(v, [0.1, 0.1])
    np.testing.assert_allclose(nag.lookahead(params)["w"], params["w"] - 0.5 * 0.9 * v)


def test_polyak_velocity_is_a_moving_average():
    """For a constant gradient v_t = (1 − γ^t) g → g: an average, not a sum."""
    g = np.array([2.0, -1.0])
    trajectory = optim.momentum_run(np.zeros(2), np.tile(g, (50, 1)), eta=1.0, gamma=0.8)
    t = np.arange(1, 51)[:, None]
    np.testing.assert_allclose(-np.diff(trajectory, axis=0), (1 - 0.8**t) * g, rtol=1e-12)


# --- adaptive rules: the lectures' variants and properties ----------------------------


def test_adam_first_step_is_eta_per_coordinate():
    """v̂_1 = g, Ĝ_1 = g², so Δw = −η g/(|g| + ε) ≈ −η sign(g), whatever the scale of g."""
    g = np.array([1e-3, -5.0, 300.0, 2e-2])
    trajectory = optim.adam_run(np.zeros(4), g[None, :], eta=0.01)
    np.testing.assert_allclose(trajectory[1], -0.01 * np.sign(g), rtol=1e-4)


def test_adam_bias_correction_recovers_a_constant_gradient():
    opt, params, g = optim.Adam(0.1), {"w": np.zeros(3)}, np.array([0.5, -2.0, 1.0])
    for k in range(1, 20):
        opt.step(params, {"w": g})
        state = opt.state["w"]
        np.testing.assert_allclose(state["v"] / (1 - 0.9**k), g, rtol=1e-12)
        np.testing.assert_allclose(state["G"] / (1 - 0.999**k), g * g, rtol=1e-12)


def test_adam_without_bias_correction_starts_too_big():
    """Uncorrected, the first step is η(1−β1)/√(1−β2) ≈ 3.16η per coordinate."""
    g = np.array([[1.0, -1.0]])
    plain = optim.run(optim.Adam(0.01, bias_correction=False), np.zeros(2), g)
    np.testing.assert_allclose(np.abs(plain[1]), 0.01 * 0.1 / np.sqrt(0.001), rtol=1e-6)


def test_adamw_decay_is_not_rescaled_but_adams_is():
    """With g = 0 AdamW shrinks w by (1 − ηλ); Adam's L2 term goes through the
    normalisation and moves every weight by ≈ η instead, whatever its size."""
    w0 = np.array([1e-3, 1.0, 100.0])
    adamw = optim.run(optim.AdamW(0.01, weight_decay=0.1), w0, np.zeros((1, 3)))
    np.testing.assert_allclose(adamw[1], w0 * (1 - 0.01 * 0.1), rtol=1e-15)
    adam = optim.run(optim.Adam(0.01, weight_decay=0.1), w0, np.zeros((1, 3)))
    np.testing.assert_allclose(w0 - adam[1], 0.01, rtol=1e-4)


@pytest.mark.parametrize("cls", [optim.RMSprop, optim.Adagrad])
def test_eps_inside_the_root_is_lecture_001s_variant(cls):
    w0, G = np.ones(3), np.array([[1e-4, 1.0, -3.0]])
    outside = optim.run(cls(0.1, eps=1e-6), w0, G)
    inside = optim.run(cls(0.1, eps=1e-6, eps_inside_sqrt=True), w0, G)
    alpha = 0.99 if cls is optim.RMSprop else 0.0
    root_G = np.sqrt((1 - alpha) * G[0] ** 2)
    np.testing.assert_allclose(w0 - outside[1], 0.1 * G[0] / (root_G + 1e-6), rtol=1e-12)
    np.testing.assert_allclose(w0 - inside[1], 0.1 * G[0] / np.sqrt(root_G**2 + 1e-6),
                               rtol=1e-12)


def test_adadelta_lecture_form():
    """Lecture 000: δ = g ⊙ (√Δ + ε) ⊘ (√G + ε); from Δ = 0 the first step is ~ε, not √ε."""
    rho, eps, g = 0.9, 1e-6, np.array([[2.0, -0.5]])
    lecture = optim.run(optim.Adadelta(rho=rho, eps=eps, form="lecture"), np.zeros(2), g)
    zeiler = optim.run(optim.Adadelta(rho=rho, eps=eps), np.zeros(2), g)
    G = (1 - rho) * g[0] ** 2
    np.testing.assert_allclose(lecture[1], -g[0] * eps / (np.sqrt(G) + eps), rtol=1e-12)
    np.testing.assert_allclose(zeiler[1], -g[0] * np.sqrt(eps) / np.sqrt(G + eps), rtol=1e-12)


def test_nadam_lecture_form_is_dozats_constant_momentum_rule():
    """w := w − η(γv̂ + (1−γ)g/(1−γ^k)) ⊘ (√Ĝ + ε), written out independently here."""
    gamma, alpha, eta, eps = 0.9, 0.999, 0.01, 1e-8
    G_seq = np.random.default_rng(1).standard_normal((30, 4))
    ours = optim.run(optim.NAdam(eta, beta1=gamma, beta2=alpha, eps=eps, form="lecture"),
                     np.zeros(4), G_seq)
    w, v, G = np.zeros(4), np.zeros(4), np.zeros(4)
    for k, g in enumerate(G_seq, start=1):
        v = gamma * v + (1 - gamma) * g
        G = alpha * G + (1 - alpha) * g**2
        nesterov = gamma * v / (1 - gamma**k) + (1 - gamma) * g / (1 - gamma**k)
        w = w - eta * nesterov / (np.sqrt(G / (1 - alpha**k)) + eps)
        np.testing.assert_allclose(ours[k], w, rtol=1e-12)


def test_rmsprop_run_and_adam_run_use_the_classes():
    G = np.random.default_rng(2).standard_normal((10, 3))
    w0 = np.ones(3)
    np.testing.assert_array_equal(optim.rmsprop_run(w0, G, eta=0.1, alpha=0.9),
                                  optim.run(optim.RMSprop(0.1, alpha=0.9), w0, G))
    np.testing.assert_array_equal(optim.adam_run(w0, G, eta=0.1),
                                  optim.run(optim.Adam(0.1), w0, G))
    assert optim.adam_run(w0, G).shape == (11, 3)


def test_adam_fit_mlp_is_torch_adam_on_the_same_net():
    rng = np.random.default_rng(3)
    d, H, n = 2, 4, 12
    Xn, yn = rng.standard_normal((n, d)), rng.standard_normal(n)
    theta0 = rng.standard_normal(d * H + 2 * H + 1)
    ours = optim.adam_fit_mlp(theta0, Xn, yn, H=H, eta=0.05, steps=60)
    p = {k: torch.tensor(v, requires_grad=True) for k, v in optim.unpack_mlp(theta0, d, H).items()}
    opt = torch.optim.Adam(list(p.values()), lr=0.05)
    Xt, yt = torch.tensor(Xn), torch.tensor(yn[:, None])
    theirs = []
    for step in range(61):
        opt.zero_grad()
        loss = ((torch.tanh(Xt @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"] - yt) ** 2).mean()
        theirs.append(loss.item())
        if step < 60:
            loss.backward()
            opt.step()
    np.testing.assert_allclose(ours, theirs, rtol=1e-10)
    assert ours[-1] < 0.5 * ours[0]


def test_unpack_mlp_rejects_a_wrong_length():
    with pytest.raises(ValueError):
        optim.unpack_mlp(np.zeros(10), 2, 4)


# --- clipping and noise -----------------------------------------------------------------


@pytest.mark.parametrize("theta", [0.1, 1.0, 5.0, 1e3])
def test_clip_grad_norm_matches_torch(theta):
    rng = np.random.default_rng(4)
    grads = {"W": rng.standard_normal((3, 4)), "b": rng.standard_normal(4),
             "c": rng.standard_normal(1)}
    tensors = [torch.zeros(g.shape, requires_grad=True) for g in grads.values()]
    for t, g in zip(tensors, grads.values()):
        t.grad = torch.tensor(g)
    torch_norm = torch.nn.utils.clip_grad_norm_(tensors, theta)
    norm = optim.clip_grad_norm(grads, theta)
    assert norm == pytest.approx(torch_norm.item(), rel=1e-14)
    for t, g in zip(tensors, grads.values()):
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-14)


@settings(max_examples=50, deadline=None)
@given(arrays(np.float64, 6, elements=st.floats(-1e3, 1e3)),
       st.floats(1e-3, 1e3))
def test_clipping_keeps_the_direction_and_caps_the_norm(g, theta):
    """Short gradients pass unchanged (PyTorch's 1e-6 guard: norm + 1e-6 <= theta);
    longer ones keep their direction and get a norm of at most theta."""
    grads = {"g": g.copy()}
    norm = optim.clip_grad_norm(grads, theta)
    assert optim.global_norm(grads) <= theta * (1 + 1e-12)
    if norm + 1e-6 <= theta:
        np.testing.assert_array_equal(grads["g"], g)
    elif norm > 0:
        np.testing.assert_allclose(grads["g"] * norm, g * optim.global_norm(grads), rtol=1e-9,
                                   atol=1e-9 * norm * theta)


def test_momentum_step_is_one_step_of_the_run_and_keeps_its_arguments():
    rng = np.random.default_rng(7)
    w, g, v = rng.standard_normal(4), rng.standard_normal(4), rng.standard_normal(4)
    w0, v0 = w.copy(), v.copy()
    w1, v1 = optim.momentum_step(w, g, v, eta=0.3, gamma=0.8)
    np.testing.assert_allclose(v1, 0.8 * v0 + 0.2 * g, rtol=1e-15)
    np.testing.assert_allclose(w1, w0 - 0.3 * v1, rtol=1e-15)
    np.testing.assert_array_equal(w, w0)
    np.testing.assert_array_equal(v, v0)
    np.testing.assert_array_equal(optim.momentum_step(w, g, np.zeros(4), 0.3, 0.8)[0],
                                  optim.momentum_run(w, g[None], 0.3, 0.8)[1])


def test_nag_quadratic_run_looks_ahead_by_hand():
    """Two steps on f = |w|^2 / 2 (A = I) from w0 = (1, -2), eta = gamma = 1/2, in binary
    fractions; momentum (the gradient at w instead of the look-ahead) differs at step 2."""
    traj = optim.nag_quadratic_run(np.array([1.0, -2.0]), np.eye(2), eta=0.5, gamma=0.5, steps=2)
    np.testing.assert_array_equal(traj, [[1.0, -2.0], [0.75, -1.5], [0.46875, -0.9375]])
    grads_at_w = optim.descend(lambda w: w, np.array([1.0, -2.0]), optim.PolyakMomentum(0.5, 0.5), 2)
    np.testing.assert_array_equal(grads_at_w[2], [0.4375, -0.875])


def test_exact_clipping_leaves_a_gradient_of_norm_theta_alone_and_caps_longer_ones():
    """The lecture's rule: clip only if ||g|| > theta, to exactly theta / ||g||; PyTorch's
    variant shrinks a gradient of norm theta by theta / (theta + 1e-6)."""
    g = np.array([3.0, 4.0])                          # norm 5
    same = {"g": g.copy()}
    assert optim.clip_grad_norm_exact(same, 5.0) == 5.0
    np.testing.assert_array_equal(same["g"], g)
    torchs = {"g": g.copy()}
    optim.clip_grad_norm(torchs, 5.0)
    assert np.all(torchs["g"] < g)
    long = {"W": np.full((2, 2), 10.0), "b": np.array([-10.0])}
    norm = optim.clip_grad_norm_exact(long, 2.0)
    assert norm == pytest.approx(np.sqrt(500.0), rel=1e-15)
    assert optim.global_norm(long) == pytest.approx(2.0, rel=1e-15)
    np.testing.assert_allclose(long["W"], 10.0 * 2.0 / norm, rtol=1e-15)


def test_clip_by_norm_is_the_exact_rule_for_one_array():
    g = np.array([[3.0, 0.0], [0.0, 4.0]])                 # norm 5
    np.testing.assert_array_equal(optim.clip_by_norm(g, 5.0), g)
    np.testing.assert_array_equal(optim.clip_by_norm(g, 7.0), g)
    np.testing.assert_allclose(optim.clip_by_norm(g, 2.0), g * 0.4, rtol=1e-15)
    same = {"g": g.copy()}
    optim.clip_grad_norm_exact(same, 2.0)
    np.testing.assert_array_equal(optim.clip_by_norm(g, 2.0), same["g"])
    assert optim.clip_by_norm(g, 2.0) is not g and g[1, 1] == 4.0


def test_gradient_noise_variance_decays_as_lecture_004_says():
    noise = optim.GradientNoise(eta=1.0, gamma=0.55, seed=0)
    assert noise.variance(0) == 1.0
    assert noise.variance(99) == pytest.approx(100**-0.55)
    zero = {"W": np.zeros((200, 100))}
    first, second = noise(zero), noise(zero)
    assert np.var(first["W"]) == pytest.approx(1.0, rel=0.05)
    assert np.var(second["W"]) == pytest.approx(2**-0.55, rel=0.05)
    assert np.all(zero["W"] == 0)  # the input is not modified
    again = optim.GradientNoise(seed=0)(zero)
    np.testing.assert_array_equal(first["W"], again["W"])


# --- learning-rate schedules ------------------------------------------------------------

SCRIPTED_LOSSES = [5.0, 4.0, 4.0, 3.9999, 3.99, 4.5, 4.2, 4.1, 3.0, 3.0, 3.0, 3.0, 2.9999,
                   3.1, 3.2, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 1.5, 1.5, 1.5, 1.5]


@pytest.mark.parametrize("kwargs", [
    {},
    {"patience": 2},
    {"patience": 1, "factor": 0.5, "cooldown": 2},
    {"patience": 0, "threshold": 0.05, "threshold_mode": "abs", "factor": 0.3},
    {"patience": 1, "factor": 0.5, "min_eta": 0.3},
    {"mode": "max", "patience": 1, "factor": 0.5},
])
def test_reduce_on_plateau_matches_torch(kwargs):
    losses = SCRIPTED_LOSSES * 2
    opt = optim.SGD(1.0)
    sched = optim.ReduceOnPlateau(opt, **kwargs)
    torch_kwargs = {("min_lr" if k == "min_eta" else k): v for k, v in kwargs.items()}
    topt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    tsched = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **torch_kwargs)
    ours, theirs = [], []
    for loss in losses:
        sched.step(loss)
        tsched.step(loss)
        ours.append(opt.eta)
        theirs.append(topt.param_groups[0]["lr"])
    assert ours == pytest.approx(theirs, rel=1e-15)


def test_reduce_on_plateau_default_patience_is_ten_epochs():
    opt = optim.Adam(1e-2)
    sched = optim.ReduceOnPlateau(opt)
    for _ in range(11):
        sched.step(1.0)  # the first sets the baseline, then 10 epochs without improvement
    assert opt.eta == 1e-2
    sched.step(1.0)
    assert opt.eta == pytest.approx(1e-3)


def test_step_decay_matches_torch_steplr():
    topt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.5)
    sched = torch.optim.lr_scheduler.StepLR(topt, step_size=3, gamma=0.5)
    for epoch in range(12):
        assert optim.step_decay(0.5, epoch, 3, 0.5) == pytest.approx(topt.param_groups[0]["lr"],
                                                                     rel=1e-14)
        topt.step()
        sched.step()


# --- stopping rules and the running estimate of Q ---------------------------------------


def test_stopping_rules():
    w_old = {"W": np.ones((2, 2)), "b": np.zeros(2)}
    w_new = {"W": np.ones((2, 2)) + 3e-4, "b": np.zeros(2)}  # ||Δw|| = 6e-4
    assert optim.weights_converged(w_new, w_old, 1e-3)
    assert not optim.weights_converged(w_new, w_old, 5e-4)
    assert optim.weights_converged(np.array([1.0, 2.0]), np.array([1.0, 2.0 + 1e-9]), 1e-8)
    assert optim.gradient_small({"g": np.array([3e-5, 4e-5])}, 1e-4)
    assert not optim.gradient_small(np.array([3.0, 4.0]), 5.0)
    assert optim.loss_converged(1.00001, 1.0, 1e-4) and not optim.loss_converged(1.1, 1.0, 1e-4)


def test_early_stopping_keeps_the_best_epoch():
    stopper = optim.EarlyStopping(patience=3)
    validation = [1.0, 0.8, 0.7, 0.72, 0.71, 0.75, 0.6]
    stops = [stopper(v) for v in validation]
    assert stops == [False, False, False, False, False, True, False]
    assert stopper.best_epoch == 6  # called once more after the stop: a new best


def test_running_loss_estimate_is_an_exponential_average():
    """Q_t = (1−λ)^t Q_0 + λ Σ (1−λ)^{t−s} L_s; for constant losses it forgets Q_0."""
    Q, lam = 10.0, 0.1
    for _ in range(200):
        Q = optim.running_loss_estimate(Q, 2.0, lam)
    assert Q == pytest.approx(2.0 + 8.0 * 0.9**200, rel=1e-12)
    losses = np.random.default_rng(5).uniform(0, 1, 30)
    Q = 0.0
    for L in losses:
        Q = optim.running_loss_estimate(Q, L, lam)
    weights = lam * (1 - lam) ** np.arange(29, -1, -1)
    assert Q == pytest.approx(weights @ losses, rel=1e-12)


# --- test functions ---------------------------------------------------------------------


@pytest.mark.parametrize("f, grad, minimum", [
    (optim.rosenbrock, optim.rosenbrock_grad, [1.0, 1.0]),
    (optim.beale, optim.beale_grad, [3.0, 0.5]),
    (optim.saddle, optim.saddle_grad, None),
])
def test_test_function_gradients_by_central_differences(f, grad, minimum):
    points = np.random.default_rng(6).uniform(-1.5, 1.5, (20, 2))
    h = 1e-6
    for w in points:
        numeric = [(f(w + h * e) - f(w - h * e)) / (2 * h) for e in np.eye(2)]
        np.testing.assert_allclose(grad(w), numeric, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(grad(points), [grad(w) for w in points])  # batched
    if minimum is not None:
        assert f(np.array(minimum)) == 0.0
        np.testing.assert_allclose(grad(np.array(minimum)), [0.0, 0.0], atol=1e-12)


def test_descend_with_momentum_reaches_rosenbrocks_minimum():
    path = optim.descend(optim.rosenbrock_grad, [-1.5, 2.0], optim.Adam(0.05), 3000)
    assert path.shape == (3001, 2)
    np.testing.assert_allclose(path[-1], [1.0, 1.0], atol=1e-2)
