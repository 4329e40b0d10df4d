"""Batch normalisation (nnref.batchnorm) against torch.nn.BatchNorm1d in float64, central
finite differences, and the properties that define it."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from nnref import batchnorm as bn
from nnref import gradcheck
from nnref.batchnorm import BatchNorm1d, batchnorm_backward, batchnorm_forward

SHAPES = [(2, 1), (5, 3), (32, 10), (200, 4)]


def torch_bn(gamma, beta, momentum=0.1, eps=1e-5):
    layer = torch.nn.BatchNorm1d(len(gamma), eps=eps, momentum=momentum, dtype=torch.float64)
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(gamma))
        layer.bias.copy_(torch.from_numpy(beta))
    return layer


def torch_forward_backward(layer, x, dout):
    """torch's output and, by autograd, the gradients of sum(dout * out) in x, gamma, beta."""
    xt = torch.tensor(x, requires_grad=True)
    layer.zero_grad()
    out = layer(xt)
    out.backward(torch.from_numpy(dout))
    return (out.detach().numpy(), xt.grad.numpy(), layer.weight.grad.numpy(),
            layer.bias.grad.numpy())


def draw(shape, seed):
    rng = np.random.default_rng(seed)
    n, d = shape
    x = 3.0 * rng.standard_normal((n, d)) + rng.normal(0, 5, d)   # features off-centre
    return x, rng.standard_normal(d), rng.standard_normal(d), rng.standard_normal((n, d))


# --- against torch ------------------------------------------------------------------------


