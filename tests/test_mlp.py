"""Specification of nnref.mlp: the multilayer perceptron Z_l = A_{l-1} W_l + 1 b_l^T,
A_l = sigma_l(Z_l), its backward pass and the training loop, against the same network in
torch (float64, the same weights) and central finite differences."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from nnref import logic, losses, mlp, optim
from nnref.gradcheck import numerical_gradients, relative_error

torch.set_default_dtype(torch.float64)
torch.set_num_threads(1)   # tiny tensors: threads only add overhead
TORCH_ACT = {"identity": torch.nn.Identity, "tanh": torch.nn.Tanh, "sigmoid": torch.nn.Sigmoid,
             "relu": torch.nn.ReLU}
# nnref's MSE averages the squared norms ||y_hat_i - y_i||^2 over the n objects (lecture
# 002); torch's MSELoss averages over all n*K entries, so it is sum / n here.
TORCH_LOSS = {"mse": lambda y_hat, y: torch.nn.functional.mse_loss(y_hat, y, reduction="sum")
              / len(y), "binary_cross_entropy": torch.nn.BCELoss()}


def torch_copy(net):
    """The same network as a torch.nn.Sequential, weights copied (W_l is weight^T)."""
    modules = []
    for l in range(1, net.L + 1):
        W, b = net.params[f"W{l}"], net.params[f"b{l}"]
        linear = torch.nn.Linear(*W.shape)
        with torch.no_grad():
            linear.weight.copy_(torch.tensor(W.T))
            linear.bias.copy_(torch.tensor(b))
        modules += [linear, TORCH_ACT[net.activation if l < net.L else net.output]()]
    return torch.nn.Sequential(*modules)


def torch_grads(model):
    linears = [m for m in model if isinstance(m, torch.nn.Linear)]
    grads = {}
    for l, m in enumerate(linears, start=1):
        grads[f"W{l}"], grads[f"b{l}"] = m.weight.grad.numpy().T, m.bias.grad.numpy()
    return grads


def problem(sizes, output="identity", n=9, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, sizes[0]))
    if output == "sigmoid":
        return X, rng.integers(0, 2, (n, sizes[-1])).astype(float), "binary_cross_entropy"
    return X, rng.standard_normal((n, sizes[-1])), "mse"


def test_parameters_have_the_documented_shapes_and_initialisation():
    net = mlp.MLP([3, 5, 2], seed=1)
    assert sorted(net.params) == ["W1", "W2", "b1", "b2"]
    assert net.params["W1"].shape == (3, 5) and net.params["b2"].shape == (2,)
    assert np.all(np.abs(net.params["W1"]) <= 1 / np.sqrt(3))
    assert np.all(np.abs(net.params["W2"]) <= 1 / np.sqrt(5))
    np.testing.assert_array_equal(mlp.MLP([3, 5, 2], seed=1).params["W1"], net.params["W1"])
    gaussian = mlp.MLP([3, 5, 2], seed=1, scale=0.1)
    np.testing.assert_array_equal(gaussian.params["b1"], 0.0)


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "relu", "identity"])
@pytest.mark.parametrize("sizes, output", [([2, 4, 1], "sigmoid"), ([3, 5, 4, 2], "identity")])
def test_forward_matches_torch(sizes, output, activation):
    net = mlp.MLP(sizes, activation, output, seed=2)
    X, _, _ = problem(sizes, output)
    expected = torch_copy(net)(torch.tensor(X)).detach().numpy()
    np.testing.assert_allclose(net.forward(X), expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "relu", "identity"])
@pytest.mark.parametrize("sizes, output", [([2, 4, 1], "sigmoid"), ([3, 5, 4, 2], "identity")])
def test_gradients_match_torch_autograd(sizes, output, activation):
    net = mlp.MLP(sizes, activation, output, seed=3)
    X, y, loss = problem(sizes, output, seed=1)
    value, grads = mlp.loss_and_grads(net, X, y, loss)
    model = torch_copy(net)
    torch_value = TORCH_LOSS[loss](model(torch.tensor(X)), torch.tensor(y))
    torch_value.backward()
    assert value == pytest.approx(torch_value.item(), rel=1e-10)
    expected = torch_grads(model)
    for name in net.params:
        assert grads[name].shape == net.params[name].shape
        np.testing.assert_allclose(grads[name], expected[name], rtol=1e-10, atol=1e-12,
                                   err_msg=name)


@pytest.mark.parametrize("activation", ["tanh", "sigmoid"])
def test_gradients_match_central_differences(activation):
    net = mlp.MLP([3, 4, 2], activation, "identity", seed=4)
    X, y, loss = problem([3, 4, 2], seed=2)
    _, grads = mlp.loss_and_grads(net, X, y, loss)
    numeric = numerical_gradients(lambda params: losses.mse(net.forward(X), y), net.params)
    for name in net.params:
        assert relative_error(grads[name], numeric[name]) < 1e-8, name


@settings(max_examples=15, deadline=None)
@given(st.lists(st.integers(1, 4), min_size=2, max_size=4), st.integers(1, 6),
       st.integers(0, 100))
def test_gradients_match_torch_on_random_architectures(sizes, n, seed):
    net = mlp.MLP(sizes, "tanh", "identity", seed=seed)
    X, y, loss = problem(sizes, n=n, seed=seed)
    _, grads = mlp.loss_and_grads(net, X, y, loss)
    model = torch_copy(net)
    TORCH_LOSS[loss](model(torch.tensor(X)), torch.tensor(y)).backward()
    expected = torch_grads(model)
    for name in net.params:
        np.testing.assert_allclose(grads[name], expected[name], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("batch_size", [None, 1, 3])
def test_train_follows_torch_sgd_step_by_step(batch_size):
    """Same weights, same shuffling, torch.optim.SGD: the same loss after every epoch."""
    net = mlp.MLP([2, 3, 1], "tanh", "sigmoid", seed=5)
    X, y, loss = problem([2, 3, 1], "sigmoid", n=8, seed=3)
    model = torch_copy(net)
    history = mlp.train(net, X, y, loss, optim.SGD(0.5), epochs=20, batch_size=batch_size,
                        seed=7)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    rng, X_t, y_t = np.random.default_rng(7), torch.tensor(X), torch.tensor(y)
    torch_history = []
    for _ in range(20):
        order = rng.permutation(8)
        for start in range(0, 8, batch_size or 8):
            batch = torch.tensor(order[start:start + (batch_size or 8)])
            opt.zero_grad()
            TORCH_LOSS[loss](model(X_t[batch]), y_t[batch]).backward()
            opt.step()
        with torch.no_grad():
            torch_history.append(TORCH_LOSS[loss](model(X_t), y_t).item())
    np.testing.assert_allclose(history, torch_history, rtol=1e-10)


def test_sgd_step_is_w_minus_eta_grad_in_place():
    params = {"W": np.array([[1.0, 2.0]]), "b": np.array([0.5])}
    W = params["W"]
    optim.SGD(0.1).step(params, {"W": np.array([[10.0, -10.0]]), "b": np.array([1.0])})
    assert params["W"] is W
    np.testing.assert_allclose(params["W"], [[0.0, 3.0]])
    np.testing.assert_allclose(params["b"], [0.4])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_trained_2_4_1_tanh_net_computes_xor(seed):
    X = logic.binary_inputs(2)
    y = logic.xor(X)[:, None]
    net = mlp.MLP([2, 4, 1], "tanh", "sigmoid", seed=seed)
    history = mlp.train(net, X, y, "binary_cross_entropy", optim.SGD(1.0), epochs=1500)
    assert history[-1] < 0.01 < history[0]
    np.testing.assert_array_equal(net.forward(X)[:, 0] > 0.5, y[:, 0] == 1)


def test_full_batch_training_never_increases_the_loss_with_a_small_step():
    X = logic.binary_inputs(2)
    net = mlp.MLP([2, 4, 1], "tanh", "sigmoid", seed=0)
    history = mlp.train(net, X, logic.xor(X)[:, None], "binary_cross_entropy",
                        optim.SGD(0.1), epochs=300)
    assert np.all(np.diff(history) <= 1e-12)
