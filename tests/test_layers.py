"""Specification of nnref.layers: the linear layer Z = XW + 1b^T and element-wise
activation layers, forward against torch (nn.Linear, torch.nn.functional) and backward
against torch autograd (float64) and central finite differences."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from nnref import activations, layers
from nnref.gradcheck import numerical_gradient, relative_error

torch.set_default_dtype(torch.float64)
torch.set_num_threads(1)   # tiny tensors: threads only add overhead

# every activation of nnref that the activation layer accepts (it has a `_prime` taking z
# alone) and that torch has, with torch's function
TORCH_ACTIVATIONS = {
    "identity": lambda z: z, "sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": F.relu,
    "exp": torch.exp, "leaky_relu": F.leaky_relu, "elu": F.elu, "selu": F.selu,
    "relu6": F.relu6, "softplus": F.softplus, "swish": F.silu, "mish": F.mish,
}
NAMES = [name for name in TORCH_ACTIVATIONS if hasattr(activations, f"{name}_prime")]


def linear_case(n, d, H, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, d)), rng.standard_normal((d, H)), rng.standard_normal(H),
            rng.standard_normal((n, H)))


def torch_linear(W, b):
    """nn.Linear holding W (d, H) as its weight (H, d) = W^T."""
    layer = torch.nn.Linear(*W.shape)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor(W.T))
        layer.bias.copy_(torch.tensor(b))
    return layer


@pytest.mark.parametrize("n, d, H", [(1, 1, 1), (5, 3, 4), (32, 10, 7)])
def test_linear_forward_matches_nn_linear(n, d, H):
    x, W, b, _ = linear_case(n, d, H)
    out, _ = layers.linear_forward(x, W, b)
    expected = torch_linear(W, b)(torch.tensor(x)).detach().numpy()
    assert out.shape == (n, H)
    np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("n, d, H", [(1, 1, 1), (5, 3, 4), (32, 10, 7)])
def test_linear_backward_matches_autograd(n, d, H):
    x, W, b, dout = linear_case(n, d, H, seed=1)
    _, cache = layers.linear_forward(x, W, b)
    dx, dW, db = layers.linear_backward(dout, cache)
    x_t = torch.tensor(x, requires_grad=True)
    layer = torch_linear(W, b)
    (layer(x_t) * torch.tensor(dout)).sum().backward()   # L = <dout, Z>, so dL/dZ = dout
    assert (dx.shape, dW.shape, db.shape) == (x.shape, W.shape, b.shape)
    np.testing.assert_allclose(dx, x_t.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dW, layer.weight.grad.numpy().T, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(db, layer.bias.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_linear_backward_matches_central_differences():
    x, W, b, dout = linear_case(4, 3, 2, seed=2)
    _, cache = layers.linear_forward(x, W, b)
    dx, dW, db = layers.linear_backward(dout, cache)

    def L(_):
        return float(np.sum(layers.linear_forward(x, W, b)[0] * dout))

    for analytic, array in [(dx, x), (dW, W), (db, b)]:
        assert relative_error(analytic, numerical_gradient(L, array)) < 1e-8


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 6), st.integers(1, 5), st.integers(1, 5), st.integers(0, 1000))
def test_linear_layer_is_linear_in_x(n, d, H, seed):
    """Z(x1 + x2) = Z(x1) + Z(x2) - b: an affine map."""
    x1, W, b, _ = linear_case(n, d, H, seed)
    x2 = linear_case(n, d, H, seed + 1)[0]
    Z = lambda x: layers.linear_forward(x, W, b)[0]  # noqa: E731
    np.testing.assert_allclose(Z(x1 + x2), Z(x1) + Z(x2) - b, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("name", NAMES)
def test_activation_forward_matches_torch(name):
    z = np.random.default_rng(3).standard_normal((6, 5)) * 3
    out, _ = layers.activation_forward(z, name)
    expected = TORCH_ACTIVATIONS[name](torch.tensor(z)).numpy()
    np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_activation_backward_matches_autograd(name):
    rng = np.random.default_rng(4)
    z, dout = rng.standard_normal((6, 5)) * 3, rng.standard_normal((6, 5))
    _, cache = layers.activation_forward(z, name)
    dz = layers.activation_backward(dout, cache)
    z_t = torch.tensor(z, requires_grad=True)
    (TORCH_ACTIVATIONS[name](z_t) * torch.tensor(dout)).sum().backward()
    np.testing.assert_allclose(dz, z_t.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_activation_backward_matches_central_differences(name):
    rng = np.random.default_rng(5)
    z, dout = rng.standard_normal((3, 4)) * 2 + 0.05, rng.standard_normal((3, 4))
    z[np.abs(z) < 0.05] += 0.1                    # keep away from kinks (ReLU at 0)
    _, cache = layers.activation_forward(z, name)
    dz = layers.activation_backward(dout, cache)

    def L(_):
        return float(np.sum(layers.activation_forward(z, name)[0] * dout))

    assert relative_error(dz, numerical_gradient(L, z)) < 1e-8


def test_activation_backward_is_dout_times_sigma_prime():
    z = np.linspace(-3, 3, 7)[None, :]
    dout = np.full_like(z, 2.0)
    _, cache = layers.activation_forward(z, "tanh")
    np.testing.assert_allclose(layers.activation_backward(dout, cache),
                               2.0 * (1 - np.tanh(z) ** 2), rtol=1e-14)
