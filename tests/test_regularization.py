"""nnref.regularization is torch's dropout and SGD weight decay, and its gradients are right.

Dropout is checked against ``torch.nn.functional.dropout``: torch draws its own mask, we
recover it from torch's output (the zeros of an input without zeros) and must reproduce the
output, its scaling ``1/(1-p)`` included, and the gradient from autograd. The lecture's
dropout + L2 step is checked against ``torch.optim.SGD(weight_decay)`` with the same mask;
every backward pass against central finite differences (``nnref.gradcheck``).
"""

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from nnref import gradcheck, losses, mlp, optim
from nnref import regularization as reg

PS = [0.0, 0.1, 0.5, 0.8, 0.999]


@pytest.fixture(autouse=True)
def torch_float64():
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


def torch_dropout(x, p, seed):
    """torch's training-mode dropout of x and the keep mask recovered from its zeros."""
    torch.manual_seed(seed)
    out = F.dropout(torch.tensor(x), p, training=True).numpy()
    return out, (out != 0).astype(np.float64)


def positive(shape, seed):
    """Inputs without zeros, so that torch's zeros are exactly its mask."""
    rng = np.random.default_rng(seed)
    return rng.choice([-1.0, 1.0], shape) * rng.uniform(0.1, 3.0, shape)


# --- the forward pass against torch -----------------------------------------------------

@pytest.mark.parametrize("p", PS)
@pytest.mark.parametrize("shape", [(7,), (16, 9), (3, 4, 5)])
def test_dropout_is_torchs(p, shape):
    x = positive(shape, 0)
    expected, mask = torch_dropout(x, p, seed=int(100 * p))
    got = reg.dropout(x, mask, p)
    np.testing.assert_allclose(got, expected, rtol=1e-15, atol=0)
    out, cache = reg.dropout_forward(x, p, mask)
    np.testing.assert_array_equal(out, got)


def test_dropout_p_one_is_zero_as_in_torch():
    x = positive((5, 4), 1)
    expected, mask = torch_dropout(x, 1.0, seed=0)
    assert not mask.any()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(reg.dropout(x, mask, 1.0), expected)
        np.testing.assert_array_equal(reg.dropout(x, np.ones_like(x), 1.0), np.zeros_like(x))
        np.testing.assert_array_equal(reg.dropout_l2_step(x, x, 1.0, 0.1, 0.01, 1.0), x * 0.999)


@pytest.mark.parametrize("p", PS)
def test_eval_mode_is_the_identity_as_in_torch(p):
    x = positive((6, 3), 2)
    expected = F.dropout(torch.tensor(x), p, training=False).numpy()
    out, cache = reg.dropout_forward(x, p, mode="eval")
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(reg.dropout_backward(np.ones_like(x), cache), np.ones_like(x))


@pytest.mark.parametrize("p", PS)
def test_original_dropout_is_inverted_times_keep_probability(p):
    x = positive((8, 5), 3)
    _, mask = torch_dropout(x, p, seed=5)
    np.testing.assert_allclose(reg.dropout(x, mask, p, inverted=False),
                               (1 - p) * reg.dropout(x, mask, p), rtol=1e-12)
    np.testing.assert_allclose(reg.dropout(x, mask, p, train=False, inverted=False), (1 - p) * x,
                               rtol=1e-15)


@pytest.mark.parametrize("q", [1.0, 0.9, 0.5, 0.2, 1e-3])
def test_lecture_keep_probability_form(q):
    """d(x) = m x / q with m ~ Ber(q) is torch's dropout with p = 1 - q."""
    x = positive((10, 6), 4)
    expected, mask = torch_dropout(x, 1 - q, seed=7)
    np.testing.assert_allclose(reg.dropout_keep(x, mask, q), expected, rtol=1e-12)
    np.testing.assert_array_equal(reg.dropout_keep(x, mask, 0.0), np.zeros_like(x))


def test_bad_probabilities_are_refused():
    for p in (-0.1, 1.5):
        with pytest.raises(ValueError):
            reg.dropout(np.ones(3), np.ones(3), p)
    with pytest.raises(ValueError):
        reg.dropout_keep(np.ones(3), np.ones(3), 1.2)
    with pytest.raises(ValueError):
        reg.dropout_forward(np.ones(3), 0.5, np.ones(3), mode="test")


# --- the mask ---------------------------------------------------------------------------

