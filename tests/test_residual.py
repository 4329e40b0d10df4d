"""Residual blocks (chapter 10) against torch autograd (float64) and finite differences; the
plain stack equals chapter 5's experiment."""

import numpy as np
import pytest
import torch

from nnref import backprop as bp
from nnref import residual as R
from nnref.gradcheck import numerical_gradient, relative_error

torch.set_default_dtype(torch.float64)


@pytest.mark.parametrize("activation, torch_f", [("tanh", torch.tanh), ("relu", torch.relu),
                                                 ("sigmoid", torch.sigmoid)])
def test_residual_block_against_torch(activation, torch_f):
    rng = np.random.default_rng(0)
    A, W, b, dout = rng.standard_normal((6, 4)), rng.standard_normal((4, 4)), rng.standard_normal(4), \
        rng.standard_normal((6, 4))
    tA, tW, tb = (torch.tensor(v, requires_grad=True) for v in (A, W, b))
    out_t = tA + torch_f(tA @ tW + tb)
    (out_t * torch.tensor(dout)).sum().backward()
    out, cache = R.residual_forward(A, W, b, activation)
    np.testing.assert_allclose(out, out_t.detach().numpy(), rtol=1e-14)
    for got, t in zip(R.residual_backward(dout, cache), (tA, tW, tb)):
        np.testing.assert_allclose(got, t.grad.numpy(), rtol=1e-12, atol=1e-14)


def test_residual_block_gradcheck():
    rng = np.random.default_rng(1)
    A, W, b, dout = rng.standard_normal((5, 3)), rng.standard_normal((3, 3)), rng.standard_normal(3), \
        rng.standard_normal((5, 3))
    dA, dW, db = R.residual_block_grads(dout, A, W, b)
    f = lambda: float(np.sum(dout * R.residual_block(A, W, b)))
    for got, x in [(dA, A), (dW, W), (db, b)]:
        assert relative_error(got, numerical_gradient(lambda _: f(), x)) < 1e-8


def test_block_jacobian_is_identity_plus_dF():
    rng = np.random.default_rng(2)
    a, W, b = rng.standard_normal(4), rng.standard_normal((4, 4)), rng.standard_normal(4)
    J = torch.autograd.functional.jacobian(lambda t: t + torch.tanh(t @ torch.tensor(W) + torch.tensor(b)),
                                           torch.tensor(a)).numpy()
    np.testing.assert_allclose(R.block_jacobian(a, W, b), J, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(R.block_jacobian(a, W, b, residual=False), J - np.eye(4), rtol=1e-12, atol=1e-14)


def test_plain_stack_is_chapter_5s_experiment():
    np.testing.assert_array_equal(R.gradient_norms(30, 8, residual=False),
                                  bp.chain_gradient_norms(30, 8, "tanh"))


@pytest.mark.parametrize("residual", [False, True])
def test_stack_gradients_against_torch_with_auxiliary_outputs(residual):
    depth, width = 6, 5
    net = bp.deep_net(depth, width)
    X, y = bp.deep_net_data(7, width)
    aux = {2: 0.3, 4: 0.5}
    loss, grads = R.stack_gradients(X, y, net.params, depth, residual, aux=aux)
    tp = {k: torch.tensor(v, requires_grad=True) for k, v in net.params.items()}
    A, ty, total = torch.tensor(X), torch.tensor(y), 0.0
    for l in range(1, depth + 1):
        F = torch.tanh(A @ tp[f"W{l}"] + tp[f"b{l}"])
        A = A + F if residual else F
        if l in aux:
            total = total + aux[l] * ((A - ty) ** 2).sum() / len(X)
    total = total + ((A - ty) ** 2).sum() / len(X)
    total.backward()
    assert loss == pytest.approx(total.item(), rel=1e-12)
    for k, t in tp.items():
        np.testing.assert_allclose(grads[k], t.grad.numpy(), rtol=1e-10, atol=1e-13)


def test_skips_stop_the_vanishing():
    plain, skip = R.gradient_norms(100, 50, False), R.gradient_norms(100, 50, True)
    assert plain[0] / plain[-1] < 1e-15
    assert 0.1 < skip[0] / skip[-1] < 100
