r"""Density outputs (chapter 10): a network that predicts a distribution of :math:`y \mid x`.

Kitov's lecture *Multilayer perceptron*: "networks can predict not points but densities:
a histogram of :math:`K` bins, or the parameters of a family, e.g. :math:`\mu, \Sigma` for
:math:`y \mid x \sim \mathcal{N}(\mu(x), \Sigma(x))`."

- **Histogram head.** The bins :math:`[e_{k-1}, e_k)`, :math:`k = 1, \dots, K`, of widths
  :math:`\Delta_k`; the network outputs :math:`K` logits :math:`z(x)` and the density

  .. math:: p(y \mid x) = \frac{\mathrm{softmax}(z(x))_{k(y)}}{\Delta_{k(y)}},

  constant on each bin. Its negative log-likelihood is the softmax cross-entropy of the bin
  index plus :math:`\ln \Delta_{k(y)}` (a constant for fixed bins), so it reuses
  :func:`nnref.losses.softmax_cross_entropy` and its gradient.
- **Diagonal Gaussian.** :math:`D` outputs :math:`\mu(x)` and :math:`D` outputs
  :math:`\ln \sigma(x)`, :math:`\Sigma(x) = \operatorname{diag}\sigma^2(x)`; the negative
  log-likelihood is the sum over the :math:`D` components of chapter 4's scalar one,
  :func:`nnref.losses.gaussian_nll`, which already sums over every entry.

Loss layers in CS231n's shape: ``forward(...) -> (loss, cache)``, ``backward(dout, cache)``.
"""

import numpy as np

from . import activations, losses


def bin_edges(low, high, K):
    r"""``K + 1`` equally spaced edges :math:`e_0 = \text{low} < \dots < e_K = \text{high}`."""
    return np.linspace(low, high, K + 1)


def bin_index(y, edges):
    r"""The bin :math:`k(y) \in \{0, \dots, K-1\}` with :math:`e_k \le y < e_{k+1}`; values
    outside :math:`[e_0, e_K)` go to the first or the last bin (:math:`y = e_K` to the last).
    ``y`` (n,) -> (n,) integers."""
    edges = np.asarray(edges, dtype=np.float64)
    k = np.searchsorted(edges, np.asarray(y, dtype=np.float64), side="right") - 1
    return np.clip(k, 0, len(edges) - 2)


def histogram_nll(logits, y, edges):
    r"""Mean negative log-likelihood of the histogram density,

    .. math:: \frac1n \sum_{i=1}^n \Bigl[-\ln \mathrm{softmax}(z_i)_{k(y_i)}
              + \ln \Delta_{k(y_i)}\Bigr].

    ``logits`` (n, K), ``y`` (n,) real targets, ``edges`` (K + 1,).
    """
    k = bin_index(np.reshape(y, -1), edges)
    widths = np.diff(np.asarray(edges, dtype=np.float64))
    return losses.softmax_cross_entropy(logits, k) + float(np.mean(np.log(widths[k])))


def histogram_nll_grad(logits, y, edges):
    r""":math:`\partial/\partial z_{ik} = \frac1n\bigl(\mathrm{softmax}(z_i)_k - [k = k(y_i)]\bigr)`
    (the widths do not depend on the logits). Shape of ``logits``."""
    return losses.softmax_cross_entropy_grad(logits, bin_index(np.reshape(y, -1), edges))


def histogram_nll_forward(logits, y, edges):
    r"""The histogram NLL as a loss layer: ``(loss, cache)``."""
    return histogram_nll(logits, y, edges), (logits, y, edges)


def histogram_nll_backward(dout, cache):
    r""":math:`\text{dout}\cdot\partial\,\mathrm{NLL}/\partial z`, shape (n, K)."""
    logits, y, edges = cache
    return dout * histogram_nll_grad(logits, y, edges)


def histogram_density(logits, edges, y_grid):
    r"""The predicted density :math:`p(y \mid x_i) = \mathrm{softmax}(z_i)_{k(y)}/\Delta_{k(y)}`
    at the points ``y_grid`` (m,): returns (n, m). It integrates to 1 over :math:`[e_0, e_K]`."""
    probs = activations.softmax(np.asarray(logits, dtype=np.float64), axis=1)
    k = bin_index(y_grid, edges)
    return probs[:, k] / np.diff(np.asarray(edges, dtype=np.float64))[k]


def split_gaussian_outputs(out):
    r"""The :math:`2D` outputs of a diagonal-Gaussian head as ``(mu, log_sigma)``, each (n, D):
    the first :math:`D` columns are :math:`\mu(x)`, the last :math:`D` are :math:`\ln\sigma(x)`."""
    out = np.asarray(out, dtype=np.float64)
    D = out.shape[1] // 2
    return out[:, :D], out[:, D:]


def diag_gaussian_nll(out, y):
    r"""Mean negative log-likelihood of :math:`y_i \sim \mathcal{N}(\mu_i, \operatorname{diag}\sigma_i^2)`,

    .. math:: \frac1n \sum_{i=1}^n \sum_{j=1}^{D} \Bigl[\ln\sigma_{ij}
              + \frac{(y_{ij} - \mu_{ij})^2}{2\sigma_{ij}^2} + \tfrac12\ln 2\pi\Bigr]
              = -\frac1n\sum_i \ln \mathcal{N}\bigl(y_i;\ \mu_i, \operatorname{diag}\sigma_i^2\bigr).

    ``out`` (n, 2D) is ``[mu | log_sigma]``, ``y`` (n, D). With :math:`D = 1` it is
    :func:`nnref.losses.density_nll`.
    """
    mu, log_sigma = split_gaussian_outputs(out)
    return losses.gaussian_nll(mu, log_sigma, np.reshape(y, mu.shape))


def diag_gaussian_nll_grad(out, y):
    r"""``[d_mu | d_log_sigma]`` (n, 2D), the gradient of :func:`diag_gaussian_nll`:
    :math:`\frac1n\frac{\mu_{ij} - y_{ij}}{\sigma_{ij}^2}` and
    :math:`\frac1n\Bigl(1 - \frac{(y_{ij} - \mu_{ij})^2}{\sigma_{ij}^2}\Bigr)`."""
    mu, log_sigma = split_gaussian_outputs(out)
    return np.concatenate(losses.gaussian_nll_grad(mu, log_sigma, np.reshape(y, mu.shape)), axis=1)


def diag_gaussian_nll_forward(out, y):
    r"""The diagonal-Gaussian NLL as a loss layer: ``(loss, cache)``."""
    return diag_gaussian_nll(out, y), (out, y)


def diag_gaussian_nll_backward(dout, cache):
    r""":math:`\text{dout}\cdot\partial\,\mathrm{NLL}/\partial\,\text{out}`, shape (n, 2D)."""
    out, y = cache
    return dout * diag_gaussian_nll_grad(out, y)


def gaussian_density(mu, log_sigma, y_grid):
    r""":math:`\mathcal{N}(y; \mu_i, \sigma_i^2)` at the points ``y_grid`` (m,) for the scalar
    outputs ``mu``, ``log_sigma`` (n,): returns (n, m)."""
    mu = np.reshape(mu, (-1, 1))
    sigma = np.exp(np.reshape(log_sigma, (-1, 1)))
    return np.exp(-0.5 * ((y_grid[None, :] - mu) / sigma) ** 2) / (np.sqrt(2 * np.pi) * sigma)
