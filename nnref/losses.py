r"""Loss functions :math:`\mathcal{L}(\hat y, y)` and their gradients in :math:`\hat y`.

Convention: ``loss(y_hat, y)`` returns the mean over the batch (a float);
``loss_grad(y_hat, y)`` returns :math:`\partial \mathcal{L} / \partial \hat y`, the
shape of ``y_hat``.
"""

import numpy as np

from . import activations


def mse(y_hat, y):
    r"""Mean squared error :math:`\frac{1}{n}\sum_{i=1}^{n} (\hat y_i - y_i)^2`.

    For vector outputs (shape ``(n, K)``) the squared norms are averaged over the
    ``n`` objects, as in Kitov's lecture: :math:`\frac1n \sum_i \|\hat y_i - y_i\|_2^2`.
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

    Buryak's lecture writes a minus sign inside the bracket; the correct loss (the negative
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


# Conventions for the losses below (chapter 4). A batch has ``n = y_hat.shape[0]``
# objects; a loss is the sum over everything divided by ``n`` (so for a vector output the
# per-object losses are summed over the K components, as ``mse`` does). Where a loss has a
# kink we return the subgradient PyTorch's autograd returns: sign(0) = 0 for |.|, and 0
# for the derivative of [.]_+ at 0.


def _batch_size(a):
    return a.shape[0] if a.ndim else 1


def _as_float(*arrays):
    return tuple(np.asarray(a, dtype=np.float64) for a in arrays)


# --- regression --------------------------------------------------------------------------


def mae(y_hat, y):
    r"""Mean absolute error :math:`\frac1n \sum_{i=1}^n |\hat y_i - y_i|` (Kitov's and Buryak's lectures)."""
    y_hat, y = _as_float(y_hat, y)
    return float(np.sum(np.abs(y_hat - y)) / _batch_size(y_hat))


def mae_grad(y_hat, y):
    r""":math:`\frac1n \operatorname{sign}(\hat y_i - y_i)`, with :math:`\operatorname{sign} 0 = 0`."""
    y_hat, y = _as_float(y_hat, y)
    return np.sign(y_hat - y) / _batch_size(y_hat)


def msle(y_hat, y):
    r"""Mean squared logarithmic error (Buryak's lecture), for :math:`\hat y, y > -1`:

    .. math:: \frac1n \sum_{i=1}^n \bigl(\ln(1 + y_i) - \ln(1 + \hat y_i)\bigr)^2.

    It measures relative error: overshooting 10 by 1 costs as much as 1000 by 100.
    """
    y_hat, y = _as_float(y_hat, y)
    return float(np.sum((np.log1p(y) - np.log1p(y_hat)) ** 2) / _batch_size(y_hat))


def msle_grad(y_hat, y):
    r""":math:`\frac{2}{n} \frac{\ln(1 + \hat y_i) - \ln(1 + y_i)}{1 + \hat y_i}`."""
    y_hat, y = _as_float(y_hat, y)
    return 2.0 * (np.log1p(y_hat) - np.log1p(y)) / (1.0 + y_hat) / _batch_size(y_hat)


def mape(y_hat, y):
    r"""Mean absolute percentage error (Buryak's lecture), for :math:`y_i \ne 0`:
    :math:`\frac{100}{n} \sum_{i=1}^n \left|\frac{y_i - \hat y_i}{y_i}\right|`."""
    y_hat, y = _as_float(y_hat, y)
    return float(100.0 * np.sum(np.abs((y - y_hat) / y)) / _batch_size(y_hat))


def mape_grad(y_hat, y):
    r""":math:`\frac{100}{n} \frac{\operatorname{sign}(\hat y_i - y_i)}{|y_i|}`."""
    y_hat, y = _as_float(y_hat, y)
    return 100.0 * np.sign(y_hat - y) / np.abs(y) / _batch_size(y_hat)


def gaussian_nll(mu, log_sigma, y):
    r"""Negative log-likelihood of :math:`y \sim \mathcal{N}(\mu, \sigma^2)` for a network
    with a density output (Kitov's lecture; Nix & Weigend 1994), averaged over the batch:

    .. math:: \frac1n \sum_{i=1}^n \left[\ln \sigma_i + \frac{(y_i - \mu_i)^2}{2\sigma_i^2}
              + \tfrac12 \ln 2\pi\right],\qquad \sigma_i = e^{\ln \sigma_i}.

    The network outputs :math:`\ln \sigma` (any real number) so that :math:`\sigma > 0`
    without a constraint. This is a density, so unlike the other losses it can be negative.
    """
    mu, log_sigma, y = _as_float(mu, log_sigma, y)
    z2 = (y - mu) ** 2 * np.exp(-2.0 * log_sigma)
    return float(np.sum(log_sigma + 0.5 * z2 + 0.5 * np.log(2 * np.pi)) / _batch_size(mu))


def gaussian_nll_grad(mu, log_sigma, y):
    r"""Returns ``(d_mu, d_log_sigma)``:

    .. math:: \frac{\partial}{\partial \mu_i} = \frac1n \frac{\mu_i - y_i}{\sigma_i^2},\qquad
              \frac{\partial}{\partial \ln \sigma_i} = \frac1n \left(1 - \frac{(y_i - \mu_i)^2}{\sigma_i^2}\right).
    """
    mu, log_sigma, y = _as_float(mu, log_sigma, y)
    n, inv_var = _batch_size(mu), np.exp(-2.0 * log_sigma)
    return (mu - y) * inv_var / n, (1.0 - (y - mu) ** 2 * inv_var) / n


def density_nll(y_hat, y):
    r"""``gaussian_nll`` for a network whose two outputs are the columns
    :math:`\hat y_{i} = (\mu(x_i), \ln \sigma(x_i))`; ``y_hat`` (n, 2), ``y`` (n,) or (n, 1).
    It has the ``loss(y_hat, y)`` signature, so ``mlp.train(..., loss="density_nll")`` works."""
    y_hat = np.asarray(y_hat, dtype=np.float64)
    return gaussian_nll(y_hat[:, 0], y_hat[:, 1], np.reshape(y, -1))


def density_nll_grad(y_hat, y):
    r"""The two columns :math:`(\partial/\partial \mu_i, \partial/\partial \ln\sigma_i)`, (n, 2)."""
    y_hat = np.asarray(y_hat, dtype=np.float64)
    return np.stack(gaussian_nll_grad(y_hat[:, 0], y_hat[:, 1], np.reshape(y, -1)), axis=1)


# --- probabilities ---------------------------------------------------------------------


def bce_with_logits(z, y):
    r"""Binary cross-entropy of :math:`a = \sigma(z)`, computed from the logit :math:`z`:

    .. math:: -\frac1n \sum_i \bigl[y_i \ln \sigma(z_i) + (1 - y_i) \ln(1 - \sigma(z_i))\bigr]
              = \frac1n \sum_i \bigl[\max(z_i, 0) - y_i z_i + \ln(1 + e^{-|z_i|})\bigr].

    No :math:`\ln 0` and no overflow, even at :math:`|z| = 1000`.
    """
    z, y = _as_float(z, y)
    per_object = np.maximum(z, 0.0) - y * z + np.log1p(np.exp(-np.abs(z)))
    return float(np.sum(per_object) / _batch_size(z))


def bce_with_logits_grad(z, y):
    r""":math:`\frac{\partial}{\partial z_i} = \frac1n (\sigma(z_i) - y_i)`: the derivative
    :math:`\sigma'` of the sigmoid cancels (Buryak's lecture's "cross-entropy + sigmoid")."""
    z, y = _as_float(z, y)
    return (activations.sigmoid(z) - y) / _batch_size(z)


def softmax_cross_entropy(logits, labels):
    r"""Mean negative log-likelihood of a softmax output (Buryak's lecture's
    :math:`C = -\ln a_y`), with integer labels :math:`y_i \in \{0, \dots, C-1\}`:

    .. math:: \frac1n \sum_{i=1}^n \Bigl[\ln \sum_{k} e^{z_{ik}} - z_{i y_i}\Bigr].

    ``logits`` (n, C), ``labels`` (n,).
    """
    logits = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(labels).astype(np.int64)
    n = logits.shape[0]
    nll = activations.logsumexp(logits, axis=1) - logits[np.arange(n), labels]
    return float(np.sum(nll) / n)


def softmax_cross_entropy_grad(logits, labels):
    r""":math:`\frac{\partial}{\partial z_{ik}} = \frac1n \bigl(a_{ik} - [k = y_i]\bigr)`,
    with :math:`a_i = \mathrm{softmax}(z_i)`: "softmax minus one-hot, over n"."""
    logits = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(labels).astype(np.int64)
    n = logits.shape[0]
    onehot = np.zeros_like(logits)
    onehot[np.arange(n), labels] = 1.0
    return (activations.softmax(logits, axis=1) - onehot) / n


def kl_divergence(y_hat, y):
    r"""Kullback–Leibler divergence :math:`\mathrm{KL}(y \,\|\, \hat y)` of predicted class
    probabilities ``y_hat`` from target probabilities ``y`` (rows of shape (n, C), ``y_hat`` and ``y`` of the same shape):

    .. math:: \frac1n \sum_{i} \sum_{c} y_{ic} \ln y_{ic} - \frac1n \sum_{i} \sum_{c} y_{ic} \ln \hat y_{ic}

    (entropy part minus cross-entropy part, Buryak's lecture), with :math:`0 \ln 0 = 0`.
    """
    y_hat, y = _as_float(y_hat, y)
    present = y > 0                       # 0 ln 0 = 0: classes with y = 0 contribute nothing
    kl = np.sum(y[present] * (np.log(y[present]) - np.log(y_hat[present])))
    return float(kl / _batch_size(y_hat))


def kl_divergence_grad(y_hat, y):
    r""":math:`\frac{\partial}{\partial \hat y_{ic}} = -\frac1n \frac{y_{ic}}{\hat y_{ic}}`
    (0 where :math:`y_{ic} = 0`)."""
    y_hat, y = _as_float(y_hat, y)
    present = y > 0
    grad = np.zeros_like(y_hat)
    grad[present] = -y[present] / y_hat[present]
    return grad / _batch_size(y_hat)


# --- margins (scores, not probabilities) -------------------------------------------------


def hinge(y_hat, y, alpha=1.0):
    r"""Binary hinge loss (Kitov's lecture) with labels :math:`y_i \in \{-1, +1\}` and score
    :math:`g(x_i) = \hat y_i`: :math:`\frac1n \sum_i [\alpha - y_i \hat y_i]_+`
    (Buryak's lecture takes :math:`\alpha = 1`).

    It is chapter 1's margin loss :func:`nnref.margins.hinge`, :math:`(1 - M)_+`, of the
    margin :math:`M_i = y_i \hat y_i` shifted by the baseline:
    :math:`[\alpha - M]_+ = \bigl(1 - (M - \alpha + 1)\bigr)_+`.
    """
    y_hat, y = _as_float(y_hat, y)
    M = y * y_hat
    # [alpha - M]_+ directly: M - alpha + 1 would round away the last digits near the margin
    return float(np.sum(np.maximum(alpha - M, 0.0)) / _batch_size(y_hat))


def hinge_grad(y_hat, y, alpha=1.0):
    r""":math:`\frac{\partial}{\partial \hat y_i} = \frac1n y_i\,\mathcal{L}'(M_i) =
    -\frac1n y_i [y_i \hat y_i < \alpha]` (0 exactly on the margin, as PyTorch)."""
    y_hat, y = _as_float(y_hat, y)
    M = y * y_hat
    return -y * (M < alpha).astype(np.float64) / _batch_size(y_hat)


def _class_margins(scores, labels, alpha):
    """``g_c + alpha - g_y`` for every class, (n, C), and the boolean mask of ``c != y``."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels).astype(np.int64)
    n = scores.shape[0]
    margins = scores + alpha - scores[np.arange(n), labels][:, None]
    others = np.ones_like(scores, dtype=bool)
    others[np.arange(n), labels] = False
    return margins, others, labels


def hinge_1(scores, labels, alpha=1.0):
    r"""Multiclass hinge, the worst competitor (Kitov's lecture's :math:`\mathrm{hinge}_1`;
    Crammer & Singer 2001):

    .. math:: \frac1n \sum_i \Bigl[\max_{c \ne y_i} g_c(x_i) + \alpha - g_{y_i}(x_i)\Bigr]_+.

    ``scores`` (n, C) are the class ratings :math:`g_c(x_i)`, ``labels`` (n,) integers.
    """
    margins, others, _ = _class_margins(scores, labels, alpha)
    worst = np.max(np.where(others, margins, -np.inf), axis=1)
    return float(np.sum(np.maximum(worst, 0.0)) / margins.shape[0])


def hinge_1_grad(scores, labels, alpha=1.0):
    r"""For an object with a positive loss: :math:`+\frac1n` at the worst competitor
    :math:`c^* = \arg\max_{c \ne y} g_c` (the first one on a tie), :math:`-\frac1n` at the
    true class; 0 elsewhere."""
    margins, others, labels = _class_margins(scores, labels, alpha)
    n = margins.shape[0]
    masked = np.where(others, margins, -np.inf)
    worst = np.argmax(masked, axis=1)
    active = masked[np.arange(n), worst] > 0
    grad = np.zeros_like(margins)
    grad[np.arange(n), worst] += active
    grad[np.arange(n), labels] -= active
    return grad / n


def hinge_2(scores, labels, alpha=1.0):
    r"""Multiclass hinge, the sum over competitors (Kitov's lecture's :math:`\mathrm{hinge}_2`;
    Weston & Watkins 1999):

    .. math:: \frac1n \sum_i \sum_{c \ne y_i} \bigl[g_c(x_i) + \alpha - g_{y_i}(x_i)\bigr]_+.

    PyTorch's ``multi_margin_loss(p=1, margin=alpha)`` divides the inner sum by :math:`C`.
    """
    margins, others, _ = _class_margins(scores, labels, alpha)
    return float(np.sum(np.where(others, np.maximum(margins, 0.0), 0.0)) / margins.shape[0])


def hinge_2_grad(scores, labels, alpha=1.0):
    r""":math:`\frac1n [g_c + \alpha - g_y > 0]` for every competitor :math:`c \ne y`, and
    minus their count at the true class :math:`y`."""
    margins, others, labels = _class_margins(scores, labels, alpha)
    n = margins.shape[0]
    active = (others & (margins > 0)).astype(np.float64)
    grad = active.copy()
    grad[np.arange(n), labels] = -active.sum(axis=1)
    return grad / n


# --- loss = data term + lambda * regularizer -------------------------------------------


def _weights(w):
    """A list of arrays from an array, a list of arrays or a dict of arrays."""
    if isinstance(w, dict):
        return [np.asarray(v, dtype=np.float64) for v in w.values()]
    if isinstance(w, (list, tuple)):
        return [np.asarray(v, dtype=np.float64) for v in w]
    return [np.asarray(w, dtype=np.float64)]


def regularizer(w, kind="l2"):
    r""":math:`R(w) = \tfrac12 \|w\|_2^2` (``"l2"``, so that :math:`\nabla R = w`, PyTorch's
    ``weight_decay``) or :math:`R(w) = \|w\|_1` (``"l1"``), summed over every array in ``w``
    (an array, a list or a dict of arrays)."""
    if kind == "l2":
        return float(sum(0.5 * np.sum(v**2) for v in _weights(w)))
    if kind == "l1":
        return float(sum(np.sum(np.abs(v)) for v in _weights(w)))
    raise ValueError(f"unknown regularizer {kind!r}; use 'l2' or 'l1'")


def regularizer_grad(w, kind="l2"):
    r""":math:`\nabla R = w` (l2) or :math:`\operatorname{sign} w` (l1, with sign 0 = 0), with
    the structure of ``w``."""
    grad = {"l2": lambda v: np.asarray(v, dtype=np.float64).copy(),
            "l1": lambda v: np.sign(np.asarray(v, dtype=np.float64))}[kind]
    if isinstance(w, dict):
        return {k: grad(v) for k, v in w.items()}
    if isinstance(w, (list, tuple)):
        return [grad(v) for v in w]
    return grad(w)


def regularized(loss_value, w, lam, kind="l2"):
    r"""The objective of Buryak's lecture, :math:`E(X, Y, w) = C(X, Y, w) + \lambda R(w)`:
    the data term ``loss_value`` plus ``lam`` times :func:`regularizer`."""
    return float(loss_value) + lam * regularizer(w, kind)


def poisson_nll(lam, y):
    r"""Poisson negative log-likelihood of the rates :math:`\lambda_i` (up to the constant
    :math:`\ln y_i!`):

    .. math:: \frac1n \sum_{i=1}^n \bigl(\lambda_i - y_i \ln \lambda_i\bigr).

    This is ``torch.nn.functional.poisson_nll_loss(log(lam), y, log_input=True)``.
    """
    lam, y = np.asarray(lam, dtype=np.float64), np.asarray(y, dtype=np.float64)
    n = lam.shape[0] if lam.ndim else 1
    return float(np.sum(lam - y * np.log(lam)) / n)


def poisson_nll_grad(lam, y):
    r""":math:`\frac{\partial}{\partial \lambda_i} = \frac1n \Bigl(1 - \frac{y_i}{\lambda_i}\Bigr)`."""
    lam, y = np.asarray(lam, dtype=np.float64), np.asarray(y, dtype=np.float64)
    n = lam.shape[0] if lam.ndim else 1
    return (1.0 - y / lam) / n
