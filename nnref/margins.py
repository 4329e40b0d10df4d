r"""Margins and margin losses of a linear classifier (Vorontsov's lecture).

For labels :math:`y \in \{-1, +1\}` and the linear model :math:`a(x, w) = \operatorname{sign}
\langle w, x\rangle`, the **margin** of object :math:`x_i` is
:math:`M_i(w) = y_i \langle w, x_i\rangle`: positive exactly when :math:`x_i` is classified
correctly, and the larger the more confidently. Training minimises

.. math:: Q(w) = \sum_{i=1}^{\ell} \mathcal{L}\bigl(M_i(w)\bigr)

for a non-increasing loss :math:`\mathcal{L}(M)` that replaces the 0-1 loss
:math:`[M < 0]` (the number of errors), which has zero gradient almost everywhere.
Every loss here is element-wise, numerically stable at :math:`|M| = 1000` (no NaN, no
warning), and has its derivative :math:`\mathcal{L}'(M)` in ``<loss>_prime``.
"""

import numpy as np

from .activations import relu, sigmoid


def margin(X, y, w, b=0.0):
    r"""Margins :math:`M_i = y_i\,(\langle w, x_i\rangle + b)` of a batch.

    Shapes: ``X`` (n, d), ``y`` (n,) with entries :math:`\pm 1`, ``w`` (d,) -> (n,).
    (The lecture folds the bias into :math:`w` with a constant feature; ``b`` keeps it
    explicit.)
    """
    X, w = np.asarray(X, dtype=np.float64), np.asarray(w, dtype=np.float64)
    return np.asarray(y, dtype=np.float64) * (X @ w + b)


def zero_one(M):
    r"""The 0-1 loss :math:`[M < 0]`: 1 for a misclassified object, 0 otherwise."""
    return (np.asarray(M, dtype=np.float64) < 0).astype(np.float64)


def log_loss(M):
    r"""Logistic loss :math:`\mathcal{L}(M) = \ln(1 + e^{-M})` (logistic regression).

    Stable form: ``logaddexp(0, -M)`` :math:`= \max(0, -M) + \ln(1 + e^{-|M|})`, so
    :math:`\mathcal{L}(-1000) = 1000` instead of an overflow. Equals
    ``torch.nn.functional.softplus(-M)``.
    """
    return np.logaddexp(0.0, -np.asarray(M, dtype=np.float64))


def log_loss_prime(M):
    r""":math:`\mathcal{L}'(M) = -\frac{e^{-M}}{1 + e^{-M}} = -\sigma(-M)`, with the
    sigmoid :math:`\sigma(z) = 1/(1 + e^{-z})`."""
    return -sigmoid(-np.asarray(M, dtype=np.float64))


def hinge(M):
    r"""Hinge loss :math:`\mathcal{L}(M) = (1 - M)_+ = \max(0, 1 - M)` (SVM)."""
    return relu(1.0 - np.asarray(M, dtype=np.float64))


def hinge_prime(M):
    r""":math:`\mathcal{L}'(M) = -[M < 1]`; at the kink :math:`M = 1` we take 0, as
    PyTorch's autograd of ``relu(1 - M)`` does."""
    return -(np.asarray(M, dtype=np.float64) < 1.0).astype(np.float64)


def exp_loss(M):
    r"""Exponential loss :math:`\mathcal{L}(M) = e^{-M}` (AdaBoost).

    For :math:`M < -709.78` the true value exceeds the largest float64 and the result
    is ``inf`` (as in PyTorch), returned without an overflow warning.
    """
    with np.errstate(over="ignore"):
        return np.exp(-np.asarray(M, dtype=np.float64))


def exp_loss_prime(M):
    r""":math:`\mathcal{L}'(M) = -e^{-M}`."""
    return -exp_loss(M)


def sigmoid_loss(M):
    r"""Sigmoid loss :math:`\mathcal{L}(M) = \frac{1}{1 + e^{M}} = \sigma(-M)`, a smooth
    version of the 0-1 loss. Computed by the stable sigmoid, so no overflow at
    :math:`M = 1000`."""
    return sigmoid(-np.asarray(M, dtype=np.float64))


def sigmoid_loss_prime(M):
    r""":math:`\mathcal{L}'(M) = -\frac{e^{M}}{(1 + e^{M})^2} = -\sigma(M)\,\sigma(-M)`.

    The product of the two sigmoids keeps full relative precision for large :math:`|M|`
    (the form :math:`\sigma(1 - \sigma)` loses it in :math:`1 - \sigma(M)` when
    :math:`M \gg 0`).
    """
    M = np.asarray(M, dtype=np.float64)
    return -sigmoid(M) * sigmoid(-M)
