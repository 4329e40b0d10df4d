"""Optimal Brain Damage (chapter 9): the Hessian diagonal against torch, finite differences
and the Gauss–Newton matrix; saliency against the actual rise of Q; the pruning procedure.

Where the approximations agree with the exact diagonal, and where not:
- LeCun's diagonal recursion is exact for one hidden layer with MSE (the output-layer Hessian
  is diagonal, so the diagonal of W M W^T needs only the diagonal of M); with two hidden
  layers, or softmax cross-entropy over several classes, the dropped off-diagonal entries
  matter.
- Gauss–Newton drops sigma'' * dQ/dA, proportional to the residuals: it equals the exact
  diagonal where the residuals vanish (a zero-residual fit) and differs at a noisy minimum;
  it is never negative, the exact diagonal can be.
"""

import warnings

import numpy as np
import pytest
import torch

from nnref import losses, mlp, obd, optim
from nnref.gradcheck import numerical_gradient, relative_error

torch.set_default_dtype(torch.float64)
TORCH_ACTIVATIONS = {"tanh": torch.tanh, "sigmoid": torch.sigmoid, "relu": torch.relu,
                     "identity": lambda z: z}

CASES = [
    ([3, 4, 1], "tanh", "identity", "mse"),
    ([3, 4, 2], "tanh", "identity", "mse"),
    ([2, 5, 4, 1], "sigmoid", "sigmoid", "mse"),
    ([2, 3, 3, 2], "tanh", "tanh", "mse"),
    ([3, 5, 4, 3], "tanh", "identity", "softmax_cross_entropy"),
    ([4, 6, 3], "relu", "identity", "softmax_cross_entropy"),
]


def data(sizes, loss, n=7, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, sizes[0]))
    y = rng.standard_normal((n, sizes[-1])) if loss == "mse" else rng.integers(0, sizes[-1], n)
    return X, y


def torch_outputs(net, X):
    """The network's outputs as a torch function of the flat parameter vector."""
    names, shapes = list(net.params), [p.shape for p in net.params.values()]

    def outputs(theta):
        p, start = {}, 0
        for name, shape in zip(names, shapes):
            size = int(np.prod(shape))
            p[name] = theta[start:start + size].reshape(shape)
            start += size
        A = torch.tensor(X)
        for l in range(1, net.L + 1):
            A = TORCH_ACTIVATIONS[net.activation if l < net.L else net.output](
                A @ p[f"W{l}"] + p[f"b{l}"])
        return A
    return outputs


def torch_loss(net, X, y, loss):
    """Q(theta) for a flat parameter vector, in torch."""
    outputs = torch_outputs(net, X)

    def Q(theta):
        A = outputs(theta)
        if loss == "mse":
            return ((A - torch.tensor(y)) ** 2).sum() / len(X)
        return torch.nn.functional.cross_entropy(A, torch.tensor(y))
    return Q


def torch_hessian(net, X, y, loss):
    theta = torch.tensor(obd.flat_params(net.params))
    return torch.autograd.functional.hessian(torch_loss(net, X, y, loss), theta).numpy()


@pytest.mark.parametrize("sizes, activation, output, loss", CASES)
def test_exact_diagonal_equals_torch_hessian(sizes, activation, output, loss):
    net = mlp.MLP(sizes, activation, output, seed=1)
    X, y = data(sizes, loss)
    expected = obd.unflatten(np.diag(torch_hessian(net, X, y, loss)), net.params)
    got = obd.hessian_diag(net, X, y, loss)
    for name in net.params:
        np.testing.assert_allclose(got[name], expected[name], rtol=1e-11, atol=1e-13)


@pytest.mark.parametrize("sizes, activation, output, loss", CASES[:4])
def test_exact_diagonal_equals_finite_differences_of_the_gradient(sizes, activation, output, loss):
    net = mlp.MLP(sizes, activation, output, seed=2)
    X, y = data(sizes, loss, seed=1)
    got = obd.hessian_diag(net, X, y, loss)
    for name, P in net.params.items():
        fd = np.zeros_like(P)
        for idx in np.ndindex(P.shape):
            def grad_entry(_):
                return mlp.loss_and_grads(net, X, y, loss)[1][name][idx]
            fd[idx] = numerical_gradient(grad_entry, P, eps=1e-5)[idx]
        assert relative_error(got[name], fd) < 1e-7, name


