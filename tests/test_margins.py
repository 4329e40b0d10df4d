"""Specification of nnref.margins: the margin M = y<w, x> and the margin losses of
lecture 000, ln(1 + e^{-M}), (1 - M)_+, e^{-M}, 1/(1 + e^M), with their derivatives."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from nnref import margins

torch.set_num_threads(1)   # tiny tensors: threads only add overhead

LOSSES = {
    "log_loss": (margins.log_loss, margins.log_loss_prime, lambda M: F.softplus(-M)),
    "hinge": (margins.hinge, margins.hinge_prime, lambda M: F.relu(1 - M)),
    "exp_loss": (margins.exp_loss, margins.exp_loss_prime, lambda M: torch.exp(-M)),
    "sigmoid_loss": (margins.sigmoid_loss, margins.sigmoid_loss_prime,
                     lambda M: torch.sigmoid(-M)),
}
EXTREME = np.array([-1000.0, -50.0, -1.0, 0.0, 1.0, 50.0, 1000.0])
def no_float_warnings():
    return np.errstate(over="raise", invalid="raise", divide="raise")


def grid_without_kink():
    M = np.linspace(-6, 6, 121) + 0.0123   # avoids the hinge's kink at M = 1 exactly
    return M


def test_margin_is_label_times_score_and_positive_iff_correct():
    X = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    y = np.array([1.0, -1.0, -1.0])
    w = np.array([2.0, 1.0])
    M = margins.margin(X, y, w)
    np.testing.assert_array_equal(M, [2.0, -2.0, -3.0])
    np.testing.assert_array_equal(M > 0, y == np.sign(X @ w))
    np.testing.assert_array_equal(margins.margin(X, y, w, b=1.0), [3.0, -3.0, -4.0])


def test_values_from_the_definitions():
    M = np.array([-1.0, 0.0, 2.0])
    np.testing.assert_allclose(margins.log_loss(M), np.log1p(np.exp(-M)), rtol=1e-15)
    np.testing.assert_array_equal(margins.hinge(M), [2.0, 1.0, 0.0])
    np.testing.assert_allclose(margins.exp_loss(M), np.exp(-M), rtol=1e-15)
    np.testing.assert_allclose(margins.sigmoid_loss(M), 1 / (1 + np.exp(M)), rtol=1e-15)
    np.testing.assert_array_equal(margins.zero_one(M), [1.0, 0.0, 0.0])


@pytest.mark.parametrize("name", LOSSES)
def test_loss_matches_torch(name):
    loss, _, torch_loss = LOSSES[name]
    M = np.concatenate([grid_without_kink(), [-30.0, 30.0]])
    np.testing.assert_allclose(loss(M), torch_loss(torch.tensor(M)).numpy(),
                               rtol=1e-13, atol=1e-300)


@pytest.mark.parametrize("name", LOSSES)
def test_derivative_matches_torch_autograd(name):
    _, loss_prime, torch_loss = LOSSES[name]
    M = np.concatenate([grid_without_kink(), [1.0, -30.0, 30.0]])   # incl. the hinge's kink
    M_t = torch.tensor(M, requires_grad=True)
    torch_loss(M_t).sum().backward()
    # atol: torch's sigmoid backward, sigma(1 - sigma), loses relative precision at M = -30
    np.testing.assert_allclose(loss_prime(M), M_t.grad.numpy(), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", LOSSES)
def test_derivative_matches_central_finite_differences(name):
    loss, loss_prime, _ = LOSSES[name]
    M, h = grid_without_kink(), 1e-6
    numeric = (loss(M + h) - loss(M - h)) / (2 * h)
    np.testing.assert_allclose(loss_prime(M), numeric, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("name", LOSSES)
def test_stable_at_margin_1000(name):
    loss, loss_prime, _ = LOSSES[name]
    with no_float_warnings():
        values, slopes = loss(EXTREME), loss_prime(EXTREME)
    assert not np.isnan(values).any() and not np.isnan(slopes).any()
    if name != "exp_loss":                     # e^{1000} is not a float64: inf is the answer
        assert np.isfinite(values).all() and np.isfinite(slopes).all()


def test_stable_values_at_the_extremes():
    with no_float_warnings():
        assert margins.log_loss(np.array(-1000.0)) == 1000.0
        assert margins.log_loss(np.array(1000.0)) == 0.0
        assert margins.log_loss_prime(np.array(-1000.0)) == -1.0
        assert margins.sigmoid_loss(np.array([-1000.0, 1000.0])).tolist() == [1.0, 0.0]
        assert margins.exp_loss(np.array(-1000.0)) == np.inf


@pytest.mark.parametrize("name", LOSSES)
def test_losses_are_non_increasing_in_the_margin(name):
    loss, loss_prime, _ = LOSSES[name]
    M = np.linspace(-20, 20, 2001)
    assert np.all(np.diff(loss(M)) <= 0)
    assert np.all(loss_prime(M) <= 0)


def test_which_losses_bound_the_zero_one_loss():
    """Hinge and exponential bound [M < 0] from above; the logistic loss does after
    dividing by ln 2 (i.e. in log base 2), the sigmoid loss after doubling."""
    M = np.linspace(-10, 10, 4001)
    zero_one = margins.zero_one(M)
    assert np.all(margins.hinge(M) >= zero_one)
    assert np.all(margins.exp_loss(M) >= zero_one)
    assert np.all(margins.log_loss(M) / np.log(2) >= zero_one)
    assert np.all(2 * margins.sigmoid_loss(M) >= zero_one)
    assert margins.log_loss(np.array(-0.1)) < 1 and margins.sigmoid_loss(np.array(-0.1)) < 1


@settings(max_examples=100, deadline=None)
@given(st.floats(-700, 700))
def test_log_loss_identities(M):
    """ln(1 + e^{-M}) - ln(1 + e^{M}) = -M, and L'(M) + L'(-M) = -1."""
    M = np.array(M)
    assert margins.log_loss(M) - margins.log_loss(-M) == pytest.approx(-M, abs=1e-9)
    assert margins.log_loss_prime(M) + margins.log_loss_prime(-M) == pytest.approx(-1.0)


@settings(max_examples=100, deadline=None)
@given(st.floats(-700, 700))
def test_sigmoid_loss_is_symmetric(M):
    """1/(1 + e^M) + 1/(1 + e^{-M}) = 1."""
    M = np.array(M)
    assert margins.sigmoid_loss(M) + margins.sigmoid_loss(-M) == pytest.approx(1.0)


@settings(max_examples=100, deadline=None)
@given(st.floats(-700, 700))
def test_sigmoid_loss_prime_keeps_relative_precision(M):
    """-e^{M}/(1 + e^{M})^2 is even in M; in logs it is -exp(-|M| - 2 ln(1 + e^{-|M|}))."""
    exact = -np.exp(-abs(M) - 2 * np.log1p(np.exp(-abs(M))))
    assert margins.sigmoid_loss_prime(np.array(M)) == pytest.approx(exact, rel=1e-13)
    assert margins.sigmoid_loss_prime(np.array(-M)) == pytest.approx(exact, rel=1e-13)
