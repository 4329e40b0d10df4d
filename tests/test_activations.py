"""nnref.activations is correct: every activation and derivative against PyTorch (float64,
autograd for derivatives), every derivative against central finite differences, and the
properties the chapter relies on (stability at |z| = 1000, softmax sums to 1, bounds on
the derivatives)."""

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from nnref import activations as A
from nnref import gradcheck

RTOL = 1e-10          # "agrees with torch" means 1e-10 relative in float64
ATOL = 1e-14
EXTREMES = np.array([-1000.0, -50.0, -1.0, 0.0, 1.0, 50.0, 1000.0])


def grid_with_kinks():
    """A dense grid on [-30, 30] that contains the kinks 0 and 6 exactly."""
    return np.unique(np.concatenate([np.linspace(-30, 30, 601), [0.0, 6.0, -1e-8, 1e-8]]))


def torch_value_and_derivative(torch_fn, z, **kwargs):
    """f(z) and f'(z) from PyTorch: element-wise f, so d(sum f)/dz is the derivative."""
    t = torch.tensor(z, dtype=torch.float64, requires_grad=True)
    out = torch_fn(t, **kwargs)
    out.sum().backward()
    return out.detach().numpy(), t.grad.numpy()


def central_difference(f, z, h=1e-6):
    return (f(z + h) - f(z - h)) / (2 * h)


# name in nnref, the torch function, keyword arguments for both (None: same as nnref's)
ELEMENTWISE = [
    ("sigmoid", torch.sigmoid, {}, None),
    ("tanh", torch.tanh, {}, None),
    ("relu", F.relu, {}, None),
    ("leaky_relu", F.leaky_relu, {}, None),
    ("leaky_relu", F.leaky_relu, {"alpha": 0.2}, {"negative_slope": 0.2}),
    ("elu", F.elu, {}, None),
    ("elu", F.elu, {"alpha": 0.5}, {"alpha": 0.5}),
    ("selu", F.selu, {}, None),
    ("relu6", F.relu6, {}, None),
    ("softplus", F.softplus, {}, {"threshold": 40.0}),   # torch: exact ln(1+e^z) below 40
    ("swish", F.silu, {}, None),
    ("mish", F.mish, {}, None),
    ("exp", torch.exp, {}, None),
]
IDS = [f"{name}{kw or ''}" for name, _, kw, _ in ELEMENTWISE]


