"""The gradient checker (lecture 002's finite differences): accuracy orders, the in-place
contract, the relative error, and the graded notebook's tolerance choice."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from nnref import losses, mlp
from nnref.gradcheck import (gradcheck, numerical_gradient, numerical_gradient_demo,
                             numerical_gradients, relative_error)


def smooth(v):
    return float(np.sum(np.exp(np.sin(v))))


def smooth_grad(v):
    return np.cos(v) * np.exp(np.sin(v))


def test_x_is_restored_exactly_and_the_gradient_has_its_shape():
    x = np.random.default_rng(0).standard_normal((3, 4))
    before = x.copy()
    for method in ("central", "forward"):
        g = numerical_gradient(smooth, x, method=method)
        assert g.shape == x.shape
        np.testing.assert_array_equal(x, before)


def test_f_may_read_the_perturbed_array_without_using_its_argument():
    """CS231n style: f closes over the very array that is perturbed."""
    w = np.array([0.5, -1.0, 2.0])
    g = numerical_gradient(lambda _: float(np.sum(w**3)), w)
    np.testing.assert_allclose(g, 3 * w**2, rtol=1e-8)


def test_central_difference_is_exact_for_a_quadratic_up_to_rounding():
    rng = np.random.default_rng(1)
    A, b = rng.standard_normal((5, 5)), rng.standard_normal(5)
    x = rng.standard_normal(5)
    g = numerical_gradient(lambda v: 0.5 * v @ A @ v + b @ v, x, eps=1e-3)
    np.testing.assert_allclose(g, 0.5 * (A + A.T) @ x + b, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("method, order, eps_range", [("forward", 1, (-1.5, -4.5)),
                                                      ("central", 2, (-1.0, -3.0))])
def test_error_is_of_order_eps_one_sided_and_eps_squared_central(method, order, eps_range):
    """Fit log(error) = slope * log(eps) + c where truncation dominates rounding."""
    x = np.array([0.7])
    epsilons = np.logspace(*eps_range, 7)
    errors = [abs(numerical_gradient(smooth, x, eps, method)[0] - smooth_grad(x)[0])
              for eps in epsilons]
    slope = np.polyfit(np.log(epsilons), np.log(errors), 1)[0]
    assert slope == pytest.approx(order, abs=0.1)


def test_too_small_eps_loses_to_rounding():
    x = np.array([0.7])
    error = {eps: abs(numerical_gradient(smooth, x, eps)[0] - smooth_grad(x)[0])
             for eps in (1e-5, 1e-13)}
    assert error[1e-13] > 100 * error[1e-5]


def test_unknown_method_is_refused():
    with pytest.raises(ValueError):
        numerical_gradient(smooth, np.zeros(2), method="backward")


def test_numerical_gradients_of_a_parameter_dict_match_the_mlp_backward():
    rng = np.random.default_rng(2)
    net = mlp.MLP([3, 4, 2], "tanh", "identity", seed=2)
    X, y = rng.standard_normal((6, 3)), rng.standard_normal((6, 2))
    _, grads = mlp.loss_and_grads(net, X, y)
    numeric = numerical_gradients(lambda p: losses.mse(net.forward(X), y), net.params)
    assert set(numeric) == set(grads)
    for name in grads:
        assert numeric[name].shape == grads[name].shape
        assert relative_error(numeric[name], grads[name]) < 1e-8


arrays = hnp.arrays(np.float64, st.integers(1, 6),
                    elements=st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False))


@settings(max_examples=50, deadline=None)
@given(a=arrays, b=arrays, scale=st.floats(1e-3, 1e3))
def test_relative_error_is_symmetric_scale_free_and_between_0_and_1(a, b, scale):
    if a.shape != b.shape:
        b = np.resize(b, a.shape)
    r = relative_error(a, b)
    assert 0.0 <= r <= 1.0
    assert r == relative_error(b, a)
    assert relative_error(scale * a, scale * b) == pytest.approx(r, rel=1e-9, abs=1e-12)
    assert relative_error(a, a) == 0.0


def test_gradcheck_accepts_a_right_gradient_and_rejects_a_wrong_one():
    x = np.random.default_rng(3).standard_normal(6)
    assert gradcheck(smooth, smooth_grad, x) < 1e-8
    assert gradcheck(smooth, lambda v: 0.5 * smooth_grad(v), x) > 0.1   # a lost factor 2


def test_demo_gradient_matches_torch_autograd():
    x = np.random.default_rng(4).standard_normal((3, 4))
    t = torch.tensor(x, requires_grad=True)
    torch.sum(torch.sin(t) * t**2).backward()
    np.testing.assert_allclose(numerical_gradient_demo(x), t.grad.numpy(), rtol=1e-13)


@pytest.mark.parametrize("shape", [(5,), (3, 4), (10,)])
def test_graded_tolerance_passes_central_and_fails_one_sided(shape):
    """The notebook grades numerical_gradient(f, x, eps=1e-4) with rtol = atol = 1e-6."""
    f = lambda v: np.sum(np.sin(v) * v**2)                            # noqa: E731
    rng = np.random.default_rng(5)
    for _ in range(20):
        x = rng.standard_normal(shape)
        tol = 1e-6 + 1e-6 * np.abs(numerical_gradient_demo(x))
        central = numerical_gradient(f, x.copy(), eps=1e-4)
        forward = numerical_gradient(f, x.copy(), eps=1e-4, method="forward")
        assert np.all(np.abs(central - numerical_gradient_demo(x)) <= tol)
        assert np.any(np.abs(forward - numerical_gradient_demo(x)) > tol)