@pytest.mark.parametrize("sizes, activation, output, loss", CASES)
def test_gauss_newton_is_the_diagonal_of_J_G_J(sizes, activation, output, loss):
    """gauss_newton=True is exactly diag(J^T G J), J the Jacobian of the outputs (torch)."""
    net = mlp.MLP(sizes, activation, output, seed=3)
    X, y = data(sizes, loss, seed=2)
    outputs = torch_outputs(net, X)
    theta = torch.tensor(obd.flat_params(net.params))
    J = torch.autograd.functional.jacobian(outputs, theta).numpy()      # (n, K, P)
    G = obd.loss_hessian(net.forward(X), y, loss)                        # (n, K, K)
    expected = np.einsum("nkp,nkj,njp->p", J, G, J)
    got = obd.second_order_backprop(net, X, y, loss, gauss_newton=True)
    np.testing.assert_allclose(obd.flat_params(got), expected, rtol=1e-11, atol=1e-13)
    assert np.all(obd.flat_params(got) >= 0)
    lecun = obd.obd_hessian_diag(net, X, y, loss)
    assert np.all(obd.flat_params(lecun) >= 0), "LeCun's estimate is never negative"


@pytest.mark.parametrize("output", ["identity", "tanh", "sigmoid"])
def test_diagonal_recursion_is_exact_for_one_hidden_layer_and_mse(output):
    net = mlp.MLP([3, 5, 2], "tanh", output, seed=4)
    X, y = data([3, 5, 2], "mse", seed=3)
    exact = obd.hessian_diag(net, X, y)
    recursion = obd.second_order_backprop(net, X, y, diagonal=True)
    for name in net.params:
        np.testing.assert_allclose(recursion[name], exact[name], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("sizes, loss", [([3, 5, 4, 1], "mse"), ([3, 5, 4], "softmax_cross_entropy")])
def test_diagonal_recursion_is_not_exact_beyond(sizes, loss):
    """Two hidden layers (MSE) or several classes (cross-entropy): the off-diagonal terms of
    the Hessian in the pre-activations are dropped, and the first layer's diagonal is off."""
    net = mlp.MLP(sizes, "tanh", "identity", seed=5)
    X, y = data(sizes, loss, seed=4)
    exact = obd.hessian_diag(net, X, y, loss)
    recursion = obd.second_order_backprop(net, X, y, loss, diagonal=True)
    assert relative_error(recursion["W1"], exact["W1"]) > 1e-3
    np.testing.assert_allclose(recursion[f"W{net.L}"], exact[f"W{net.L}"], rtol=1e-12)


@pytest.mark.parametrize("sizes", [[3, 4, 1], [2, 4, 3, 2]])
def test_gauss_newton_equals_exact_at_zero_residual(sizes):
    """Targets produced by the network itself: dQ/dA = 0 everywhere, the residual terms vanish."""
    net = mlp.MLP(sizes, "tanh", "identity", seed=6)
    X = np.random.default_rng(5).standard_normal((9, sizes[0]))
    y = net.forward(X)
    exact = obd.hessian_diag(net, X, y)
    gn = obd.second_order_backprop(net, X, y, gauss_newton=True)
    for name in net.params:
        np.testing.assert_allclose(gn[name], exact[name], rtol=1e-12, atol=1e-15)
    if len(sizes) == 3:   # and LeCun's estimate is then exact too
        lecun = obd.obd_hessian_diag(net, X, y)
        for name in net.params:
            np.testing.assert_allclose(lecun[name], exact[name], rtol=1e-12, atol=1e-15)


def test_gauss_newton_differs_at_a_noisy_minimum():
    rng = np.random.default_rng(6)
    X = rng.standard_normal((40, 2))
    y = np.sin(X[:, :1]) + 0.3 * rng.standard_normal((40, 1))
    net = mlp.MLP([2, 6, 1], seed=7)
    obd.train_to_minimum(net, X, y)
    exact = obd.hessian_diag(net, X, y)
    gn = obd.obd_hessian_diag(net, X, y)
    assert relative_error(gn["W1"], exact["W1"]) > 1e-3     # residual terms matter in layer 1
    np.testing.assert_allclose(gn["W2"], exact["W2"], rtol=1e-12)   # linear output: no sigma''


def test_saliency_with_the_half_predicts_the_rise_of_Q():
    rng = np.random.default_rng(7)
    X = rng.standard_normal((60, 3))
    y = np.tanh(X @ np.array([[1.0], [-0.5], [0.0]])) + 0.1 * rng.standard_normal((60, 1))
    net = mlp.MLP([3, 4, 1], seed=8)
    assert obd.train_to_minimum(net, X, y) < 1e-7
    h = obd.hessian_diag(net, X, y)
    actual = obd.zeroing_increase(net, X, y)
    for name in ("W1", "W2"):
        s = obd.saliency(net.params[name], h[name])
        small = np.abs(net.params[name]) < 0.05
        if small.any():
            np.testing.assert_allclose(actual[name][small], s[small], rtol=0.1, atol=1e-9)
            assert not np.allclose(actual[name][small], 2 * s[small], rtol=0.3)


def test_saliency_is_exact_on_a_diagonal_quadratic():
    h, m = np.array([2.0, 0.5, 3.0]), np.array([0.3, -1.2, 0.0])
    def Q(w):
        return 0.5 * np.sum(h * (w - m) ** 2)
    # the minimum is w = m; zeroing w_k raises Q by h_k m_k^2 / 2
    rises = [Q(np.where(np.arange(3) == k, 0.0, m)) - Q(m) for k in range(3)]
    np.testing.assert_allclose(obd.saliency(m, h), rises, rtol=1e-15)
    assert obd.saliency(np.array([0.0]), np.array([5.0]))[0] == 0.0


def test_least_salient_breaks_ties_by_index_and_skips_deleted():
    scores = np.array([[1.0, 0.0, 1.0], [0.0, 2.0, 0.0]])
    alive = np.array([[True, True, True], [False, True, True]])
    # alive scores in flat order: 0:1.0, 1:0.0, 2:1.0, 4:2.0, 5:0.0 -> 1, 5 (zeros, by index), 0, 2
    np.testing.assert_array_equal(obd.least_salient(scores, alive, 4), [1, 5, 0, 2])
    np.testing.assert_array_equal(obd.least_salient(scores, alive, 10), [1, 5, 0, 2, 4])
    assert obd.least_salient(scores, alive, 0).size == 0


def test_prune_masks_per_layer_and_global():
    S = {"W1": np.array([[0.1, 0.5], [0.2, 0.9]]), "W2": np.array([[3.0], [4.0]])}
    M = {"W1": np.ones((2, 2), bool), "W2": np.ones((2, 1), bool)}
    per = obd.prune_masks(S, M, 1)
    np.testing.assert_array_equal(per["W1"], [[False, True], [True, True]])
    np.testing.assert_array_equal(per["W2"], [[False], [True]])
    glob = obd.prune_masks(S, M, 2, per_layer=False)
    np.testing.assert_array_equal(glob["W1"], [[False, True], [False, True]])
    np.testing.assert_array_equal(glob["W2"], [[True], [True]])
    assert M["W1"].all(), "the masks given are not modified"
    per_dict = obd.prune_masks(S, M, {"W1": 2, "W2": 0})
    assert per_dict["W1"].sum() == 2 and per_dict["W2"].all()


def test_graded_prune_masks_signature():
    S1, S2 = np.array([[0.0, 1.0], [0.0, 0.0]]), np.array([[5.0], [5.0]])
    M1, M2 = np.array([[1, 1], [0, 1]]), np.array([[1], [1]])
    m1, m2 = obd.two_layer_prune_masks(S1, S2, M1, M2, N=2)
    np.testing.assert_array_equal(m1, [[0.0, 1.0], [0.0, 0.0]])   # the two alive zeros
    np.testing.assert_array_equal(m2, [[0.0], [0.0]])             # a tie, both go
    assert m1.dtype == np.float64


def test_masked_training_keeps_deleted_links_at_zero():
    X, y = data([3, 4, 1], "mse", n=20)
    net = mlp.MLP([3, 4, 1], seed=9)
    masks = {"W1": np.random.default_rng(0).random((3, 4)) > 0.5, "W2": np.ones((4, 1), bool)}
    history = obd.masked_train(net, masks, X, y, steps=50)
    assert np.all(net.params["W1"][~masks["W1"]] == 0)
    assert history[-1] < history[0]


def test_obd_prune_runs_to_the_end_or_rolls_back():
    rng = np.random.default_rng(10)
    X = rng.standard_normal((50, 3))
    y = np.tanh(X[:, :1]) + 0.05 * rng.standard_normal((50, 1))
    Xc = rng.standard_normal((50, 3))
    yc = np.tanh(Xc[:, :1]) + 0.05 * rng.standard_normal((50, 1))
    net = mlp.MLP([3, 6, 1], seed=11)
    mlp.train(net, X, y, optimizer=optim.Adam(0.02), epochs=300)
    free = obd.obd_prune(net, X, y, Xc, yc, N=2, tol=np.inf, retrain_steps=10)
    assert not free["stopped"] and free["history"][-1, 0] == 1.0
    assert np.all(np.diff(free["history"][:, 0]) > 0)
    net = mlp.MLP([3, 6, 1], seed=11)
    mlp.train(net, X, y, optimizer=optim.Adam(0.02), epochs=300)
    start = {k: v.copy() for k, v in net.params.items()}
    strict = obd.obd_prune(net, X, y, Xc, yc, N=2, tol=-0.99, retrain_steps=10)
    assert strict["stopped"] and len(strict["history"]) == 1
    for name in start:        # rolled back: the weights from before the deletion
        np.testing.assert_array_equal(net.params[name], start[name])
    for score in ("exact", "magnitude"):
        out = obd.obd_prune(mlp.MLP([3, 6, 1], seed=11), X, y, Xc, yc, N=3, score=score,
                            tol=np.inf, retrain_steps=5, max_rounds=2)
        assert len(out["history"]) == 3


def test_retrain_or_rollback_both_branches():
    rng = np.random.default_rng(12)
    X, y = rng.standard_normal((20, 3)), rng.standard_normal((20, 1))
    W1, b1 = 0.5 * rng.standard_normal((3, 4)), 0.5 * rng.standard_normal(4)
    W2, b2 = 0.5 * rng.standard_normal((4, 1)), 0.5 * rng.standard_normal(1)
    M1, M2 = (rng.random((3, 4)) > 0.3).astype(float), np.ones((4, 1))
    *kept, stopped = obd.retrain_or_rollback(X, y, X, y, W1, b1, W2, b2, M1, M2)
    assert not stopped and np.all(kept[0][M1 == 0] == 0)
    *back, stopped = obd.retrain_or_rollback_fitted_control(X, y, X[:5], W1, b1, W2, b2, M1, M2)
    assert stopped
    for got, given in zip(back, (W1, b1, W2, b2)):
        np.testing.assert_array_equal(got, given)


def test_graded_signatures_agree_with_the_general_code():
    rng = np.random.default_rng(13)
    X, y = rng.standard_normal((15, 3)), rng.standard_normal((15, 1))
    net = mlp.MLP([3, 4, 1], seed=14)
    p = net.params
    for gn in (False, True):
        got = obd.one_hidden_hessian_diag(X, y, p["W1"], p["b1"], p["W2"], p["b2"], gauss_newton=gn)
        expected = obd.second_order_backprop(net, X, y, gauss_newton=gn)
        for name in p:
            np.testing.assert_array_equal(got[name], expected[name])
    rise = obd.one_hidden_zeroing_increase(X, y[:, 0], p["W1"], p["b1"], p["W2"], p["b2"])
    for name in ("W1", "W2"):
        k = (1, 2) if name == "W1" else (3, 0)
        Q0 = losses.mse(net.forward(X), y)
        old, p[name][k] = p[name][k], 0.0
        assert rise[name][k] == pytest.approx(losses.mse(net.forward(X), y) - Q0, rel=1e-12)
        p[name][k] = old


def test_feature_saliency_zero_for_a_constant_zero_input_and_scale_free():
    rng = np.random.default_rng(15)
    X = rng.standard_normal((30, 4))
    X[:, 2] = 0.0                                   # a pixel that is always blank
    y = np.tanh(X[:, :1] - X[:, 1:2])
    net = mlp.MLP([4, 5, 1], seed=16)
    S = obd.feature_saliency(net.params["W1"], obd.hessian_diag(net, X, y)["W1"])
    assert S[2] == 0.0
    # measure input 0 in other units: x -> 10 x, its weights -> w / 10; S is unchanged
    X10 = X.copy()
    X10[:, 0] *= 10
    net.params["W1"][0] /= 10
    S10 = obd.feature_saliency(net.params["W1"], obd.hessian_diag(net, X10, y)["W1"])
    np.testing.assert_allclose(S10, S, rtol=1e-12)


def test_feature_ranking_is_stable_on_ties():
    np.testing.assert_array_equal(obd.feature_ranking([1.0, 3.0, 1.0, 3.0, 0.0]), [1, 3, 0, 2, 4])


def test_no_runtime_warning_at_extreme_inputs():
    net = mlp.MLP([2, 3, 1], "tanh", "identity", seed=17)
    X = np.array([[1000.0, -1000.0], [0.0, 0.0], [-1000.0, 1e-300]])
    y = np.array([[1.0], [0.0], [-1.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for f in (obd.hessian_diag, obd.obd_hessian_diag):
            assert np.all(np.isfinite(obd.flat_params(f(net, X, y))))
        net = mlp.MLP([2, 3, 2], "sigmoid", "identity", seed=17)
        h = obd.hessian_diag(net, X, np.array([0, 1, 1]), "softmax_cross_entropy")
        assert np.all(np.isfinite(obd.flat_params(h)))
