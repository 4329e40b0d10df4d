"""Backpropagation (chapter 5): lecture 000's BackProp == the matrix form == torch autograd.

Every gradient in nnref.backprop is checked against torch autograd in float64 and, where it
is a gradient of a loss, against central finite differences (nnref.gradcheck).
"""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from nnref import backprop as bp
from nnref import layers, losses, mlp
from nnref.gradcheck import numerical_gradients, relative_error
from nnref.optim import SGD

torch.set_default_dtype(torch.float64)

TORCH_ACTIVATIONS = {"tanh": torch.tanh, "sigmoid": torch.sigmoid, "relu": torch.relu,
                     "identity": lambda z: z}


def torch_mlp_grads(params, X, Y, sigmas):
    """Gradients of MSE = (1/n) sum_i ||a_i - y_i||^2 by torch autograd."""
    tp = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    A = torch.tensor(X)
    for l, sigma in enumerate(sigmas, start=1):
        A = TORCH_ACTIVATIONS[sigma](A @ tp[f"W{l}"] + tp[f"b{l}"])
    loss = ((A - torch.tensor(Y)) ** 2).sum() / len(X)
    loss.backward()
    return {k: v.grad.numpy() for k, v in tp.items()}


def lecture_batch_grads(net, X, Y, sigmas):
    """Lecture 000's per-object gradients of L_i = 1/2 ||a_i - y_i||^2, turned into the
    gradient of MSE = (2/n) sum_i L_i, in the matrix parameters W_l, b_l."""
    weights = bp.lecture_weights(net.params)
    total = [np.zeros_like(W) for W in weights]
    for x, y in zip(X, Y):
        for t, g in zip(total, bp.backprop_gradient(x, y, weights, sigmas)):
            t += g
    return bp.matrix_params([2.0 / len(X) * t for t in total])


ARCHITECTURES = [
    ([3, 4, 2], "tanh", "identity"),
    ([2, 5, 5, 1], "sigmoid", "sigmoid"),
    ([4, 6, 3, 2], "relu", "identity"),
    ([3, 7, 1], "tanh", "tanh"),
]


# --- lecture 000's BackProp -------------------------------------------------------------------


def test_bias_as_weight_of_constant_feature_minus_one():
    net = mlp.MLP([3, 4, 2], seed=1)
    weights = bp.lecture_weights(net.params)
    assert [W.shape for W in weights] == [(4, 4), (5, 2)]          # (H_{l-1} + 1) x H_l
    np.testing.assert_array_equal(weights[0][0], -net.params["b1"])  # w_0h = -b_h
    back = bp.matrix_params(weights)
    for name in net.params:
        np.testing.assert_array_equal(back[name], net.params[name])


