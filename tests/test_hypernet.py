"""Hypernetworks (chapter 10): gradients flow through the generated weights into g only;
against torch autograd (float64) and central finite differences."""

import numpy as np
import pytest
import torch

from nnref import hypernet as HN
from nnref.gradcheck import numerical_gradient, numerical_gradients, relative_error

torch.set_default_dtype(torch.float64)


def torch_main(x, theta, sizes):
    n, start, A = x.shape[0], 0, x
    for l, (a, b) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        W = theta[:, start:start + a * b].reshape(n, a, b)
        start += a * b
        bias = theta[:, start:start + b]
        start += b
        Z = torch.einsum("ni,nij->nj", A, W) + bias
        A = torch.tanh(Z) if l < len(sizes) - 1 else Z
    return A


def test_theta_size_and_unpack():
    sizes = [2, 3, 1]
    assert HN.theta_size(sizes) == 2 * 3 + 3 + 3 * 1 + 1
    theta = np.arange(2.0 * 13).reshape(2, 13)
    (W1, b1), (W2, b2) = HN.unpack_theta(theta, sizes)
    np.testing.assert_array_equal(W1[1], theta[1, :6].reshape(2, 3))
    np.testing.assert_array_equal(b2[:, 0], theta[:, 12])
    with pytest.raises(ValueError):
        HN.unpack_theta(theta[:, :12], sizes)


@pytest.mark.parametrize("sizes", [[1, 4, 1], [3, 5, 4, 2]])
def test_main_net_against_torch(sizes):
    rng = np.random.default_rng(0)
    n, P = 6, HN.theta_size(sizes)
    x, theta, dout = rng.standard_normal((n, sizes[0])), rng.standard_normal((n, P)), rng.standard_normal((n, sizes[-1]))
    tx, ttheta = torch.tensor(x, requires_grad=True), torch.tensor(theta, requires_grad=True)
    out_t = torch_main(tx, ttheta, sizes)
    (out_t * torch.tensor(dout)).sum().backward()
    out, cache = HN.main_forward(x, theta, sizes)
    np.testing.assert_allclose(out, out_t.detach().numpy(), rtol=1e-12)
    dx, dtheta = HN.main_backward(dout, cache)
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-11, atol=1e-14)
    np.testing.assert_allclose(dtheta, ttheta.grad.numpy(), rtol=1e-11, atol=1e-14)


def test_hypernetwork_gradients_reach_g_only():
    rng = np.random.default_rng(1)
    x, z, y = rng.standard_normal((8, 1)), rng.standard_normal((8, 3)), rng.standard_normal((8, 1))
    net = HN.HyperNetwork(3, [1, 4, 1], hidden=(5,), seed=2)
    loss, grads = net.loss_and_grads(x, z, y)
    assert set(grads) == set(net.params) == {"W1", "b1", "W2", "b2"}
    numeric = numerical_gradients(lambda p: net.loss_and_grads(x, z, y)[0], net.params)
    for name in net.params:
        assert relative_error(grads[name], numeric[name]) < 1e-8, name


def test_linear_hypernetwork_against_torch():
    rng = np.random.default_rng(3)
    n, m, H = 10, 4, 5
    x, z, y = rng.standard_normal(n), rng.standard_normal((n, m)), rng.standard_normal(n)
    G, c = rng.standard_normal((m, 3 * H + 1)), rng.standard_normal(3 * H + 1)
    tG, tc = torch.tensor(G, requires_grad=True), torch.tensor(c, requires_grad=True)
    theta = torch.tensor(z) @ tG + tc
    w1, b1, w2, b2 = theta[:, :H], theta[:, H:2 * H], theta[:, 2 * H:3 * H], theta[:, 3 * H]
    y_hat = (w2 * torch.tanh(w1 * torch.tensor(x)[:, None] + b1)).sum(dim=1) + b2
    loss_t = ((y_hat - torch.tensor(y)) ** 2).mean()
    loss_t.backward()
    loss, dG, dc = HN.linear_hyper_loss_and_grads(x, z, y, G, c)
    assert loss == pytest.approx(loss_t.item(), rel=1e-12)
    np.testing.assert_allclose(dG, tG.grad.numpy(), rtol=1e-11, atol=1e-14)
    np.testing.assert_allclose(dc, tc.grad.numpy(), rtol=1e-11, atol=1e-14)
    numeric = numerical_gradient(lambda g: HN.linear_hyper_loss_and_grads(x, z, y, g, c)[0], G.copy())
    assert relative_error(dG, numeric) < 1e-8
