"""Weight initialisers (nnref.init) against torch.nn.init.

Two kinds of evidence:

1. *Same draws, same weights.* ``TorchDraws`` hands our initialisers the very uniform /
   Gaussian numbers that ``torch.nn.init`` draws from a seeded ``torch.Generator`` (in
   the course's (fan_in, fan_out) layout), so ours must reproduce torch's weights to
   rounding: this pins down the bounds, the standard deviations, the fan modes, the gains
   and the orthogonal sign correction.
2. *Same distribution from independent draws* (numpy vs torch): exact bounds for the
   uniform ones, sample mean and variance within 5 standard errors (computed from the
   sample size and the kurtosis), a Kolmogorov–Smirnov statistic below its 0.1 % critical
   value (one-sample against the exact CDF and two-sample against torch's weights).
"""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from nnref import init

SEED = 20240607
FAN_IN, FAN_OUT = 300, 200          # N = 60 000 weights per sample
N = FAN_IN * FAN_OUT
KS_C = 1.95                         # sqrt(-ln(0.001 / 2) / 2): the 0.1 % critical value of sqrt(n) D


# --- helpers -------------------------------------------------------------------------------


class TorchDraws:
    """A stand-in for ``numpy.random.Generator`` that returns torch's draws.

    ``random((fan_in, fan_out))`` is ``torch.empty(fan_out, fan_in).uniform_(0, 1)`` transposed
    (torch fills the (out, in) weight; the course's ``W`` is its transpose), and likewise
    ``standard_normal``.
    """

    def __init__(self, seed):
        self.generator = torch.Generator().manual_seed(seed)

    def _draw(self, shape, fill):
        fan_in, fan_out = shape
        t = torch.empty(fan_out, fan_in, dtype=torch.float64)
        return fill(t).T.numpy()

    def random(self, shape):
        return self._draw(shape, lambda t: t.uniform_(0.0, 1.0, generator=self.generator))

    def standard_normal(self, shape):
        return self._draw(shape, lambda t: t.normal_(0.0, 1.0, generator=self.generator))


def torch_weight(torch_init, fan_in, fan_out, seed, **kwargs):
    """``torch_init`` applied to an ``nn.Linear``-shaped (fan_out, fan_in) float64 weight,
    returned in the course's (fan_in, fan_out) layout."""
    weight = torch.empty(fan_out, fan_in, dtype=torch.float64)
    torch_init(weight, generator=torch.Generator().manual_seed(seed), **kwargs)
    return weight.T.numpy()


def normal_cdf(x):
    return 0.5 * (1.0 + np.vectorize(math.erf)(np.asarray(x) / math.sqrt(2.0)))


def ks_one_sample(sample, cdf):
    """Kolmogorov–Smirnov statistic D = sup |F_n(x) - F(x)| of a sample against a CDF."""
    x = np.sort(np.ravel(sample))
    n = len(x)
    F = cdf(x)
    i = np.arange(1, n + 1)
    return max(np.max(i / n - F), np.max(F - (i - 1) / n))


def ks_two_sample(a, b):
    """Two-sample KS statistic D = sup |F_a(x) - F_b(x)|."""
    a, b = np.sort(np.ravel(a)), np.sort(np.ravel(b))
    grid = np.concatenate([a, b])
    Fa = np.searchsorted(a, grid, side="right") / len(a)
    Fb = np.searchsorted(b, grid, side="right") / len(b)
    return np.max(np.abs(Fa - Fb))


def assert_moments(W, std, kurtosis):
    """Sample mean and variance within 5 standard errors of 0 and std^2.

    SE(mean) = std / sqrt(N); SE(variance) = std^2 sqrt((kurtosis - 1) / N), kurtosis 3 for
    a normal and 9/5 for a uniform distribution.
    """
    n = W.size
    assert abs(W.mean()) <= 5 * std / math.sqrt(n)
    assert abs(W.var() - std**2) <= 5 * std**2 * math.sqrt((kurtosis - 1) / n)