def test_keep_mask_convention_and_edges():
    u = np.array([0.0, 0.25, 0.5, 0.75, 0.999])
    np.testing.assert_array_equal(reg.keep_mask(u, 0.5), [0, 0, 1, 1, 1])  # u = p keeps
    np.testing.assert_array_equal(reg.keep_mask(u, 0.0), np.ones(5))
    np.testing.assert_array_equal(reg.keep_mask(u, 1.0), np.zeros(5))


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_keep_mask_drops_with_probability_p(p):
    n = 200_000
    mask = reg.keep_mask(np.random.default_rng(0).random(n), p)
    assert abs(np.mean(mask == 0) - p) < 5 * np.sqrt(p * (1 - p) / n)


def test_forward_draws_its_mask_with_keep_mask():
    x = np.ones((50, 40))
    out, (mask, *_rest) = reg.dropout_forward(x, 0.3, rng=np.random.default_rng(1))
    np.testing.assert_array_equal(mask, reg.keep_mask(np.random.default_rng(1).random(x.shape), 0.3))
    np.testing.assert_allclose(out, mask / 0.7)


# --- backward passes --------------------------------------------------------------------

@pytest.mark.parametrize("p", PS)
def test_dropout_backward_is_torchs_autograd(p):
    x = positive((12, 7), 5)
    G = np.random.default_rng(6).standard_normal(x.shape)
    torch.manual_seed(11)
    xt = torch.tensor(x, requires_grad=True)
    out = F.dropout(xt, p, training=True)
    (out * torch.tensor(G)).sum().backward()
    mask = (out.detach().numpy() != 0).astype(float)
    _, cache = reg.dropout_forward(x, p, mask)
    np.testing.assert_allclose(reg.dropout_backward(G, cache), xt.grad.numpy(), rtol=1e-15)


@pytest.mark.parametrize("p,inverted,mode", [(0.3, True, "train"), (0.6, False, "train"),
                                             (0.6, False, "eval"), (0.2, True, "eval")])
def test_dropout_backward_by_finite_differences(p, inverted, mode):
    rng = np.random.default_rng(7)
    x, G = rng.standard_normal((5, 4)), rng.standard_normal((5, 4))
    mask = reg.keep_mask(rng.random(x.shape), p)
    _, cache = reg.dropout_forward(x, p, mask, mode=mode, inverted=inverted)
    f = lambda x_: float(np.sum(G * reg.dropout_forward(x_, p, mask, mode, inverted)[0]))
    np.testing.assert_allclose(reg.dropout_backward(G, cache), gradcheck.numerical_gradient(f, x),
                               rtol=1e-8, atol=1e-10)


def test_dropout_mlp_gradients_by_finite_differences():
    rng = np.random.default_rng(8)
    X, y = rng.standard_normal((6, 4)), rng.integers(0, 3, 6)
    net = reg.DropoutMLP([4, 5, 6, 3], p=0.4, activation="tanh", seed=3)
    net.masks = [reg.keep_mask(rng.random((6, h)), 0.4) for h in (5, 6)]
    _, grads = mlp.loss_and_grads(net, X, y, "softmax_cross_entropy")
    numeric = gradcheck.numerical_gradients(
        lambda _: losses.softmax_cross_entropy(net.forward(X), y), net.params)
    for k in grads:
        assert gradcheck.relative_error(grads[k], numeric[k]) < 1e-8, k


def test_dropout_mlp_is_torch_with_the_same_masks():
    rng = np.random.default_rng(9)
    X, y = rng.standard_normal((8, 4)), rng.standard_normal((8, 2))
    net = reg.DropoutMLP([4, 6, 5, 2], p=0.5, activation="relu", seed=1)
    t = {k: torch.tensor(v, requires_grad=True) for k, v in net.params.items()}
    torch.manual_seed(3)
    h1 = F.dropout(torch.relu(torch.tensor(X) @ t["W1"] + t["b1"]), 0.5, training=True)
    h2 = F.dropout(torch.relu(h1 @ t["W2"] + t["b2"]), 0.5, training=True)
    out = h2 @ t["W3"] + t["b3"]
    ((out - torch.tensor(y)) ** 2).sum(1).mean().backward()
    # A ReLU output can itself be 0, so recover the masks from the zeros of the same draws
    # applied to inputs of ones (same seed, same shapes, same order).
    torch.manual_seed(3)
    m1 = F.dropout(torch.ones(8, 6), 0.5, training=True).numpy() != 0
    m2 = F.dropout(torch.ones(8, 5), 0.5, training=True).numpy() != 0
    net.masks = [m1.astype(float), m2.astype(float)]
    np.testing.assert_allclose(net.forward(X), out.detach().numpy(), rtol=1e-13, atol=1e-15)
    _, grads = mlp.loss_and_grads(net, X, y)
    for k in grads:
        np.testing.assert_allclose(grads[k], t[k].grad.numpy(), rtol=1e-12, atol=1e-14)
    net.eval()
    np.testing.assert_allclose(net.forward(X), mlp.MLP.forward(net, X), rtol=1e-15)


