"""nnref.losses is correct: every loss against PyTorch (float64) where torch has it, every
gradient against torch's autograd and against central finite differences, and the
properties the chapter relies on (losses are non-negative, stable at |z| = 1000)."""

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from nnref import losses as L

RTOL = 1e-10
rng = np.random.default_rng(2025)
N, C = 7, 4


def t(a, grad=False):
    return torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


def torch_loss_and_grad(torch_loss, y_hat, *rest):
    """The value of a torch loss and its gradient with respect to the first argument."""
    ty = t(y_hat, grad=True)
    value = torch_loss(ty, *rest)
    value.backward()
    return value.item(), ty.grad.numpy()


def numerical_gradient(f, x, h=1e-6):
    """Central differences of the scalar f with respect to every entry of x."""
    x = np.array(x, dtype=np.float64)
    grad = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[idx] = h
        grad[idx] = (f(x + e) - f(x - e)) / (2 * h)
    return grad


def check(loss, y_hat, y, torch_loss, *, kwargs=None, torch_args=()):
    """loss and loss_grad agree with torch (value and autograd) and with central differences."""
    kwargs = kwargs or {}
    value, grad = torch_loss_and_grad(torch_loss, y_hat, *torch_args)
    assert getattr(L, loss)(y_hat, y, **kwargs) == pytest.approx(value, rel=RTOL)
    analytic = getattr(L, f"{loss}_grad")(y_hat, y, **kwargs)
    np.testing.assert_allclose(analytic, grad, rtol=RTOL, atol=1e-14)
    numeric = numerical_gradient(lambda u: getattr(L, loss)(u, y, **kwargs), y_hat)
    roundoff = 1e-8 * max(1.0, abs(value))          # central differences lose digits on big losses
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=roundoff)


# --- regression ---------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(N,), (N, 3)])
def test_mse_matches_torch(shape):
    y_hat, y = rng.normal(size=shape), rng.normal(size=shape)
    # our convention: summed over the K outputs, averaged over the n objects
    check("mse", y_hat, y, lambda u: F.mse_loss(u, t(y), reduction="sum") / shape[0])


@pytest.mark.parametrize("shape", [(N,), (N, 3)])
def test_mae_matches_torch_l1_loss(shape):
    y_hat, y = rng.normal(size=shape), rng.normal(size=shape)
    check("mae", y_hat, y, lambda u: F.l1_loss(u, t(y), reduction="sum") / shape[0])


def test_mae_is_torchs_mean_l1_loss_for_a_scalar_output():
    y_hat, y = rng.normal(size=N), rng.normal(size=N)
    assert L.mae(y_hat, y) == pytest.approx(F.l1_loss(t(y_hat), t(y)).item(), rel=RTOL)


def test_mae_subgradient_at_zero_is_zero_like_torch():
    y = np.array([1.0, 2.0, 3.0])
    _, grad = torch_loss_and_grad(lambda u: F.l1_loss(u, t(y)), y.copy())
    np.testing.assert_array_equal(L.mae_grad(y, y), grad)
    np.testing.assert_array_equal(grad, 0.0)


def test_msle_is_mse_of_log1p():
    y_hat, y = rng.uniform(0, 5, N), rng.uniform(0, 5, N)
    check("msle", y_hat, y, lambda u: F.mse_loss(torch.log1p(u), torch.log1p(t(y))))


def test_msle_measures_relative_error():
    assert L.msle(np.array([9.0]), np.array([10.0])) == pytest.approx(
        L.msle(np.array([99.0]), np.array([109.0])), rel=1e-12)


def test_mape_is_100_times_mean_relative_error():
    y_hat, y = rng.normal(size=N), rng.uniform(1, 3, N) * rng.choice([-1, 1], N)
    check("mape", y_hat, y, lambda u: 100 * torch.mean(torch.abs((t(y) - u) / t(y))))
    assert L.mape(np.array([90.0, 110.0]), np.array([100.0, 100.0])) == pytest.approx(10.0)