def assert_uniform_distribution(W, bound, torch_W):
    assert W.shape == (FAN_IN, FAN_OUT)
    assert np.all(np.abs(W) <= bound)                        # never outside [-a, a]
    assert W.max() > 0.999 * bound and W.min() < -0.999 * bound  # and filling it
    assert_moments(W, bound / math.sqrt(3.0), kurtosis=9 / 5)
    assert ks_one_sample(W, lambda x: (x + bound) / (2 * bound)) < KS_C / math.sqrt(W.size)
    assert ks_two_sample(W, torch_W) < KS_C * math.sqrt(2.0 / W.size)
    assert np.abs(torch_W).max() <= bound                    # torch uses the same bound


def assert_normal_distribution(W, std, torch_W):
    assert W.shape == (FAN_IN, FAN_OUT)
    assert_moments(W, std, kurtosis=3.0)
    assert ks_one_sample(W, lambda x: normal_cdf(x / std)) < KS_C / math.sqrt(W.size)
    assert ks_two_sample(W, torch_W) < KS_C * math.sqrt(2.0 / W.size)
    # quantiles: the 0.1 %, 2.5 %, 50 %, 97.5 %, 99.9 % points agree with torch's
    q = [0.001, 0.025, 0.5, 0.975, 0.999]
    assert np.allclose(np.quantile(W, q), np.quantile(torch_W, q), atol=0.05 * std)


# --- gains ---------------------------------------------------------------------------------


@pytest.mark.parametrize("nonlinearity, param", [
    ("linear", None), ("sigmoid", None), ("tanh", None), ("relu", None), ("selu", None),
    ("conv2d", None), ("leaky_relu", None), ("leaky_relu", 0.2), ("leaky_relu", math.sqrt(5)),
])
def test_calculate_gain_is_torchs(nonlinearity, param):
    assert init.calculate_gain(nonlinearity, param) == pytest.approx(
        torch.nn.init.calculate_gain(nonlinearity, param), rel=1e-15)


def test_calculate_gain_rejects_unknown_names():
    with pytest.raises(ValueError):
        init.calculate_gain("softmax")


# --- 1. same draws, same weights --------------------------------------------------------------

SAME_DRAWS = [
    # (ours, torch's, torch kwargs); ours gets the same keyword arguments
    (init.xavier_uniform, torch.nn.init.xavier_uniform_, {}),
    (init.xavier_uniform, torch.nn.init.xavier_uniform_, {"gain": 5 / 3}),
    (init.xavier_normal, torch.nn.init.xavier_normal_, {}),
    (init.xavier_normal, torch.nn.init.xavier_normal_, {"gain": math.sqrt(2)}),
    (init.kaiming_uniform, torch.nn.init.kaiming_uniform_, {}),
    (init.kaiming_uniform, torch.nn.init.kaiming_uniform_, {"mode": "fan_out", "nonlinearity": "relu"}),
    (init.kaiming_uniform, torch.nn.init.kaiming_uniform_, {"a": 0.2, "nonlinearity": "leaky_relu"}),
    (init.kaiming_normal, torch.nn.init.kaiming_normal_, {}),
    (init.kaiming_normal, torch.nn.init.kaiming_normal_, {"mode": "fan_out", "nonlinearity": "relu"}),
    (init.kaiming_normal, torch.nn.init.kaiming_normal_, {"nonlinearity": "tanh"}),
    (init.orthogonal, torch.nn.init.orthogonal_, {}),
    (init.orthogonal, torch.nn.init.orthogonal_, {"gain": 2.0}),
]


@pytest.mark.parametrize("fan_in, fan_out", [(7, 5), (5, 7), (6, 6), (1, 4), (40, 30)])
@pytest.mark.parametrize("ours, theirs, kwargs", SAME_DRAWS,
                         ids=lambda v: getattr(v, "__name__", str(v)))