def test_dropout_mlp_modes():
    net = reg.DropoutMLP([3, 20, 2], p=0.5, seed=0)
    X = np.ones((4, 3))
    assert net.training
    a, b = net.forward(X), net.forward(X)
    assert not np.array_equal(a, b), "training mode draws a new mask every pass"
    net.eval()
    np.testing.assert_array_equal(net.forward(X), net.forward(X))
    assert net.train() is net and net.training


# --- L2 and the lecture's step ----------------------------------------------------------

def test_l2_penalty_and_gradient():
    rng = np.random.default_rng(10)
    w = {"W": rng.standard_normal((3, 4)), "b": rng.standard_normal(4)}
    lam = 0.3
    assert reg.l2_penalty(w, lam) == pytest.approx(
        lam / 2 * (np.sum(w["W"] ** 2) + np.sum(w["b"] ** 2)), rel=1e-14)
    numeric = gradcheck.numerical_gradients(lambda _: reg.l2_penalty(w, lam), w)
    grads = reg.l2_grad(w, lam)
    for k in w:
        np.testing.assert_allclose(grads[k], numeric[k], rtol=1e-8)
    np.testing.assert_array_equal(reg.l2_grad(w["b"], lam), lam * w["b"])
    assert [g.shape for g in reg.l2_grad([w["W"], w["b"]], lam)] == [(3, 4), (4,)]


@pytest.mark.parametrize("lam", [0.0, 0.1, 2.0])
def test_ridge_gradient_by_finite_differences(lam):
    rng = np.random.default_rng(11)
    X, y, w = rng.standard_normal((9, 4)), rng.standard_normal(9), rng.standard_normal(4)
    E, grad = reg.ridge_loss_and_grad(w, X, y, lam)
    assert E == pytest.approx(np.mean((X @ w - y) ** 2) + lam / 2 * w @ w, rel=1e-13)
    numeric = gradcheck.numerical_gradient(lambda w_: reg.ridge_loss_and_grad(w_, X, y, lam)[0], w)
    np.testing.assert_allclose(grad, numeric, rtol=1e-7, atol=1e-9)


def test_penalised_gradients_are_sgd_weight_decay():
    """A step on the gradient of C + lam/2 |w|^2 is optim.SGD(weight_decay=lam), torch's."""
    rng = np.random.default_rng(12)
    X, y = rng.standard_normal((10, 3)), rng.standard_normal((10, 1))
    a, b = mlp.MLP([3, 4, 1], seed=0), mlp.MLP([3, 4, 1], seed=0)
    E, grads = reg.loss_and_grads(a, X, y, lam=0.2)
    assert E == pytest.approx(losses.mse(a.forward(X), y) + reg.l2_penalty(a.params, 0.2))
    optim.SGD(0.1).step(a.params, grads)
    _, plain = mlp.loss_and_grads(b, X, y)
    optim.SGD(0.1, weight_decay=0.2).step(b.params, plain)
    for k in a.params:
        np.testing.assert_allclose(a.params[k], b.params[k], rtol=1e-14)


def torch_dropout_l2_step(start, x, y, p, eta, lam, seed):
    """One torch.optim.SGD(weight_decay) step of relu(x W1 + b1) -> dropout -> W2, b2;
    returns the new parameters and the mask torch drew."""
    t = {k: torch.tensor(v, requires_grad=True) for k, v in start.items()}
    torch.manual_seed(seed)
    hidden = torch.relu(torch.tensor(x) @ t["W1"] + t["b1"])
    dropped = F.dropout(hidden, p, training=True)
    ((dropped @ t["W2"] + t["b2"] - torch.tensor(y)) ** 2).sum().backward()
    torch.optim.SGD(list(t.values()), lr=eta, weight_decay=lam).step()
    torch.manual_seed(seed)
    xi = F.dropout(torch.ones_like(hidden), p, training=True).detach().numpy()[0] != 0
    return {k: v.detach().numpy() for k, v in t.items()}, xi.astype(float)