@pytest.mark.parametrize("full_shape", [(N,), (N, 2)])
def test_gaussian_nll_matches_torch_with_the_constant(full_shape):
    mu, log_sigma, y = (rng.normal(size=full_shape) for _ in range(3))
    tm, ts = t(mu, grad=True), t(log_sigma, grad=True)
    value = F.gaussian_nll_loss(tm, t(y), torch.exp(2 * ts), full=True, reduction="sum") / full_shape[0]
    value.backward()
    assert L.gaussian_nll(mu, log_sigma, y) == pytest.approx(value.item(), rel=RTOL)
    d_mu, d_log_sigma = L.gaussian_nll_grad(mu, log_sigma, y)
    np.testing.assert_allclose(d_mu, tm.grad.numpy(), rtol=RTOL)
    np.testing.assert_allclose(d_log_sigma, ts.grad.numpy(), rtol=RTOL)
    np.testing.assert_allclose(d_mu, numerical_gradient(lambda m: L.gaussian_nll(m, log_sigma, y), mu),
                               rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(d_log_sigma,
                               numerical_gradient(lambda s: L.gaussian_nll(mu, s, y), log_sigma),
                               rtol=1e-6, atol=1e-8)


def test_gaussian_nll_with_unit_sigma_is_half_mse_plus_a_constant():
    y_hat, y = rng.normal(size=N), rng.normal(size=N)
    assert L.gaussian_nll(y_hat, np.zeros(N), y) == pytest.approx(
        0.5 * L.mse(y_hat, y) + 0.5 * np.log(2 * np.pi), rel=1e-12)


def test_density_nll_reads_mu_and_log_sigma_from_two_columns():
    y_hat, y = rng.normal(size=(N, 2)), rng.normal(size=(N, 1))
    assert L.density_nll(y_hat, y) == L.gaussian_nll(y_hat[:, 0], y_hat[:, 1], y[:, 0])
    np.testing.assert_allclose(L.density_nll_grad(y_hat, y),
                               numerical_gradient(lambda u: L.density_nll(u, y), y_hat),
                               rtol=1e-6, atol=1e-8)


# --- probabilities ---------------------------------------------------------------------------


def test_binary_cross_entropy_matches_torch():
    a, y = rng.uniform(0.05, 0.95, N), rng.integers(0, 2, N).astype(float)
    check("binary_cross_entropy", a, y, lambda u: F.binary_cross_entropy(u, t(y)))


def test_binary_cross_entropy_is_positive_with_the_right_sign():
    # lecture 004's slip (a minus inside the bracket) would make this negative
    assert L.binary_cross_entropy(np.array([0.9]), np.array([1.0])) == pytest.approx(-np.log(0.9))
    assert L.binary_cross_entropy(np.array([0.9]), np.array([0.0])) == pytest.approx(-np.log(0.1))


@pytest.mark.parametrize("scale", [1.0, 30.0])
def test_bce_with_logits_matches_torch(scale):
    z, y = scale * rng.normal(size=N), rng.integers(0, 2, N).astype(float)
    check("bce_with_logits", z, y, lambda u: F.binary_cross_entropy_with_logits(u, t(y)))


def test_bce_with_logits_equals_bce_of_the_sigmoid():
    from nnref.activations import sigmoid
    z, y = rng.normal(size=N), rng.uniform(0, 1, N)
    assert L.bce_with_logits(z, y) == pytest.approx(L.binary_cross_entropy(sigmoid(z), y), rel=1e-10)


def test_bce_with_logits_is_stable_at_1000():
    z, y = np.array([-1000.0, 1000.0, -1000.0, 1000.0]), np.array([0.0, 1.0, 1.0, 0.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value, grad = L.bce_with_logits(z, y), L.bce_with_logits_grad(z, y)
    expected = F.binary_cross_entropy_with_logits(t(z), t(y)).item()
    assert value == pytest.approx(expected, rel=RTOL) and value == pytest.approx(500.0)
    np.testing.assert_allclose(grad, [0, 0, -0.25, 0.25])


@pytest.mark.parametrize("scale", [1.0, 100.0])
def test_softmax_cross_entropy_matches_torch(scale):
    logits, labels = scale * rng.normal(size=(N, C)), rng.integers(0, C, N)
    check("softmax_cross_entropy", logits, labels,
          lambda u: F.cross_entropy(u, torch.tensor(labels)))


def test_softmax_cross_entropy_is_stable_at_1000():
    logits = np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 1000.0]])
    labels = np.array([1, 2])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value = L.softmax_cross_entropy(logits, labels)
        grad = L.softmax_cross_entropy_grad(logits, labels)
    assert value == pytest.approx(F.cross_entropy(t(logits), torch.tensor(labels)).item(), rel=RTOL)
    assert np.all(np.isfinite(grad))


