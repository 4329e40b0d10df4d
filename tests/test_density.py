"""Density outputs (chapter 10): the histogram head and the diagonal Gaussian, against torch
(float64) and central finite differences (nnref.gradcheck)."""

import numpy as np
import pytest
import torch

from nnref import density, losses
from nnref.gradcheck import numerical_gradient, relative_error

torch.set_default_dtype(torch.float64)


def test_bin_index_convention():
    edges = density.bin_edges(0.0, 1.0, 4)
    y = np.array([-5.0, 0.0, 0.2499, 0.25, 0.5, 0.99, 1.0, 7.0])
    np.testing.assert_array_equal(density.bin_index(y, edges), [0, 0, 0, 1, 2, 3, 3, 3])


def test_histogram_nll_against_torch():
    rng = np.random.default_rng(0)
    edges = np.sort(rng.uniform(-2, 2, 9))
    logits, y = rng.standard_normal((20, 8)), rng.uniform(edges[0], edges[-1], 20)
    k = density.bin_index(y, edges)
    z = torch.tensor(logits, requires_grad=True)
    widths = torch.tensor(np.diff(edges))
    loss = (torch.nn.functional.cross_entropy(z, torch.tensor(k)) + torch.log(widths[k]).mean())
    loss.backward()
    assert density.histogram_nll(logits, y, edges) == pytest.approx(loss.item(), rel=1e-13)
    np.testing.assert_allclose(density.histogram_nll_grad(logits, y, edges), z.grad.numpy(),
                               rtol=1e-12, atol=1e-15)


def test_histogram_nll_is_minus_log_density():
    rng = np.random.default_rng(1)
    edges = density.bin_edges(-1.0, 2.0, 6)
    logits, y = rng.standard_normal((5, 6)), rng.uniform(-1, 2, 5)
    p = np.array([density.histogram_density(logits[i:i + 1], edges, y[i:i + 1])[0, 0] for i in range(5)])
    assert density.histogram_nll(logits, y, edges) == pytest.approx(-np.mean(np.log(p)), rel=1e-13)
    grid = np.linspace(-1, 2, 30001)[:-1] + 0.5e-4
    integral = density.histogram_density(logits, edges, grid).sum(axis=1) * 1e-4
    np.testing.assert_allclose(integral, 1.0, rtol=1e-9)


def test_histogram_layer_gradcheck():
    rng = np.random.default_rng(2)
    edges = density.bin_edges(0.0, 3.0, 5)
    logits, y = rng.standard_normal((7, 5)), rng.uniform(0, 3, 7)
    loss, cache = density.histogram_nll_forward(logits, y, edges)
    analytic = density.histogram_nll_backward(2.5, cache)
    numeric = numerical_gradient(lambda Z: 2.5 * density.histogram_nll(Z, y, edges), logits.copy())
    assert relative_error(analytic, numeric) < 1e-8
    assert not np.isnan(density.histogram_nll(np.array([[1000.0, -1000.0]]), [0.1], [0.0, 1.0, 2.0]))


@pytest.mark.parametrize("D", [1, 3])
def test_diag_gaussian_against_torch(D):
    rng = np.random.default_rng(3 + D)
    out, y = rng.standard_normal((10, 2 * D)), rng.standard_normal((10, D))
    t_out = torch.tensor(out, requires_grad=True)
    normal = torch.distributions.Normal(t_out[:, :D], torch.exp(t_out[:, D:]))
    loss = -normal.log_prob(torch.tensor(y)).sum() / len(y)
    loss.backward()
    assert density.diag_gaussian_nll(out, y) == pytest.approx(loss.item(), rel=1e-13)
    np.testing.assert_allclose(density.diag_gaussian_nll_grad(out, y), t_out.grad.numpy(),
                               rtol=1e-12, atol=1e-15)
    value, cache = density.diag_gaussian_nll_forward(out, y)
    numeric = numerical_gradient(lambda o: density.diag_gaussian_nll(o, y), out.copy())
    assert relative_error(density.diag_gaussian_nll_backward(1.0, cache), numeric) < 1e-8


def test_diag_gaussian_with_one_component_is_chapter_4s_density_nll():
    rng = np.random.default_rng(4)
    out, y = rng.standard_normal((9, 2)), rng.standard_normal(9)
    assert density.diag_gaussian_nll(out, y) == losses.density_nll(out, y)
    np.testing.assert_array_equal(density.diag_gaussian_nll_grad(out, y), losses.density_nll_grad(out, y))


def test_gaussian_density_matches_torch():
    mu, log_sigma, grid = np.array([0.0, 1.5]), np.array([0.0, -0.7]), np.linspace(-3, 3, 11)
    expected = torch.distributions.Normal(torch.tensor(mu)[:, None], torch.exp(torch.tensor(log_sigma))[:, None]
                                          ).log_prob(torch.tensor(grid)[None, :]).exp().numpy()
    np.testing.assert_allclose(density.gaussian_density(mu, log_sigma, grid), expected, rtol=1e-13)