@pytest.mark.parametrize("sizes, activation, output", ARCHITECTURES)
def test_lecture_forward_pass_equals_matrix_forward(sizes, activation, output):
    net = mlp.MLP(sizes, activation, output, seed=2)
    X = np.random.default_rng(0).standard_normal((5, sizes[0]))
    sigmas = [activation] * (len(sizes) - 2) + [output]
    weights = bp.lecture_weights(net.params)
    outputs = np.array([bp.backprop_forward(x, weights, sigmas)[0][-1] for x in X])
    np.testing.assert_allclose(outputs, net.forward(X), rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("sizes, activation, output", ARCHITECTURES)
def test_lecture_backprop_equals_matrix_form_equals_torch(sizes, activation, output):
    rng = np.random.default_rng(3)
    net = mlp.MLP(sizes, activation, output, seed=3)
    X, Y = rng.standard_normal((6, sizes[0])), rng.standard_normal((6, sizes[-1]))
    sigmas = [activation] * (len(sizes) - 2) + [output]
    lecture = lecture_batch_grads(net, X, Y, sigmas)
    _, matrix = mlp.loss_and_grads(net, X, Y, "mse")
    autograd = torch_mlp_grads(net.params, X, Y, sigmas)
    for name in net.params:
        np.testing.assert_allclose(lecture[name], matrix[name], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(matrix[name], autograd[name], rtol=1e-10, atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(sizes=st.lists(st.integers(1, 5), min_size=2, max_size=5),
       activation=st.sampled_from(["tanh", "sigmoid", "identity"]),
       n=st.integers(1, 4), seed=st.integers(0, 2**16))
def test_lecture_backprop_equals_matrix_form_on_any_architecture(sizes, activation, n, seed):
    rng = np.random.default_rng(seed)
    net = mlp.MLP(sizes, activation, "identity", seed=seed)
    X, Y = rng.standard_normal((n, sizes[0])), rng.standard_normal((n, sizes[-1]))
    sigmas = [activation] * (len(sizes) - 2) + ["identity"]
    lecture = lecture_batch_grads(net, X, Y, sigmas)
    _, matrix = mlp.loss_and_grads(net, X, Y, "mse")
    for name in net.params:
        np.testing.assert_allclose(lecture[name], matrix[name], rtol=1e-10, atol=1e-12)


def test_layer_errors_are_the_partials_of_the_loss_in_the_layer_outputs():
    """eps^l_h = dL_i/dx^l_h, L_i = 1/2 ||a - y||^2 (lecture 000's definition)."""
    rng = np.random.default_rng(4)
    net = mlp.MLP([3, 5, 4, 2], "tanh", "identity", seed=4)
    x, y = rng.standard_normal(3), rng.standard_normal(2)
    sigmas = ["tanh", "tanh", "identity"]
    weights = bp.lecture_weights(net.params)
    xs, zs = bp.backprop_forward(x, weights, sigmas)
    eps = bp.backprop_backward(bp.quadratic_error(xs[-1], y), weights, zs)

    tp = {k: torch.tensor(v) for k, v in net.params.items()}
    A, outputs = torch.tensor(x, requires_grad=True), []
    for l, sigma in enumerate(sigmas, start=1):
        A = TORCH_ACTIVATIONS[sigma](A @ tp[f"W{l}"] + tp[f"b{l}"])
        A.retain_grad()
        outputs.append(A)
    (0.5 * ((A - torch.tensor(y)) ** 2).sum()).backward()
    for eps_l, x_l in zip(eps, outputs):
        np.testing.assert_allclose(eps_l, x_l.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_sg_step_is_w_minus_eta_eps_z_x_and_matches_mlp_with_sgd():
    rng = np.random.default_rng(5)
    net = mlp.MLP([2, 3, 1], "sigmoid", "identity", seed=5)
    x, y = rng.standard_normal(2), rng.standard_normal(1)
    sigmas, eta = ["sigmoid", "identity"], 0.3
    weights = bp.lecture_weights(net.params)
    grads = bp.backprop_gradient(x, y, weights, sigmas)
    expected = [W - eta * g for W, g in zip(weights, grads)]
    loss = bp.backprop_sg_step(x, y, weights, sigmas, eta)
    for W, E in zip(weights, expected):
        np.testing.assert_allclose(W, E, rtol=1e-14)
    # MSE on one object is 2 L_i, so the lecture's step eta is the matrix step eta/2.
    assert loss == pytest.approx(losses.mse(net.forward(x[None]), y[None]) / 2, rel=1e-12)
    _, matrix_grads = mlp.loss_and_grads(net, x[None], y[None], "mse")
    SGD(eta / 2).step(net.params, matrix_grads)
    for name, value in bp.matrix_params(weights).items():
        np.testing.assert_allclose(value, net.params[name], rtol=1e-12, atol=1e-14)


def test_backprop_sg_lowers_the_exponential_estimate_of_q():
    rng = np.random.default_rng(6)
    X = rng.uniform(-2, 2, (40, 1))
    Y = np.sin(X)
    weights = bp.lecture_weights(mlp.MLP([1, 8, 1], "tanh", seed=6).params)
    history = bp.backprop_sg(X, Y, weights, ["tanh", "identity"], eta=0.1, steps=2000, seed=0)
    assert history.shape == (2000,)
    assert history[-1] < 0.2 * history[0]


# --- lecture 002's worked example ---------------------------------------------------------------


def test_class_probability_chain_matches_torch_and_closed_form():
    rng = np.random.default_rng(7)
    w, x = rng.standard_normal(4), rng.standard_normal(4)
    values, partials = bp.class_probability_chain(w, x)
    tw = torch.tensor(w, requires_grad=True)
    S = 1 - torch.sigmoid(tw @ torch.tensor(x))
    S.backward()
    assert values["S"] == pytest.approx(S.item(), rel=1e-14)
    np.testing.assert_allclose(partials["w"], tw.grad.numpy(), rtol=1e-12)
    p = 1 / (1 + np.exp(-values["a"]))
    assert partials["a"] == pytest.approx(-p * (1 - p), rel=1e-12)   # dS/da = -sigma'(a)


# --- lecture 003's board net ----------------------------------------------------------------


def board_params(rng, d=4, H=6):
    return {"W1": rng.standard_normal((d, H)), "b1": rng.standard_normal(H),
            "W2": rng.standard_normal((H, 1)), "b2": rng.standard_normal(1)}


def torch_board_grads(X, y, params):
    tp = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    y_hat = torch.tanh(torch.relu(torch.tensor(X) @ tp["W1"] + tp["b1"]) @ tp["W2"] + tp["b2"])
    loss = torch.nn.functional.mse_loss(y_hat, torch.tensor(y).reshape(-1, 1))
    loss.backward()
    return y_hat.detach().numpy(), {k: v.grad.numpy() for k, v in tp.items()}


@pytest.mark.parametrize("n, d, H", [(1, 1, 1), (5, 3, 4), (12, 6, 10)])
def test_board_net_grads_match_torch_autograd(n, d, H):
    rng = np.random.default_rng(n + d + H)
    X, y, params = rng.standard_normal((n, d)), rng.standard_normal((n, 1)), board_params(rng, d, H)
    y_hat, expected = torch_board_grads(X, y, params)
    np.testing.assert_allclose(bp.board_net_forward(X, **params), y_hat, rtol=1e-13)
    got = bp.board_net_grads(X, y, **params)
    assert set(got) == set(params)
    for name in params:
        assert got[name].shape == params[name].shape
        np.testing.assert_allclose(got[name], expected[name], rtol=1e-10, atol=1e-12)


def test_board_net_grads_match_central_differences():
    rng = np.random.default_rng(8)
    X, y, params = rng.standard_normal((7, 3)), rng.standard_normal(7), board_params(rng, 3, 5)
    numeric = numerical_gradients(lambda p: losses.mse(bp.board_net_forward(X, **p),
                                                       y.reshape(-1, 1)), params)
    got = bp.board_net_grads(X, y, **params)          # y of shape (n,) is accepted too
    for name in params:
        assert relative_error(got[name], numeric[name]) < 1e-7


def test_board_net_is_the_mlp_made_of_nnref_layers():
    rng = np.random.default_rng(9)
    net = mlp.MLP([3, 5, 1], activation="relu", output="tanh", seed=9)
    X, y = rng.standard_normal((8, 3)), rng.standard_normal((8, 1))
    _, expected = mlp.loss_and_grads(net, X, y, "mse")
    got = bp.board_net_grads(X, y, **net.params)
    for name in expected:
        np.testing.assert_allclose(got[name], expected[name], rtol=1e-12, atol=1e-14)


def test_board_net_sgd_step_updates_against_the_gradient_and_lowers_the_loss():
    rng = np.random.default_rng(10)
    X, y = rng.standard_normal((20, 3)), rng.standard_normal((20, 1))
    params = board_params(rng, 3, 8)
    before = {k: v.copy() for k, v in params.items()}
    grads = bp.board_net_grads(X, y, **params)
    new = bp.board_net_sgd_step(X, y, **params, eta=1e-3)
    for name in params:
        np.testing.assert_array_equal(params[name], before[name])     # inputs untouched
        np.testing.assert_allclose(new[name], params[name] - 1e-3 * grads[name], rtol=1e-14)
    assert (losses.mse(bp.board_net_forward(X, **new), y)
            < losses.mse(bp.board_net_forward(X, **params), y))


# --- layers with the graded notebook's signatures, and loss layers ------------------------------


def test_linear_grads_match_torch_autograd():
    rng = np.random.default_rng(11)
    x, W, b, dout = (rng.standard_normal(s) for s in [(5, 3), (3, 4), (4,), (5, 4)])
    tx, tW, tb = (torch.tensor(a, requires_grad=True) for a in (x, W, b))
    (tx @ tW + tb).backward(torch.tensor(dout))
    for got, t in zip(bp.linear_grads(dout, x, W), (tx, tW, tb)):
        np.testing.assert_allclose(got, t.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("backward, f", [(bp.tanh_backward, torch.tanh),
                                         (bp.relu_backward, torch.relu)])
def test_activation_backward_matches_torch_autograd(backward, f):
    rng = np.random.default_rng(12)
    z, dout = rng.standard_normal((4, 6)), rng.standard_normal((4, 6))
    tz = torch.tensor(z, requires_grad=True)
    f(tz).backward(torch.tensor(dout))
    np.testing.assert_allclose(backward(dout, z), tz.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("name", ["mse", "binary_cross_entropy"])
def test_loss_layers_match_torch(name):
    rng = np.random.default_rng(13)
    y_hat = rng.uniform(0.05, 0.95, (6, 1))
    y = rng.integers(0, 2, (6, 1)).astype(float) if name != "mse" else rng.standard_normal((6, 1))
    value, cache = bp.loss_forward(y_hat, y, name)
    t = torch.tensor(y_hat, requires_grad=True)
    torch_loss = {"mse": torch.nn.functional.mse_loss,
                  "binary_cross_entropy": torch.nn.functional.binary_cross_entropy}[name]
    expected = torch_loss(t, torch.tensor(y))
    (3.0 * expected).backward()
    assert value == pytest.approx(expected.item(), rel=1e-12)
    np.testing.assert_allclose(bp.loss_backward(cache, dout=3.0), t.grad.numpy(), rtol=1e-10)


def test_layers_and_loss_layer_compose_into_the_mlp_backward():
    rng = np.random.default_rng(14)
    net = mlp.MLP([3, 4, 2], "tanh", seed=14)
    X, y = rng.standard_normal((5, 3)), rng.standard_normal((5, 2))
    Z1, c1 = layers.linear_forward(X, net.params["W1"], net.params["b1"])
    A1, ca = layers.activation_forward(Z1, "tanh")
    y_hat, c2 = layers.linear_forward(A1, net.params["W2"], net.params["b2"])
    _, cl = bp.loss_forward(y_hat, y, "mse")
    dA1, dW2, db2 = layers.linear_backward(bp.loss_backward(cl), c2)
    _, dW1, db1 = layers.linear_backward(layers.activation_backward(dA1, ca), c1)
    _, expected = mlp.loss_and_grads(net, X, y)
    for got, name in zip((dW1, db1, dW2, db2), ("W1", "b1", "W2", "b2")):
        np.testing.assert_allclose(got, expected[name], rtol=1e-14)


# --- vanishing and exploding gradients ------------------------------------------------------


def test_chain_gradient_norms_match_torch_autograd():
    depth, width = 6, 5
    net = bp.deep_net(depth, width, "tanh", gain=1.3, seed=0)
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((64, width)), rng.standard_normal((64, width))
    autograd = torch_mlp_grads(net.params, X, y, ["tanh"] * depth)
    expected = [np.linalg.norm(autograd[f"W{l}"]) for l in range(1, depth + 1)]
    np.testing.assert_allclose(bp.chain_gradient_norms(depth, width, gain=1.3), expected,
                               rtol=1e-10)


def test_first_layer_gradient_vanishes_in_a_100_layer_tanh_net_with_small_weights():
    norms = bp.chain_gradient_norms(100, 32, "tanh")           # PyTorch-like default start
    assert norms.shape == (100,)
    assert norms[0] < 1e-10 * norms[-1]


def test_gradients_explode_with_large_weights():
    norms = bp.chain_gradient_norms(50, 32, "tanh", gain=2.0)
    assert norms[0] > 1e3 * norms[-1]


def test_single_neuron_chain_bias_gradients_match_torch():
    rng = np.random.default_rng(15)
    w, b, x = rng.standard_normal(4), rng.standard_normal(4), 0.7
    tb = torch.tensor(b, requires_grad=True)
    a = torch.tensor(x)
    for j in range(4):
        a = torch.sigmoid(w[j] * a + tb[j])
    C = 0.5 * (a - 1.0) ** 2
    C.backward()
    got = bp.neuron_chain_bias_grads(x, w, b, dC_da_L=a.item() - 1.0)
    np.testing.assert_allclose(got, tb.grad.numpy(), rtol=1e-12)


@settings(max_examples=50, deadline=None)
@given(w=st.lists(st.floats(-1, 1), min_size=4, max_size=4),
       b=st.lists(st.floats(-3, 3), min_size=4, max_size=4), x=st.floats(-3, 3))
def test_each_factor_w_sigma_prime_is_at_most_a_quarter_so_db1_shrinks(w, b, x):
    z, _ = bp.neuron_chain_forward(x, w, b)
    s = 1 / (1 + np.exp(-z))
    assert np.all(np.abs(np.array(w) * s * (1 - s)) <= 0.25)
    grads = bp.neuron_chain_bias_grads(x, w, b, dC_da_L=1.0)
    assert abs(grads[0]) <= 0.25**4 + 1e-15                     # sigma'(z1) * three factors
    assert abs(grads[0]) <= 0.25**3 * abs(grads[3]) + 1e-15


# --- lecture 001's computational graph ---------------------------------------------------------


def test_value_gradients_match_torch():
    xs = [0.3, -1.2, 0.8]
    a, b, c = (bp.Value(v) for v in xs)
    out = (a * b + c).tanh() * a + b * 2.0 + (c * c).tanh()
    out.backward()
    ta, tb, tc = (torch.tensor(v, requires_grad=True) for v in xs)
    t_out = torch.tanh(ta * tb + tc) * ta + tb * 2.0 + torch.tanh(tc * tc)
    t_out.backward()
    assert out.data == pytest.approx(t_out.item(), rel=1e-14)
    for v, t in zip((a, b, c), (ta, tb, tc)):
        assert v.grad == pytest.approx(t.grad.item(), rel=1e-12)


def test_lecture_001_derivative_in_w11_is_the_sum_over_its_two_paths():
    a, inputs, weights = bp.layered_graph(depth=2, width=2, seed=0)
    w11 = next(w for w in weights if w.name == "w1_11")
    derivative, _ = bp.path_sum_gradient(a, w11)
    assert len(bp.paths(a, w11)) == 2                    # through h1 and through h2
    a.backward()
    assert w11.grad == pytest.approx(derivative, rel=1e-12)


@pytest.mark.parametrize("depth", [1, 3, 5])
def test_path_sum_and_backprop_give_the_same_gradient(depth):
    a, inputs, weights = bp.layered_graph(depth, width=2, seed=depth)
    a.backward()
    for leaf in inputs + weights:
        assert leaf.grad == pytest.approx(bp.path_sum_gradient(a, leaf)[0], rel=1e-10, abs=1e-14)


def test_naive_work_grows_exponentially_backprop_work_linearly():
    counts = np.array([bp.multiplication_counts(depth) for depth in range(1, 9)])
    naive, backprop = counts[:, 0], counts[:, 1]
    assert np.all(np.diff(backprop, 2) == 0)                 # linear in depth
    assert np.all(naive[1:] / naive[:-1] > 2)                # more than doubles per layer
    assert naive[-1] > 100 * backprop[-1]


@pytest.mark.parametrize("N, d, n, scale", [(1, 2, 3, 1.0), (5, 3, 4, 1.0), (100, 6, 8, 0.6)])
def test_deep_tanh_backward_matches_torch_autograd(N, d, n, scale):
    """Troeshestova's problem 2: dL/dW_i and dL/dX of an N-layer tanh net, against autograd;
    in the 100-layer net the first layer's gradient norm matches even where it has vanished."""
    rng = np.random.default_rng(N)
    X, y = rng.standard_normal((n, d)), rng.standard_normal((n, d))
    W, b = scale * rng.standard_normal((N, d, d)) / np.sqrt(d), 0.1 * rng.standard_normal((N, d))
    dW, dX = bp.deep_tanh_backward(X, y, W, b)
    Xt, Wt = torch.tensor(X, requires_grad=True), torch.tensor(W, requires_grad=True)
    A = Xt
    for i in range(N):
        A = torch.tanh(A @ Wt[i] + torch.from_numpy(b[i]))
    (((A - torch.from_numpy(y)) ** 2).sum() / n).backward()
    norms = np.linalg.norm(Wt.grad.numpy(), axis=(1, 2))
    np.testing.assert_allclose(bp.deep_tanh_grad_norms(X, y, W, b), norms, rtol=1e-9, atol=0)
    np.testing.assert_allclose(dX, Xt.grad.numpy(), rtol=1e-9, atol=1e-14 * np.abs(dX).max())
    if N == 100:
        assert norms[0] < 1e-3 * norms[-1]
    else:
        np.testing.assert_allclose(dW, Wt.grad.numpy(), rtol=1e-9, atol=1e-15)