def test_softmax_cross_entropy_gradient_is_softmax_minus_onehot_over_n():
    logits, labels = rng.normal(size=(N, C)), rng.integers(0, C, N)
    grad = L.softmax_cross_entropy_grad(logits, labels)
    np.testing.assert_allclose(grad.sum(axis=1), 0.0, atol=1e-15)       # rows sum to 0
    assert np.all(grad[np.arange(N), labels] < 0)                        # push the true class up


def test_kl_divergence_matches_torch_kl_div_batchmean():
    y_hat = rng.dirichlet(np.ones(C), size=N)
    y = rng.dirichlet(np.ones(C), size=N)
    y[0] = [0.0, 0.5, 0.5, 0.0]                                          # 0 ln 0 = 0
    check("kl_divergence", y_hat, y,
          lambda u: F.kl_div(torch.log(u), t(y), reduction="batchmean"))


def test_kl_divergence_is_zero_for_equal_distributions():
    p = rng.dirichlet(np.ones(C), size=N)
    assert L.kl_divergence(p, p) == pytest.approx(0.0, abs=1e-15)


# --- margins --------------------------------------------------------------------------------


def test_binary_hinge_matches_its_torch_formula():
    y_hat, y = rng.normal(size=N), rng.choice([-1.0, 1.0], N)
    for alpha in (1.0, 0.5):
        check("hinge", y_hat, y, lambda u, a=alpha: torch.mean(F.relu(a - t(y) * u)),
              kwargs={"alpha": alpha})


@pytest.mark.parametrize("alpha", [0.3, 0.5, 0.7])
def test_binary_hinge_is_exact_one_ulp_from_the_margin(alpha):
    """[alpha - M]_+ and its gradient straight from alpha: shifting to (1 - (M - alpha + 1))_+
    rounds away the last digits, so one ulp inside the margin the gradient was -0."""
    inside, outside = np.nextafter(alpha, 0.0), np.nextafter(alpha, 1.0)
    y = np.array([1.0, 1.0, -1.0])
    y_hat = np.array([inside, outside, -inside])
    n = len(y)
    assert L.hinge(y_hat, y, alpha=alpha) == 2 * (alpha - inside) / n
    np.testing.assert_array_equal(L.hinge_grad(y_hat, y, alpha=alpha), [-1 / n, 0.0, 1 / n])
    assert L.hinge(np.array([alpha]), np.array([1.0]), alpha=alpha) == 0.0
    np.testing.assert_array_equal(L.hinge_grad(np.array([alpha]), np.array([1.0]), alpha=alpha), [0.0])


@pytest.mark.parametrize("alpha", [1.0, 0.3])
def test_hinge_2_is_C_times_torch_multi_margin_loss(alpha):
    scores, labels = rng.normal(size=(N, C)), rng.integers(0, C, N)
    check("hinge_2", scores, labels,
          lambda u: C * F.multi_margin_loss(u, torch.tensor(labels), p=1, margin=alpha),
          kwargs={"alpha": alpha})


def torch_hinge_1(scores, labels, alpha):
    n = scores.shape[0]
    true = scores[torch.arange(n), labels]
    others = scores.masked_fill(F.one_hot(labels, scores.shape[1]).bool(), -torch.inf)
    return torch.mean(F.relu(others.max(dim=1).values + alpha - true))


@pytest.mark.parametrize("alpha", [1.0, 0.3])
def test_hinge_1_matches_its_torch_formula(alpha):
    scores, labels = rng.normal(size=(N, C)), rng.integers(0, C, N)
    check("hinge_1", scores, labels,
          lambda u: torch_hinge_1(u, torch.tensor(labels), alpha), kwargs={"alpha": alpha})


