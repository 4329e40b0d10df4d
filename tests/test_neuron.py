"""Specification of nnref.neuron: one neuron as linear, logistic and Poisson regression,
the McCulloch–Pitts threshold, and gradient descent on the MSE (lectures 000, 003)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from nnref import activations, losses, neuron

torch.set_default_dtype(torch.float64)
torch.set_num_threads(1)   # tiny tensors: threads only add overhead
RNG = np.random.default_rng(0)


def data(n=7, d=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)), rng.standard_normal(n), rng.standard_normal(d), 0.3


def t(a):
    return torch.tensor(np.asarray(a, dtype=np.float64))


# --- forward ------------------------------------------------------------------------------


def test_neuron_is_sigma_of_weighted_sum_plus_bias():
    X = np.array([[1.0, 2.0], [0.0, -1.0]])
    w, b = np.array([0.5, -1.0]), 2.0
    expected_z = np.array([1.0 * 0.5 + 2.0 * -1.0 + 2.0, 0.0 + 1.0 + 2.0])
    np.testing.assert_allclose(neuron.neuron(X, w, b), expected_z, rtol=0, atol=0)
    np.testing.assert_allclose(neuron.neuron(X, w, b, np.tanh), np.tanh(expected_z))
    np.testing.assert_allclose(neuron.neuron(X, w, b, "relu"), np.maximum(expected_z, 0))


@pytest.mark.parametrize("predict, torch_sigma", [
    (neuron.predict_linear, lambda z: z),
    (neuron.predict_logistic, torch.sigmoid),
    (neuron.predict_poisson, torch.exp),
])
def test_three_regressions_match_torch_linear_layer(predict, torch_sigma):
    X, _, w, b = data(9, 4)
    layer = torch.nn.Linear(4, 1)
    with torch.no_grad():
        layer.weight.copy_(t(w)[None, :])
        layer.bias.fill_(b)
        expected = torch_sigma(layer(t(X))).squeeze(1).numpy()
    np.testing.assert_allclose(predict(X, w, b), expected, rtol=1e-12, atol=1e-14)


def test_logistic_neuron_outputs_probabilities_even_at_extreme_inputs():
    X = np.array([[1000.0], [-1000.0], [0.0]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        p = neuron.predict_logistic(X, np.array([1.0]), 0.0)
    np.testing.assert_array_equal(p, [1.0, 0.0, 0.5])


def test_mcculloch_pitts_fires_iff_weighted_sum_exceeds_threshold():
    X = np.array([[1.0, 1.0], [1.0, 0.0], [0.0, 0.0]])
    w = np.array([1.0, 1.0])
    np.testing.assert_array_equal(neuron.mcculloch_pitts(X, w, 1.5), [1.0, 0.0, 0.0])
    np.testing.assert_array_equal(neuron.mcculloch_pitts(X, w, 0.5), [1.0, 1.0, 0.0])
    # the threshold itself does not fire: [z > 0] is strict
    np.testing.assert_array_equal(neuron.mcculloch_pitts(X, w, 1.0), [1.0, 0.0, 0.0])


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 6), st.integers(1, 5), st.floats(-3, 3))
def test_mcculloch_pitts_is_a_neuron_with_bias_minus_w0(n, d, w0):
    rng = np.random.default_rng(n * 10 + d)
    X, w = rng.standard_normal((n, d)), rng.standard_normal(d)
    np.testing.assert_array_equal(neuron.mcculloch_pitts(X, w, w0),
                                  neuron.neuron(X, w, -w0, activations.heaviside))


# --- the MSE gradient and the GD step -------------------------------------------------------


def torch_mse_grad(X, y, w, b):
    w_t, b_t = t(w).requires_grad_(), t(b).requires_grad_()
    loss = F.mse_loss(t(X) @ w_t + b_t, t(y))
    loss.backward()
    return w_t.grad.numpy(), float(b_t.grad)


@pytest.mark.parametrize("n, d", [(1, 1), (5, 1), (7, 3), (50, 10)])
def test_mse_gradient_matches_torch_autograd(n, d):
    X, y, w, b = data(n, d, seed=n + d)
    dw, db = neuron.mse_gradient(X, y, w, b)
    dw_t, db_t = torch_mse_grad(X, y, w, b)
    np.testing.assert_allclose(dw, dw_t, rtol=1e-10, atol=1e-12)
    assert db == pytest.approx(db_t, rel=1e-10, abs=1e-12)


def test_mse_gradient_is_the_closed_form_two_over_n():
    X, y, w, b = data(6, 2)
    residual = X @ w + b - y
    dw, db = neuron.mse_gradient(X, y, w, b)
    np.testing.assert_allclose(dw, 2 / 6 * X.T @ residual, rtol=1e-13)
    assert db == pytest.approx(2 / 6 * residual.sum(), rel=1e-13)


def test_mse_gradient_matches_central_finite_differences():
    X, y, w, b = data(8, 3)
    dw, db = neuron.mse_gradient(X, y, w, b)
    h = 1e-6
    L = lambda w, b: losses.mse(X @ w + b, y)  # noqa: E731
    for j in range(3):
        e = np.eye(3)[j] * h
        assert dw[j] == pytest.approx((L(w + e, b) - L(w - e, b)) / (2 * h), rel=1e-7)
    assert db == pytest.approx((L(w, b + h) - L(w, b - h)) / (2 * h), rel=1e-7)


@pytest.mark.parametrize("eta", [0.01, 0.1, 0.5])
def test_gd_step_matches_torch_sgd_on_mse(eta):
    X, y, w, b = data(10, 3)
    w_new, b_new = neuron.mse_gd_step(X, y, w, b, eta)
    w_t, b_t = t(w).requires_grad_(), t(b).requires_grad_()
    opt = torch.optim.SGD([w_t, b_t], lr=eta)
    F.mse_loss(t(X) @ w_t + b_t, t(y)).backward()
    opt.step()
    np.testing.assert_allclose(w_new, w_t.detach().numpy(), rtol=1e-12, atol=1e-14)
    assert b_new == pytest.approx(b_t.item(), rel=1e-12, abs=1e-14)


def test_gd_step_does_not_modify_its_inputs():
    X, y, w, b = data()
    w_before = w.copy()
    neuron.mse_gd_step(X, y, w, b, 0.1)
    np.testing.assert_array_equal(w, w_before)


def test_gd_step_with_zero_learning_rate_stays_put_and_at_optimum_too():
    X, y, w, b = data()
    w0, b0 = neuron.mse_gd_step(X, y, w, b, 0.0)
    np.testing.assert_array_equal(w0, w)
    w_star, b_star = neuron.least_squares(X, y)
    w1, b1 = neuron.mse_gd_step(X, y, w_star, b_star, 0.1)
    np.testing.assert_allclose(w1, w_star, atol=1e-12)
    assert b1 == pytest.approx(b_star, abs=1e-12)


def test_fit_neuron_gd_converges_to_least_squares_with_monotone_loss():
    X, y, _, _ = data(40, 2)
    eta = 0.9 * neuron.mse_max_stable_eta(X)
    w, b, history = neuron.fit_neuron_gd(X, y, eta, 400)
    w_star, b_star = neuron.least_squares(X, y)
    assert len(history) == 401
    assert np.all(np.diff(history) <= 1e-15)            # GD with a stable step never goes up
    np.testing.assert_allclose(w, w_star, atol=1e-8)
    assert b == pytest.approx(b_star, abs=1e-8)
    assert history[-1] == pytest.approx(losses.mse(X @ w_star + b_star, y), rel=1e-10)


def test_fit_neuron_gd_history_is_the_loss_along_mse_gd_steps():
    X, y, w, b = data(12, 2)
    _, _, history = neuron.fit_neuron_gd(X, y, 0.05, 5, w=w, b=b)
    for t_ in range(5):
        assert history[t_] == pytest.approx(losses.mse(X @ w + b, y), rel=1e-13)
        w, b = neuron.mse_gd_step(X, y, w, b, 0.05)


def test_gd_diverges_above_the_critical_step():
    X, y, _, _ = data(30, 2)
    eta_max = neuron.mse_max_stable_eta(X)
    *_, stable = neuron.fit_neuron_gd(X, y, 0.99 * eta_max, 300)
    *_, unstable = neuron.fit_neuron_gd(X, y, 1.01 * eta_max, 300)
    assert stable[-1] < stable[0] and unstable[-1] > 10 * unstable[0]


# --- logistic and Poisson neurons: gradients of their natural losses ----------------------


def test_poisson_nll_matches_torch():
    rng = np.random.default_rng(1)
    z, y = rng.standard_normal(20), rng.poisson(2.0, 20).astype(float)
    expected = F.poisson_nll_loss(t(z), t(y), log_input=True, full=False).item()
    assert losses.poisson_nll(np.exp(z), y) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("sigma, loss, torch_loss", [
    ("identity", "mse", lambda z, y: F.mse_loss(z, y)),
    ("sigmoid", "binary_cross_entropy", lambda z, y: F.binary_cross_entropy_with_logits(z, y)),
    ("exp", "poisson_nll", lambda z, y: F.poisson_nll_loss(z, y, log_input=True)),
])
def test_neuron_gradient_matches_torch_autograd(sigma, loss, torch_loss):
    rng = np.random.default_rng(2)
    X, w, b = rng.standard_normal((15, 3)), 0.5 * rng.standard_normal(3), 0.1
    y = {"mse": rng.standard_normal(15), "binary_cross_entropy": rng.integers(0, 2, 15),
         "poisson_nll": rng.poisson(1.5, 15)}[loss].astype(float)
    dw, db = neuron.neuron_gradient(X, y, w, b, sigma, loss)
    w_t, b_t = t(w).requires_grad_(), t(b).requires_grad_()
    torch_loss(t(X) @ w_t + b_t, t(y)).backward()
    np.testing.assert_allclose(dw, w_t.grad.numpy(), rtol=1e-10, atol=1e-12)
    assert db == pytest.approx(float(b_t.grad), rel=1e-10, abs=1e-12)


@pytest.mark.parametrize("sigma, loss, scale", [
    ("identity", "mse", 2.0), ("sigmoid", "binary_cross_entropy", 1.0), ("exp", "poisson_nll", 1.0),
])
def test_canonical_links_share_one_gradient_formula(sigma, loss, scale):
    """For all three models the gradient is (c/n) X^T (y_hat - y): c = 2 for MSE, 1 else."""
    rng = np.random.default_rng(3)
    X, w, b = rng.standard_normal((11, 2)), rng.standard_normal(2), -0.2
    y = rng.integers(0, 2, 11).astype(float)
    y_hat = neuron.neuron(X, w, b, sigma)
    dw, db = neuron.neuron_gradient(X, y, w, b, sigma, loss)
    np.testing.assert_allclose(dw, scale / 11 * X.T @ (y_hat - y), rtol=1e-10)
    assert db == pytest.approx(scale / 11 * np.sum(y_hat - y), rel=1e-10)


@pytest.mark.parametrize("model, torch_loss, scale", [
    ("linear", lambda z, y: F.mse_loss(z, y), 1.0),
    ("logistic", lambda z, y: F.binary_cross_entropy_with_logits(z, y), 1.0),
    ("logistic", lambda z, y: F.binary_cross_entropy_with_logits(z, y), 300.0),
    ("poisson", lambda z, y: F.poisson_nll_loss(z, y, log_input=True), 0.5),
])
def test_canonical_gradient_matches_torch_autograd_and_the_chain_rule(model, torch_loss, scale):
    """The residual form (c/n) X^T (y_hat - y) is torch's gradient, also for saturated logits."""
    rng = np.random.default_rng(5)
    X, w, b = rng.standard_normal((13, 3)), scale * rng.standard_normal(3), 0.2
    y = (rng.poisson(1.5, 13) if model == "poisson" else rng.integers(0, 2, 13)).astype(float)
    if model == "linear":
        y = rng.standard_normal(13)
    dw, db = neuron.canonical_gradient(X, y, w, b, model)
    w_t, b_t = t(w).requires_grad_(), t(b).requires_grad_()
    torch_loss(t(X) @ w_t + b_t, t(y)).backward()
    np.testing.assert_allclose(dw, w_t.grad.numpy(), rtol=1e-12, atol=1e-15)
    assert db == pytest.approx(float(b_t.grad), rel=1e-12, abs=1e-15)
    if scale == 1.0:
        sigma, loss, _ = neuron.CANONICAL_MODELS[model]
        np.testing.assert_allclose(dw, neuron.neuron_gradient(X, y, w, b, sigma, loss)[0],
                                   rtol=1e-10)


def test_fit_logistic_and_poisson_neurons_recover_the_generating_weights():
    rng = np.random.default_rng(4)
    X = rng.uniform(-2, 2, (4000, 1))
    y_bernoulli = (rng.random(4000) < activations.sigmoid(2.0 * X[:, 0] - 0.5)).astype(float)
    w, b, _ = neuron.fit_neuron_gd(X, y_bernoulli, 2.0, 1500, "sigmoid", "binary_cross_entropy")
    assert w[0] == pytest.approx(2.0, abs=0.25) and b == pytest.approx(-0.5, abs=0.15)
    y_counts = rng.poisson(np.exp(0.8 * X[:, 0] + 0.3)).astype(float)
    w, b, _ = neuron.fit_neuron_gd(X, y_counts, 0.1, 1500, "exp", "poisson_nll")
    assert w[0] == pytest.approx(0.8, abs=0.06) and b == pytest.approx(0.3, abs=0.06)