@pytest.mark.parametrize("name, torch_fn, kwargs, torch_kwargs", ELEMENTWISE, ids=IDS)
def test_activation_and_derivative_match_torch(name, torch_fn, kwargs, torch_kwargs):
    z = grid_with_kinks()
    expected, expected_prime = torch_value_and_derivative(torch_fn, z, **(torch_kwargs or kwargs))
    f, f_prime = getattr(A, name), getattr(A, f"{name}_prime")
    np.testing.assert_allclose(f(z, **kwargs), expected, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(f_prime(z, **kwargs), expected_prime, rtol=RTOL, atol=ATOL)


FINITE_DIFFERENCE_CASES = [(name, {}) for name in dict.fromkeys(n for n, *_ in ELEMENTWISE)] + [
    ("identity", {}), ("leaky_relu", {"alpha": 0.3}), ("elu", {"alpha": 0.3}),
    ("swish", {"beta": 2.0})]


@pytest.mark.parametrize("name, kwargs", FINITE_DIFFERENCE_CASES,
                         ids=[f"{n}{kw or ''}" for n, kw in FINITE_DIFFERENCE_CASES])
def test_derivative_matches_central_differences(name, kwargs):
    f, f_prime = getattr(A, name), getattr(A, f"{name}_prime")
    z = np.linspace(-8, 8, 1601)
    z = z[(np.abs(z) > 1e-3) & (np.abs(z - 6) > 1e-3)]    # the kinks of relu-like units
    numeric = central_difference(lambda u: f(u, **kwargs), z)
    np.testing.assert_allclose(f_prime(z, **kwargs), numeric, rtol=1e-6, atol=1e-8)


def test_swish_with_beta_matches_its_definition_and_derivative():
    z = np.linspace(-10, 10, 201)
    for beta in (0.5, 2.0):
        t = torch.tensor(z, requires_grad=True)
        out = t * torch.sigmoid(beta * t)
        out.sum().backward()
        np.testing.assert_allclose(A.swish(z, beta), out.detach().numpy(), rtol=RTOL, atol=ATOL)
        np.testing.assert_allclose(A.swish_prime(z, beta), t.grad.numpy(), rtol=RTOL, atol=ATOL)


def test_selu_constants_are_torchs():
    np.testing.assert_allclose(A.selu(np.array([1.0, -np.inf])),
                               [A.SELU_LAMBDA, -A.SELU_LAMBDA * A.SELU_ALPHA], rtol=1e-15)
    np.testing.assert_allclose(A.SELU_LAMBDA, F.selu(torch.tensor(1.0, dtype=torch.float64)).item(),
                               rtol=1e-15)


def test_prelu_matches_torch_including_the_gradient_of_alpha():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(7, 4)) * 3
    alpha = rng.uniform(0, 0.5, size=4)
    dout = rng.normal(size=z.shape)
    tz = torch.tensor(z, requires_grad=True)
    ta = torch.tensor(alpha, requires_grad=True)
    out = F.prelu(tz, ta)
    (out * torch.tensor(dout)).sum().backward()
    np.testing.assert_allclose(A.prelu(z, alpha), out.detach().numpy(), rtol=RTOL)
    np.testing.assert_allclose(dout * A.prelu_prime(z, alpha), tz.grad.numpy(), rtol=RTOL)
    np.testing.assert_allclose((dout * A.prelu_grad_alpha(z, alpha)).sum(axis=0), ta.grad.numpy(),
                               rtol=RTOL)


def test_prelu_grad_alpha_matches_central_differences():
    z = np.array([-3.0, -0.5, 0.7, 2.0])
    numeric = central_difference(lambda a: A.prelu(z, a), 0.25)
    np.testing.assert_allclose(A.prelu_grad_alpha(z, 0.25), numeric, rtol=1e-8, atol=1e-10)


def test_prelu_generalises_relu_and_leaky_relu():
    z = np.linspace(-5, 5, 11)
    np.testing.assert_array_equal(A.prelu(z, 0.0), A.relu(z))
    np.testing.assert_array_equal(A.prelu(z, 0.01), A.leaky_relu(z))


# --- stability ---------------------------------------------------------------------------

ALL_ELEMENTWISE = ["identity", "heaviside", "sigmoid", "tanh", "relu", "leaky_relu", "elu",
                   "selu", "relu6", "softplus", "swish", "mish"]


@pytest.mark.parametrize("name", ALL_ELEMENTWISE)
def test_no_overflow_warning_and_no_nan_at_1000(name):
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise", divide="raise"):
        warnings.simplefilter("error")
        values = [getattr(A, name)(EXTREMES)]
        if hasattr(A, f"{name}_prime"):
            values.append(getattr(A, f"{name}_prime")(EXTREMES))
    assert all(np.all(np.isfinite(v)) for v in values)


def test_exp_at_1000_is_inf_without_a_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(A.exp(EXTREMES[[0, -1]]), [0.0, np.inf])
        np.testing.assert_array_equal(A.exp_prime(EXTREMES[[0, -1]]), [0.0, np.inf])


def test_tanh_prime_is_exact_to_ulps_at_every_z():
    """Against 4 / (e^z + e^-z)^2 in 50-digit arithmetic: 1 - tanh^2 loses every digit
    near |z| = 19 (and returns 0 beyond), the stable form keeps ~1e-15 relative."""
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 50
    z = np.concatenate([np.linspace(-40, 40, 801), [-300.0, -19.1, 10.0, 19.0, 19.1, 300.0]])
    exact = np.array([float(4 / (mpmath.exp(mpmath.mpf(v)) + mpmath.exp(-mpmath.mpf(v))) ** 2)
                      for v in z])
    np.testing.assert_allclose(A.tanh_prime(z), exact, rtol=4e-15, atol=0)