def test_hinge_1_is_at_most_hinge_2_and_at_least_hinge_2_over_C_minus_1():
    scores, labels = rng.normal(size=(50, C)), rng.integers(0, C, 50)
    h1, h2 = L.hinge_1(scores, labels), L.hinge_2(scores, labels)
    assert h2 / (C - 1) <= h1 <= h2


def test_hinges_vanish_when_the_true_class_wins_by_the_margin():
    scores = np.array([[3.0, 1.0, 0.5], [0.0, 0.0, 1.5]])
    labels = np.array([0, 2])
    assert L.hinge_1(scores, labels) == 0.0 and L.hinge_2(scores, labels) == 0.0
    np.testing.assert_array_equal(L.hinge_2_grad(scores, labels), 0.0)


# --- loss = data term + lambda R(w) ---------------------------------------------------------------


def test_regularized_adds_lambda_times_r():
    w = {"W1": np.array([[1.0, -2.0]]), "b1": np.array([3.0])}
    assert L.regularized(1.5, w, 0.1, "l2") == pytest.approx(1.5 + 0.1 * 0.5 * 14)
    assert L.regularized(1.5, w, 0.1, "l1") == pytest.approx(1.5 + 0.1 * 6)
    with pytest.raises(ValueError):
        L.regularizer(w, "l3")


@pytest.mark.parametrize("kind", ["l2", "l1"])
def test_regularizer_grad_matches_central_differences(kind):
    w = rng.normal(size=(3, 2))
    np.testing.assert_allclose(L.regularizer_grad(w, kind),
                               numerical_gradient(lambda v: L.regularizer(v, kind), w),
                               rtol=1e-6, atol=1e-8)
    grads = L.regularizer_grad([w, w], kind)
    assert len(grads) == 2


def test_l2_regularizer_gradient_is_torch_sgd_weight_decay():
    w, data_grad, eta, lam = rng.normal(size=5), rng.normal(size=5), 0.1, 0.01
    tw = torch.tensor(w, requires_grad=True)
    tw.grad = torch.tensor(data_grad)
    torch.optim.SGD([tw], lr=eta, weight_decay=lam).step()
    ours = w - eta * (data_grad + lam * L.regularizer_grad(w, "l2"))
    np.testing.assert_allclose(ours, tw.detach().numpy(), rtol=RTOL)


# --- properties -------------------------------------------------------------------------------

reals = arrays(np.float64, st.integers(1, 8), elements=st.floats(-50, 50))


@given(reals, st.data())
def test_losses_are_non_negative(y_hat, data):
    n = y_hat.shape[0]
    y = data.draw(arrays(np.float64, n, elements=st.floats(-50, 50)))
    positive = data.draw(arrays(np.float64, n, elements=st.floats(0.5, 50)))
    bits = data.draw(arrays(np.float64, n, elements=st.sampled_from([0.0, 1.0])))
    assert L.mse(y_hat, y) >= 0
    assert L.mae(y_hat, y) >= 0
    assert L.mape(y_hat, positive) >= 0
    assert L.msle(np.abs(y_hat), positive) >= 0
    assert L.hinge(y_hat, 2 * bits - 1) >= 0
    assert L.bce_with_logits(y_hat, bits) >= 0


@given(arrays(np.float64, st.tuples(st.integers(1, 5), st.integers(2, 5)),
              elements=st.floats(-1000, 1000)), st.data())
def test_classification_losses_are_non_negative_and_finite(scores, data):
    n, c = scores.shape
    labels = np.array(data.draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        values = [L.softmax_cross_entropy(scores, labels), L.hinge_1(scores, labels),
                  L.hinge_2(scores, labels)]
    assert all(np.isfinite(v) and v >= 0 for v in values)


@given(st.integers(1, 5), st.integers(2, 5), st.integers(0, 2**32 - 1))
def test_kl_divergence_is_non_negative(n, c, seed):
    g = np.random.default_rng(seed)
    p, q = g.dirichlet(np.ones(c), size=n), g.dirichlet(np.ones(c), size=n)
    assert L.kl_divergence(q, p) >= -1e-15