@pytest.mark.parametrize("shape", SHAPES)
def test_training_forward_and_backward_match_torch(shape):
    x, gamma, beta, dout = draw(shape, seed=sum(shape))
    out_t, dx_t, dgamma_t, dbeta_t = torch_forward_backward(torch_bn(gamma, beta), x, dout)
    out, cache = batchnorm_forward(x, gamma, beta, {"mode": "train"})
    dx, dgamma, dbeta = batchnorm_backward(dout, cache)
    np.testing.assert_allclose(out, out_t, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(dx, dx_t, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dgamma, dgamma_t, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dbeta, dbeta_t, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("momentum", [0.1, 0.3, 1.0])
def test_running_statistics_after_several_steps_match_torch(momentum):
    rng = np.random.default_rng(7)
    gamma, beta = rng.standard_normal(4), rng.standard_normal(4)
    layer = torch_bn(gamma, beta, momentum=momentum)
    bn_param = {"mode": "train", "momentum": momentum}
    for step, n in enumerate([8, 3, 16, 2, 5]):              # batches of varying size
        x = rng.normal(step, 1 + step, (n, 4))
        layer(torch.from_numpy(x))
        batchnorm_forward(x, gamma, beta, bn_param)
        np.testing.assert_allclose(bn_param["running_mean"], layer.running_mean.numpy(),
                                   rtol=1e-13, atol=1e-14)
        np.testing.assert_allclose(bn_param["running_var"], layer.running_var.numpy(),
                                   rtol=1e-13, atol=1e-14)


def test_defaults_are_torchs():
    layer = torch.nn.BatchNorm1d(3, dtype=torch.float64)
    bn_param = {}
    batchnorm_forward(np.zeros((2, 3)), np.ones(3), np.zeros(3), bn_param)
    assert bn_param["mode"] == "train" and layer.training
    assert bn_param["eps"] == layer.eps and bn_param["momentum"] == layer.momentum
    fresh = BatchNorm1d(3)
    np.testing.assert_array_equal(fresh.running_mean, layer.running_mean.numpy())
    np.testing.assert_array_equal(fresh.running_var, layer.running_var.numpy())
    np.testing.assert_array_equal(fresh.params["gamma"], layer.weight.detach().numpy())
    np.testing.assert_array_equal(fresh.params["beta"], layer.bias.detach().numpy())


def test_eval_mode_matches_torch_after_training():
    x_train, gamma, beta, _ = draw((16, 5), seed=1)
    layer, ours = torch_bn(gamma, beta), BatchNorm1d(5)
    ours.params["gamma"], ours.params["beta"] = gamma.copy(), beta.copy()
    for k in range(4):
        layer(torch.from_numpy(x_train + k))
        ours.forward(x_train + k)
    layer.eval()
    ours.eval()
    x, _, _, dout = draw((6, 5), seed=2)
    out_t, dx_t, dgamma_t, dbeta_t = torch_forward_backward(layer, x, dout)
    out = ours.forward(x)
    dx = ours.backward(dout)
    np.testing.assert_allclose(out, out_t, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(dx, dx_t, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(ours.grads["gamma"], dgamma_t, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(ours.grads["beta"], dbeta_t, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("n", [1, 7])
def test_batchnorm_eval_matches_torch_batchnorm1d_in_eval_mode(n):
    """The pure function of the running statistics is torch's BatchNorm1d after .eval()."""
    rng = np.random.default_rng(11)
    d = 4
    gamma, beta = rng.standard_normal(d), rng.standard_normal(d)
    layer = torch_bn(gamma, beta, momentum=0.3, eps=1e-3)
    for _ in range(3):                                 # running statistics away from 0 and 1
        layer(torch.from_numpy(rng.normal(2.0, 3.0, (8, d))))
    layer.eval()
    x = rng.normal(2.0, 3.0, (n, d))
    expected = layer(torch.from_numpy(x)).detach().numpy()
    got = bn.batchnorm_eval(x, gamma, beta, layer.running_mean.numpy(), layer.running_var.numpy(),
                            eps=1e-3)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14)


def test_eval_mode_leaves_running_statistics_alone():
    layer = BatchNorm1d(3)
    layer.forward(np.arange(12.0).reshape(4, 3))
    before = (layer.running_mean.copy(), layer.running_var.copy())
    layer.eval().forward(np.ones((1, 3)))            # a single object is fine in eval mode
    np.testing.assert_array_equal(layer.running_mean, before[0])
    np.testing.assert_array_equal(layer.running_var, before[1])
    assert not layer.training and layer.train().training


def test_training_needs_more_than_one_object_like_torch():
    with pytest.raises(ValueError):
        batchnorm_forward(np.ones((1, 3)), np.ones(3), np.zeros(3), {"mode": "train"})
    with pytest.raises(ValueError):
        torch_bn(np.ones(3), np.zeros(3))(torch.ones(1, 3, dtype=torch.float64))


def test_unknown_mode_is_rejected():
    with pytest.raises(ValueError):
        batchnorm_forward(np.ones((2, 3)), np.ones(3), np.zeros(3), {"mode": "test"})


def test_pure_functions_agree_with_the_stateful_ones():
    x, gamma, beta, dout = draw((9, 3), seed=3)
    out, cache = batchnorm_forward(x, gamma, beta, {"eps": 1e-3})
    np.testing.assert_array_equal(bn.batchnorm_train(x, gamma, beta, eps=1e-3), out)
    for a, b in zip(bn.batchnorm_train_backward(dout, x, gamma, eps=1e-3),
                    batchnorm_backward(dout, cache)):
        np.testing.assert_array_equal(a, b)
    mean, var = bn.running_stats_update(np.zeros(3), np.ones(3), x, momentum=0.25)
    np.testing.assert_allclose(mean, 0.25 * x.mean(axis=0), rtol=1e-14)
    np.testing.assert_allclose(var, 0.75 + 0.25 * x.var(axis=0, ddof=1), rtol=1e-14)


# --- central finite differences ------------------------------------------------------------------


def numerical_gradient(f, a, h=1e-6):
    """Central differences of the scalar f() in every entry of a (perturbed in place)."""
    return gradcheck.numerical_gradient(lambda _: f(), a, eps=h)


@pytest.mark.parametrize("mode", ["train", "eval"])
@pytest.mark.parametrize("shape", [(2, 2), (6, 3), (10, 1)])
def test_backward_matches_finite_differences(shape, mode):
    x, gamma, beta, dout = draw(shape, seed=11 * shape[0] + shape[1])
    d = shape[1]
    stats = {"running_mean": np.linspace(-1, 1, d), "running_var": np.linspace(0.5, 2, d)}

    def loss():      # L = sum(dout * out), so dL/dout = dout; fresh statistics every call
        out, _ = batchnorm_forward(x, gamma, beta, {"mode": mode, **stats})
        return np.sum(dout * out)

    _, cache = batchnorm_forward(x, gamma, beta, {"mode": mode, **stats})
    dx, dgamma, dbeta = batchnorm_backward(dout, cache)
    np.testing.assert_allclose(dx, numerical_gradient(loss, x), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(dgamma, numerical_gradient(loss, gamma), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(dbeta, numerical_gradient(loss, beta), rtol=1e-6, atol=1e-8)


# --- properties -----------------------------------------------------------------------------------

batches = st.tuples(st.integers(2, 30), st.integers(1, 6)).flatmap(
    lambda s: arrays(np.float64, s, elements=st.floats(-100, 100)))


def well_spread(x):
    """Every feature varies enough that eps does not matter (var >> 1e-5)."""
    return np.all(x.var(axis=0) > 1e-2)


@settings(max_examples=60, deadline=None)
@given(x=batches, seed=st.integers(0, 2**32 - 1))
def test_train_output_has_mean_beta_and_std_gamma(x, seed):
    rng = np.random.default_rng(seed)
    d = x.shape[1]
    gamma, beta = rng.normal(0, 2, d), rng.normal(0, 2, d)
    out, _ = batchnorm_forward(x, gamma, beta, {"mode": "train"})
    var = x.var(axis=0)
    np.testing.assert_allclose(out.mean(axis=0), beta, atol=1e-9 * (1 + np.abs(gamma).max()))
    # std of the output: |gamma| sigma / sqrt(sigma^2 + eps), i.e. ~|gamma| when var >> eps
    np.testing.assert_allclose(out.std(axis=0), np.abs(gamma) * np.sqrt(var / (var + 1e-5)),
                               rtol=1e-7, atol=1e-9)
    if well_spread(x):
        np.testing.assert_allclose(out.std(axis=0), np.abs(gamma), rtol=1e-3)


@settings(max_examples=60, deadline=None)
@given(x=batches, scale=st.floats(0.01, 100), shift=st.floats(-100, 100))
def test_output_is_invariant_to_affine_changes_of_each_feature(x, scale, shift):
    """With eps = 0, BN(a x + c) = BN(x) for a > 0: the previous layer's scale and offset
    are normalised away (and so are their gradients)."""
    if not well_spread(x):
        return
    d = x.shape[1]
    p = {"mode": "train", "eps": 0.0}
    out, _ = batchnorm_forward(x, np.ones(d), np.zeros(d), dict(p))
    out_scaled, _ = batchnorm_forward(scale * x + shift, np.ones(d), np.zeros(d), dict(p))
    np.testing.assert_allclose(out_scaled, out, atol=1e-8)


@settings(max_examples=60, deadline=None)
@given(x=batches, seed=st.integers(0, 2**32 - 1))
def test_input_gradient_is_orthogonal_to_shifts_and_to_x_hat(x, seed):
    """sum_i dx_ih = 0 always; sum_i dx_ih x_hat_ih = 0 when eps = 0: the compact formula
    removes the mean of the upstream gradient and its projection on x_hat."""
    if not well_spread(x):
        return
    dout = np.random.default_rng(seed).standard_normal(x.shape)
    d = x.shape[1]
    _, cache = batchnorm_forward(x, np.ones(d), np.zeros(d), {"mode": "train", "eps": 0.0})
    dx, _, _ = batchnorm_backward(dout, cache)
    x_hat = cache[0]
    scale = np.abs(dout).sum(axis=0) / np.sqrt(x.var(axis=0))
    assert np.all(np.abs(dx.sum(axis=0)) <= 1e-9 * scale)
    assert np.all(np.abs((dx * x_hat).sum(axis=0)) <= 1e-9 * scale * x.shape[0])


def test_class_backward_gives_the_optimiser_its_grads():
    x, gamma, beta, dout = draw((8, 3), seed=5)
    layer = BatchNorm1d(3)
    layer.params["gamma"], layer.params["beta"] = gamma, beta
    layer.forward(x)
    dx = layer.backward(dout)
    expected = bn.batchnorm_train_backward(dout, x, gamma)
    np.testing.assert_array_equal(dx, expected[0])
    assert set(layer.grads) == set(layer.params)
    np.testing.assert_array_equal(layer.grads["gamma"], expected[1])
    np.testing.assert_array_equal(layer.grads["beta"], expected[2])