def test_same_draws_give_torchs_weights(ours, theirs, kwargs, fan_in, fan_out):
    W = ours(fan_in, fan_out, TorchDraws(SEED), **kwargs)
    expected = torch_weight(theirs, fan_in, fan_out, SEED, **kwargs)
    np.testing.assert_allclose(W, expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("ours, nonlinearity", [
    (init.he_uniform, "relu"), (init.he_normal, "relu"),
    (init.lecun_uniform, "linear"), (init.lecun_normal, "linear"),
])
def test_he_and_lecun_are_torchs_kaiming_with_their_gain(ours, nonlinearity):
    theirs = (torch.nn.init.kaiming_uniform_ if ours.__name__.endswith("uniform")
              else torch.nn.init.kaiming_normal_)
    W = ours(9, 4, TorchDraws(SEED))
    expected = torch_weight(theirs, 9, 4, SEED, nonlinearity=nonlinearity)
    np.testing.assert_allclose(W, expected, rtol=1e-12, atol=1e-14)


def test_uniform_fan_in_is_torchs_linear_default():
    """nn.Linear.reset_parameters: kaiming_uniform_(weight, a=sqrt(5)) = U(+-1/sqrt(fan_in))."""
    W = init.uniform_fan_in(9, 4, TorchDraws(SEED))
    expected = torch_weight(torch.nn.init.kaiming_uniform_, 9, 4, SEED, a=math.sqrt(5))
    np.testing.assert_allclose(W, expected, rtol=1e-12, atol=1e-14)


def test_from_functions_are_the_sampled_initialisers():
    rng_a, rng_b = np.random.default_rng(1), np.random.default_rng(1)
    np.testing.assert_array_equal(init.xavier_uniform(6, 3, rng_a),
                                  init.xavier_uniform_from(rng_b.random((6, 3))))
    np.testing.assert_array_equal(init.xavier_normal(6, 3, rng_a),
                                  init.xavier_normal_from(rng_b.standard_normal((6, 3))))
    np.testing.assert_array_equal(init.he_normal(6, 3, rng_a),
                                  init.he_normal_from(rng_b.standard_normal((6, 3))))
    np.testing.assert_array_equal(init.orthogonal(6, 3, rng_a),
                                  init.orthogonal_from(rng_b.standard_normal((6, 3))))


def test_bounds_and_stds_by_formula():
    assert init.xavier_bound(784, 256) == pytest.approx(math.sqrt(6) / math.sqrt(784 + 256))
    assert init.xavier_bound(3, 3, gain=2.0) == pytest.approx(2.0)
    assert init.xavier_std(784, 256) == pytest.approx(math.sqrt(2 / 1040))
    assert init.he_std(512) == pytest.approx(1 / 16)
    assert init.uniform_fan_in_bound(100) == pytest.approx(0.1)
    assert init.kaiming_std(50, 8, mode="fan_out", nonlinearity="relu") == pytest.approx(0.5)
    # the uniform and the normal version of each scheme have the same variance
    assert init.xavier_bound(30, 70) ** 2 / 3 == pytest.approx(init.xavier_std(30, 70) ** 2)


def test_slide_bound_with_6_has_six_times_the_variance():
    """Lecture 000 prints 6/sqrt(H_{l-1} + H_l); with sqrt(6) the variance is 2/(fan sum)."""
    slide = 6 / math.sqrt(784 + 256)
    assert (slide**2 / 3) / (init.xavier_bound(784, 256) ** 2 / 3) == pytest.approx(6.0)


# --- 2. same distribution from independent draws --------------------------------------------------


@pytest.mark.parametrize("ours, theirs, kwargs, bound", [
    (init.xavier_uniform, torch.nn.init.xavier_uniform_, {},
     math.sqrt(6 / (FAN_IN + FAN_OUT))),
    (init.kaiming_uniform, torch.nn.init.kaiming_uniform_, {"nonlinearity": "relu"},
     math.sqrt(6 / FAN_IN)),
    (init.kaiming_uniform, torch.nn.init.kaiming_uniform_, {"nonlinearity": "relu", "mode": "fan_out"},
     math.sqrt(6 / FAN_OUT)),
], ids=["xavier", "he_fan_in", "he_fan_out"])
def test_uniform_initialisers_have_torchs_distribution(ours, theirs, kwargs, bound):
    W = ours(FAN_IN, FAN_OUT, np.random.default_rng(SEED), **kwargs)
    assert_uniform_distribution(W, bound, torch_weight(theirs, FAN_IN, FAN_OUT, SEED + 1, **kwargs))


def test_uniform_fan_in_has_nn_linear_distribution():
    W = init.uniform_fan_in(FAN_IN, FAN_OUT, np.random.default_rng(SEED))
    torch.manual_seed(SEED)
    linear = torch.nn.Linear(FAN_IN, FAN_OUT, dtype=torch.float64)
    assert_uniform_distribution(W, 1 / math.sqrt(FAN_IN), linear.weight.detach().T.numpy())


def test_lecun_uniform_distribution():
    W = init.lecun_uniform(FAN_IN, FAN_OUT, np.random.default_rng(SEED))
    torch_W = torch_weight(torch.nn.init.kaiming_uniform_, FAN_IN, FAN_OUT, SEED + 1,
                           nonlinearity="linear")
    assert_uniform_distribution(W, math.sqrt(3 / FAN_IN), torch_W)


@pytest.mark.parametrize("ours, theirs, kwargs, std", [
    (init.xavier_normal, torch.nn.init.xavier_normal_, {}, math.sqrt(2 / (FAN_IN + FAN_OUT))),
    (init.kaiming_normal, torch.nn.init.kaiming_normal_, {"nonlinearity": "relu"},
     math.sqrt(2 / FAN_IN)),
    (init.kaiming_normal, torch.nn.init.kaiming_normal_, {"nonlinearity": "relu", "mode": "fan_out"},
     math.sqrt(2 / FAN_OUT)),
    (init.kaiming_normal, torch.nn.init.kaiming_normal_, {"nonlinearity": "linear"},
     math.sqrt(1 / FAN_IN)),
], ids=["xavier", "he_fan_in", "he_fan_out", "lecun"])
def test_normal_initialisers_have_torchs_distribution(ours, theirs, kwargs, std):
    W = ours(FAN_IN, FAN_OUT, np.random.default_rng(SEED), **kwargs)
    assert_normal_distribution(W, std, torch_weight(theirs, FAN_IN, FAN_OUT, SEED + 1, **kwargs))


def test_he_normal_and_lecun_normal_stds():
    assert_normal_distribution(init.he_normal(FAN_IN, FAN_OUT, np.random.default_rng(SEED)),
                               math.sqrt(2 / FAN_IN),
                               torch_weight(torch.nn.init.kaiming_normal_, FAN_IN, FAN_OUT,
                                            SEED + 1, nonlinearity="relu"))
    assert_normal_distribution(init.lecun_normal(FAN_IN, FAN_OUT, np.random.default_rng(SEED)),
                               math.sqrt(1 / FAN_IN),
                               torch_weight(torch.nn.init.kaiming_normal_, FAN_IN, FAN_OUT,
                                            SEED + 1, nonlinearity="linear"))


def test_orthogonal_entries_have_torchs_distribution():
    W = init.orthogonal(FAN_IN, FAN_OUT, np.random.default_rng(SEED))
    torch_W = torch_weight(torch.nn.init.orthogonal_, FAN_IN, FAN_OUT, SEED + 1)
    assert ks_two_sample(W, torch_W) < KS_C * math.sqrt(2.0 / W.size)
    # 200 unit columns of length 300: the mean square of the entries is exactly 1/300
    assert np.mean(W**2) == pytest.approx(1 / FAN_IN, rel=1e-12)


def test_sign_corrected_qr_is_gram_schmidt():
    """With diag(R) made positive the factorisation is unique: the first column of W is the
    first column of the (tall) Gaussian sample, normalised, whatever sign convention LAPACK's
    Householder QR uses (torch's convention, and what makes W Haar-distributed)."""
    for G in np.random.default_rng(SEED).standard_normal((200, 5, 3)):
        W = init.orthogonal_from(G)
        np.testing.assert_allclose(W[:, 0], G[:, 0] / np.linalg.norm(G[:, 0]), rtol=1e-12)
        # the second column: G's second column minus its projection on the first, normalised
        r = G[:, 1] - (G[:, 1] @ W[:, 0]) * W[:, 0]
        np.testing.assert_allclose(W[:, 1], r / np.linalg.norm(r), rtol=1e-10, atol=1e-12)


# --- orthogonality, shapes, zeros ------------------------------------------------------------------


@pytest.mark.parametrize("fan_in, fan_out", [(256, 256), (300, 100), (100, 300), (1, 1), (5, 1)])
def test_orthogonal_is_orthogonal(fan_in, fan_out):
    W = init.orthogonal(fan_in, fan_out, np.random.default_rng(SEED))
    assert W.shape == (fan_in, fan_out)
    gram = W.T @ W if fan_in >= fan_out else W @ W.T
    np.testing.assert_allclose(gram, np.eye(min(fan_in, fan_out)), rtol=0, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(fan_in=st.integers(1, 40), fan_out=st.integers(1, 40), gain=st.floats(0.1, 3.0),
       seed=st.integers(0, 2**32 - 1))
def test_orthogonal_property(fan_in, fan_out, gain, seed):
    W = init.orthogonal(fan_in, fan_out, np.random.default_rng(seed), gain=gain)
    gram = W.T @ W if fan_in >= fan_out else W @ W.T
    np.testing.assert_allclose(gram, gain**2 * np.eye(min(fan_in, fan_out)), atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(fan_in=st.integers(1, 60), fan_out=st.integers(1, 60), seed=st.integers(0, 2**32 - 1))
def test_every_initialiser_has_the_course_shape_and_bounds(fan_in, fan_out, seed):
    rng = np.random.default_rng(seed)
    for f in (init.uniform_fan_in, init.xavier_uniform, init.xavier_normal, init.kaiming_uniform,
              init.kaiming_normal, init.he_uniform, init.he_normal, init.lecun_uniform,
              init.lecun_normal, init.orthogonal):
        W = f(fan_in, fan_out, rng)
        assert W.shape == (fan_in, fan_out) and W.dtype == np.float64
    assert np.all(np.abs(init.xavier_uniform(fan_in, fan_out, rng))
                  <= init.xavier_bound(fan_in, fan_out))
    assert np.all(np.abs(init.he_uniform(fan_in, fan_out, rng)) <= math.sqrt(6 / fan_in))


def test_zeros():
    W = init.zeros(4, 3)
    assert W.shape == (4, 3) and not W.any()


def test_bad_mode_is_rejected():
    with pytest.raises(ValueError):
        init.kaiming_normal(3, 3, np.random.default_rng(0), mode="fan_avg")


# --- heuristic 3: layer-wise training ---------------------------------------------------------------


def test_layerwise_init_trains_each_neuron_as_ridge_regression():
    rng = np.random.default_rng(SEED)
    X = rng.standard_normal((60, 4))
    y = X @ np.array([1.0, -2.0, 0.5, 0.0]) + 0.1 * rng.standard_normal(60)
    # on the whole sample every neuron is the same ridge regression ...
    W_full = init.layerwise_init(X, y, 3, rng, subsample=1.0, reg=1e-3)
    ridge = np.linalg.solve(X.T @ X + 1e-3 * np.eye(4), X.T @ y)
    np.testing.assert_allclose(W_full, np.tile(ridge[:, None], (1, 3)), rtol=1e-10)
    # ... on random halves they differ, but each is a sensible linear model
    W = init.layerwise_init(X, y, 3, rng, subsample=0.5)
    assert W.shape == (4, 3)
    assert np.min(np.abs(W[:, :, None] - W[:, None, :]).sum(axis=0) + 10 * np.eye(3)) > 1e-3
    np.testing.assert_allclose(W, np.tile(ridge[:, None], (1, 3)), atol=0.2)
