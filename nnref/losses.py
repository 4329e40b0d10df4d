r"""Loss functions :math:`\mathcal{L}(\hat y, y)` and their gradients in :math:`\hat y`.

Convention: ``loss(y_hat, y)`` returns the mean over the batch (a float);
``loss_grad(y_hat, y)`` returns :math:`\partial \mathcal{L} / \partial \hat y`, the
shape of ``y_hat``.
"""

import numpy as np


def mse(y_hat, y):
    r"""Mean squared error :math:`\frac{1}{n}\sum_{i=1}^{n} (\hat y_i - y_i)^2`.

    For vector outputs (shape ``(n, K)``) the squared norms are averaged over the
    ``n`` objects, as in lecture 002: :math:`\frac1n \sum_i \|\hat y_i - y_i\|_2^2`.
    """
    y_hat, y = np.asarray(y_hat, dtype=np.float64), np.asarray(y, dtype=np.float64)
    d = y_hat - y
    return float(np.sum(d**2) / d.shape[0]) if d.ndim else float(d**2)


def mse_grad(y_hat, y):
    r""":math:`\frac{\partial}{\partial \hat y_i}\,\mathrm{MSE} = \frac{2}{n}(\hat y_i - y_i)`."""
    y_hat, y = np.asarray(y_hat, dtype=np.float64), np.asarray(y, dtype=np.float64)
    n = y_hat.shape[0] if y_hat.ndim else 1
    return 2.0 * (y_hat - y) / n


def binary_cross_entropy(a, y, eps=1e-12):
    r"""Binary cross-entropy (log-loss) of probabilities :math:`a = \sigma(z)`:

    .. math:: -\frac1n \sum_i \bigl[y_i \ln a_i + (1 - y_i) \ln (1 - a_i)\bigr].

    Lecture 004 writes a minus sign inside the bracket; the correct loss (the negative
    log-likelihood of a Bernoulli) has a plus. ``a`` is clipped to ``[eps, 1 - eps]``.
    """
    a = np.clip(np.asarray(a, dtype=np.float64), eps, 1 - eps)
    y = np.asarray(y, dtype=np.float64)
    n = a.shape[0] if a.ndim else 1
    return float(-np.sum(y * np.log(a) + (1 - y) * np.log(1 - a)) / n)


def binary_cross_entropy_grad(a, y, eps=1e-12):
    r""":math:`\frac{\partial}{\partial a_i} = \frac1n \frac{a_i - y_i}{a_i (1 - a_i)}`."""
    a = np.clip(np.asarray(a, dtype=np.float64), eps, 1 - eps)
    y = np.asarray(y, dtype=np.float64)
    n = a.shape[0] if a.ndim else 1
    return (a - y) / (a * (1 - a)) / n
