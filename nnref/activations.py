r"""Activation functions :math:`\sigma(z)` and their derivatives :math:`\sigma'(z)`.

Convention: ``f(z)`` is the activation, ``f_prime(z)`` its derivative, both
element-wise on float64 arrays of any shape. Every function is numerically stable:
no overflow warning and no NaN at :math:`|z| = 1000`.
"""

import numpy as np


def identity(z):
    r"""No activation: :math:`\sigma(z) = z` (linear regression as a neuron)."""
    return np.asarray(z, dtype=np.float64).copy()


def identity_prime(z):
    r""":math:`\sigma'(z) = 1`."""
    return np.ones_like(np.asarray(z, dtype=np.float64))


def heaviside(z):
    r"""The McCulloch–Pitts threshold :math:`[z > 0]` ("all or nothing")."""
    return (np.asarray(z) > 0).astype(np.float64)


def sigmoid(z):
    r"""Logistic sigmoid :math:`\sigma(z) = \frac{1}{1 + e^{-z}}`.

    Stable form: for :math:`z < 0` use :math:`\frac{e^{z}}{1 + e^{z}}`, so that
    :math:`e^{\pm z}` is only ever evaluated at non-positive arguments.
    """
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def sigmoid_prime(z):
    r""":math:`\sigma'(z) = \sigma(z)\,(1 - \sigma(z))`, at most 1/4 (at z = 0)."""
    s = sigmoid(z)
    return s * (1.0 - s)


def tanh(z):
    r"""Hyperbolic tangent :math:`\tanh z = \frac{e^z - e^{-z}}{e^z + e^{-z}} = 2\sigma(2z) - 1`."""
    return np.tanh(np.asarray(z, dtype=np.float64))


def tanh_prime(z):
    r""":math:`\tanh'(z) = 1 - \tanh^2 z`, at most 1 (at z = 0)."""
    return 1.0 - np.tanh(np.asarray(z, dtype=np.float64)) ** 2


def relu(z):
    r"""Rectified linear unit :math:`\mathrm{ReLU}(z) = \max(0, z)`."""
    return np.maximum(np.asarray(z, dtype=np.float64), 0.0)


def relu_prime(z):
    r""":math:`\mathrm{ReLU}'(z) = [z > 0]`; at :math:`z = 0` we take 0, as PyTorch does."""
    return (np.asarray(z, dtype=np.float64) > 0).astype(np.float64)


def exp(z):
    r"""Exponential activation :math:`\sigma(z) = e^z` (Poisson regression as a neuron)."""
    return np.exp(np.asarray(z, dtype=np.float64))


def exp_prime(z):
    r""":math:`\sigma'(z) = e^z`."""
    return exp(z)