ELEMENTWISE_NAMES = ALL_ELEMENTWISE + ["exp"]


@pytest.mark.parametrize("name", ELEMENTWISE_NAMES)
def test_elementwise_functions_take_lists_scalars_and_ints(name):
    """Lists, Python scalars, 0-d arrays and integer arrays in; float64 out, same values."""
    fns = [getattr(A, name)] + ([getattr(A, f"{name}_prime")] if hasattr(A, f"{name}_prime") else [])
    for f in fns:
        ref = f(np.array([1.0, 2.0]))
        for z in ([1.0, 2.0], [1, 2], np.array([1, 2])):
            out = f(z)
            assert out.dtype == np.float64, (f.__name__, z)
            np.testing.assert_array_equal(out, ref)
        for z in (2.0, 2, np.array(2.0), np.array(2)):
            out = np.asarray(f(z))
            assert out.shape == () and out.dtype == np.float64, (f.__name__, z)
            assert out == ref[1]


def test_values_at_1000_are_the_limits():
    z = np.array([-1000.0, 1000.0])
    np.testing.assert_array_equal(A.sigmoid(z), [0.0, 1.0])
    np.testing.assert_array_equal(A.softplus(z), [0.0, 1000.0])
    np.testing.assert_array_equal(A.swish(z), [0.0, 1000.0])
    np.testing.assert_array_equal(A.mish(z), [0.0, 1000.0])
    np.testing.assert_allclose(A.elu(z), [-1.0, 1000.0])


# --- softmax ----------------------------------------------------------------------------


@pytest.mark.parametrize("shape, axis", [((5,), -1), ((4, 3), -1), ((4, 3), 0), ((2, 3, 5), 1)])
def test_softmax_log_softmax_logsumexp_match_torch(shape, axis):
    z = np.random.default_rng(1).normal(size=shape) * 5
    t = torch.tensor(z)
    np.testing.assert_allclose(A.softmax(z, axis=axis), F.softmax(t, dim=axis).numpy(), rtol=RTOL)
    np.testing.assert_allclose(A.log_softmax(z, axis=axis), F.log_softmax(t, dim=axis).numpy(),
                               rtol=RTOL)
    np.testing.assert_allclose(A.logsumexp(z, axis=axis), torch.logsumexp(t, dim=axis).numpy(),
                               rtol=RTOL)