@pytest.mark.parametrize("p,eta,lam", [(0.0, 0.1, 0.01), (0.5, 0.05, 0.1), (0.8, 0.2, 0.0),
                                       (0.3, 0.1, 1.0)])
def test_lecture_step_is_torch_sgd_weight_decay_with_the_same_mask(p, eta, lam):
    """w := w(1 - eta lam) - eta xi L'(w) / (1 - p), with L' through the undropped neuron."""
    rng = np.random.default_rng(13)
    x, y = rng.standard_normal((1, 5)), rng.standard_normal((1, 3))
    start = {"W1": rng.standard_normal((5, 8)), "b1": rng.standard_normal(8),
             "W2": rng.standard_normal((8, 3)), "b2": rng.standard_normal(3)}
    expected, xi = torch_dropout_l2_step(start, x, y, p, eta, lam, seed=int(10 * p))
    z = x @ start["W1"] + start["b1"]
    a = np.maximum(z, 0)
    out = reg.dropout(a, xi, p) @ start["W2"] + start["b2"]
    d_out = 2 * (out - y)
    d_a = d_out @ start["W2"].T                       # dL/dx_h: the neuron as if kept
    d_z = d_a * (z > 0)
    got = {"W1": reg.dropout_l2_step(start["W1"], x.T @ d_z, xi, eta, lam, p),
           "b1": reg.dropout_l2_step(start["b1"], d_z[0], xi, eta, lam, p),
           "W2": reg.dropout_l2_step(start["W2"], reg.dropout(a, xi, p).T @ d_out, 1.0, eta, lam, 0),
           "b2": reg.dropout_l2_step(start["b2"], d_out[0], 1.0, eta, lam, 0)}
    for k in got:
        np.testing.assert_allclose(got[k], expected[k], rtol=1e-13, atol=1e-15)


# --- the expectation --------------------------------------------------------------------

def test_thinned_mean_is_the_mean_of_thinned_layers_and_tends_to_eval():
    rng = np.random.default_rng(14)
    x, W, b = rng.standard_normal((3, 6)), rng.standard_normal((6, 2)), rng.standard_normal(2)
    U = rng.random((4000, 3, 6))
    p = 0.4
    by_hand = np.mean([reg.dropout(x, reg.keep_mask(u, p), p) @ W + b for u in U[:50]], axis=0)
    np.testing.assert_allclose(reg.thinned_mean(x, W, b, U[:50], p), by_hand, rtol=1e-12)
    # The standard deviation of one thinned output is at most sqrt(p/(1-p)) |x| |W|.
    bound = 5 * np.sqrt(p / (1 - p)) * np.abs(x) @ np.abs(W) / np.sqrt(len(U))
    assert np.all(np.abs(reg.thinned_mean(x, W, b, U, p) - (x @ W + b)) < bound)
    np.testing.assert_allclose(reg.thinned_mean(x, W, b, U[:3], 0.0), x @ W + b, rtol=1e-14)


# --- properties -------------------------------------------------------------------------

shapes = st.tuples(st.integers(1, 6), st.integers(1, 6))


@given(st.data(), shapes, st.floats(0.0, 0.999))
def test_dropout_is_a_self_adjoint_diagonal_map(data, shape, p):
    x = data.draw(arrays(np.float64, shape, elements=st.floats(-1e3, 1e3)))
    g = data.draw(arrays(np.float64, shape, elements=st.floats(-1e3, 1e3)))
    mask = data.draw(arrays(np.float64, shape, elements=st.sampled_from([0.0, 1.0])))
    out = reg.dropout(x, mask, p)
    assert np.all(out[mask == 0] == 0)
    np.testing.assert_allclose(out[mask == 1], x[mask == 1] / (1 - p), rtol=1e-15)
    assert np.sum(out * g) == pytest.approx(np.sum(x * reg.dropout_grad(g, mask, p)),
                                            rel=1e-9, abs=1e-6)


@given(arrays(np.float64, st.integers(1, 20), elements=st.floats(-1e6, 1e6)),
       st.floats(0.0, 1.0), st.floats(0.0, 1.0), st.floats(0.0, 10.0))
def test_dropout_l2_step_without_warnings(w, p, eta, lam):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        new = reg.dropout_l2_step(w, w, np.zeros_like(w), eta, lam, p)
    np.testing.assert_allclose(new, w * (1 - eta * lam), rtol=1e-15)