def test_softmax_at_1000_matches_torch_without_warnings():
    z = np.array([[-1000.0, 0.0, 1000.0], [1000.0, 1000.0, -1000.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a, log_a = A.softmax(z), A.log_softmax(z)
    np.testing.assert_allclose(a, F.softmax(torch.tensor(z), dim=-1).numpy(), rtol=RTOL)
    np.testing.assert_allclose(log_a, F.log_softmax(torch.tensor(z), dim=-1).numpy(), rtol=RTOL)


def test_softmax_jacobian_matches_torch_autograd():
    z = np.array([0.3, -1.2, 2.0, 0.0])
    expected = torch.autograd.functional.jacobian(lambda t: F.softmax(t, dim=0), torch.tensor(z))
    np.testing.assert_allclose(A.softmax_jacobian(z), expected.numpy(), rtol=RTOL, atol=ATOL)


finite_rows = arrays(np.float64, st.tuples(st.integers(1, 4), st.integers(1, 6)),
                     elements=st.floats(-1000, 1000))


@given(finite_rows)
def test_softmax_is_a_probability_vector(z):
    a = A.softmax(z)
    assert np.all(a >= 0) and np.all(a <= 1)
    np.testing.assert_allclose(a.sum(axis=-1), 1.0, rtol=1e-12)


@given(finite_rows, st.floats(-1000, 1000))
def test_softmax_is_shift_invariant(z, c):
    np.testing.assert_allclose(A.softmax(z + c), A.softmax(z), rtol=1e-9, atol=1e-300)


@given(finite_rows)
def test_log_softmax_is_finite_and_nonpositive(z):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        log_a = A.log_softmax(z)
    assert np.all(np.isfinite(log_a)) and np.all(log_a <= 0)


# --- derivative bounds (lecture 004's table) ------------------------------------------------

wide = st.floats(-1000, 1000)


@settings(max_examples=200)
@given(wide)
def test_derivative_bounds(z):
    assert 0 <= A.sigmoid_prime(z) <= 0.25
    assert 0 <= A.tanh_prime(z) <= 1
    assert A.relu_prime(z) in (0.0, 1.0)
    assert A.leaky_relu_prime(z, 0.2) in (0.2, 1.0)
    assert 0 < A.softplus_prime(z) < 1 or abs(z) > 30
    assert -0.1 < A.swish_prime(z) < 1.1
    assert 0 <= A.elu_prime(z) <= 1


def test_derivative_extremes_at_the_expected_points():
    z = np.linspace(-20, 20, 400_001)
    assert A.sigmoid_prime(z).max() == pytest.approx(0.25, abs=1e-15)
    assert A.tanh_prime(z).max() == pytest.approx(1.0, abs=1e-15)
    # Swish (beta=1): the derivative dips to about -0.0998 and overshoots to about 1.0998
    assert A.swish_prime(z).min() == pytest.approx(-0.0998, abs=1e-4)
    assert A.swish_prime(z).max() == pytest.approx(1.0998, abs=1e-4)


# --- maxout, RBF, low rank -------------------------------------------------------------------


def test_maxout_forward_and_backward_match_torch():
    rng = np.random.default_rng(2)
    x, W, b = rng.normal(size=(6, 3)), rng.normal(size=(4, 3, 5)), rng.normal(size=(4, 5))
    dout = rng.normal(size=(6, 5))
    out, cache = A.maxout_forward(x, W, b)
    dx, dW, db = A.maxout_backward(dout, cache)
    tx, tW, tb = (torch.tensor(a, requires_grad=True) for a in (x, W, b))
    tout = (torch.einsum("nd,kdh->knh", tx, tW) + tb[:, None, :]).max(dim=0).values
    (tout * torch.tensor(dout)).sum().backward()
    np.testing.assert_allclose(out, tout.detach().numpy(), rtol=RTOL)
    for mine, theirs in zip((dx, dW, db), (tx.grad, tW.grad, tb.grad)):
        np.testing.assert_allclose(mine, theirs.numpy(), rtol=RTOL, atol=ATOL)


def test_maxout_with_a_zero_piece_is_relu_of_a_linear_layer():
    rng = np.random.default_rng(3)
    x, W1, b1 = rng.normal(size=(8, 3)), rng.normal(size=(3, 2)), rng.normal(size=2)
    W = np.stack([W1, np.zeros_like(W1)])
    b = np.stack([b1, np.zeros_like(b1)])
    np.testing.assert_allclose(A.maxout_forward(x, W, b)[0], A.relu(x @ W1 + b1))
    W_leaky, b_leaky = np.stack([W1, 0.1 * W1]), np.stack([b1, 0.1 * b1])
    np.testing.assert_allclose(A.maxout_forward(x, W_leaky, b_leaky)[0],
                               A.leaky_relu(x @ W1 + b1, 0.1))


def numerical_gradient(f, arr, h=1e-6):
    """Central differences of the scalar f() in every entry of arr (perturbed in place)."""
    return gradcheck.numerical_gradient(lambda _: f(), arr, eps=h)


def test_maxout_backward_matches_central_differences():
    rng = np.random.default_rng(4)
    x, W, b = rng.normal(size=(3, 2)), rng.normal(size=(3, 2, 4)), rng.normal(size=(3, 4))
    dout = rng.normal(size=(3, 4))
    dx, dW, db = A.maxout_backward(dout, A.maxout_forward(x, W, b)[1])

    def loss():
        return np.sum(A.maxout_forward(x, W, b)[0] * dout)
    for analytic, arr in ((dx, x), (dW, W), (db, b)):
        np.testing.assert_allclose(analytic, numerical_gradient(loss, arr), rtol=1e-6, atol=1e-8)


def test_rbf_forward_and_backward_match_torch_and_central_differences():
    rng = np.random.default_rng(5)
    x, W, sigma = rng.normal(size=(5, 3)), rng.normal(size=(3, 4)), rng.uniform(0.5, 2, 4)
    dout = rng.normal(size=(5, 4))
    out, cache = A.rbf_forward(x, W, sigma)
    grads = A.rbf_backward(dout, cache)
    tx, tW, ts = (torch.tensor(a, requires_grad=True) for a in (x, W, sigma))
    tout = torch.exp(-((tx[:, :, None] - tW[None]) ** 2).sum(dim=1) / ts**2)
    (tout * torch.tensor(dout)).sum().backward()
    np.testing.assert_allclose(out, tout.detach().numpy(), rtol=RTOL)
    for mine, theirs in zip(grads, (tx.grad, tW.grad, ts.grad)):
        np.testing.assert_allclose(mine, theirs.numpy(), rtol=RTOL, atol=ATOL)

    def loss():
        return np.sum(A.rbf_forward(x, W, sigma)[0] * dout)
    for analytic, arr in zip(grads, (x, W, sigma)):
        np.testing.assert_allclose(analytic, numerical_gradient(loss, arr), rtol=1e-6, atol=1e-8)


def test_rbf_is_one_at_its_centre():
    W = np.array([[1.0, -2.0], [0.5, 3.0]])
    out, _ = A.rbf_forward(W.T.copy(), W, np.array([1.0, 2.0]))
    np.testing.assert_allclose(np.diag(out), 1.0)


def test_low_rank_factors_are_the_best_rank_q_approximation():
    rng = np.random.default_rng(6)
    W = rng.normal(size=(8, 5))
    singular_values = np.linalg.svd(W, compute_uv=False)
    for q in range(1, 6):
        U, V = A.low_rank_factors(W, q)
        assert U.shape == (8, q) and V.shape == (q, 5)
        # Eckart-Young: the error is the norm of the dropped singular values
        np.testing.assert_allclose(np.linalg.norm(W - U @ V), np.linalg.norm(singular_values[q:]),
                                   rtol=1e-10, atol=1e-12)


def test_low_rank_param_count_is_np_versus_n_plus_p_times_q():
    assert A.low_rank_param_count(1000, 1000, 50) == (1_000_000, 100_000)
    assert A.low_rank_param_count(3, 4, 2) == (12, 14)     # not always a saving



@pytest.mark.parametrize("name", ["sigmoid", "tanh"])
def test_second_derivatives_match_torch_double_backward(name):
    z = np.linspace(-5, 5, 101)   # where torch's own sigma(1 - sigma) does not cancel
    t = torch.tensor(z, requires_grad=True)
    (d1,) = torch.autograd.grad(getattr(torch, name)(t).sum(), t, create_graph=True)
    (d2,) = torch.autograd.grad(d1.sum(), t)
    np.testing.assert_allclose(getattr(A, f"{name}_second")(z), d2.numpy(), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", ["sigmoid", "tanh"])
def test_second_derivatives_are_exact_at_every_z(name):
    import mpmath

    mpmath.mp.dps = 50
    exact_fn = {  # closed forms, evaluated in 50 digits (no cancellation at that precision)
        "sigmoid": lambda x: mpmath.exp(-x) * (mpmath.exp(-x) - 1) / (1 + mpmath.exp(-x)) ** 3,
        "tanh": lambda x: -8 * mpmath.tanh(x) / (mpmath.exp(x) + mpmath.exp(-x)) ** 2}[name]
    z = np.array([-700.0, -300.0, -40.0, -19.0, -3.0, -1e-8, 1e-8, 0.5, 3.0, 19.0, 40.0, 300.0])
    exact = np.array([float(exact_fn(mpmath.mpf(x))) for x in z])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        got = getattr(A, f"{name}_second")(z)
    np.testing.assert_allclose(got, exact, rtol=1e-14, atol=0)
    assert getattr(A, f"{name}_second")(0.0) == 0.0
    assert np.all(np.isfinite(getattr(A, f"{name}_second")([-1000.0, 1000.0])))
