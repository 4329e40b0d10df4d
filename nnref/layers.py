r"""Layers in CS231n's shape: ``forward(...) -> (out, cache)``, ``backward(dout, cache)``.

A batch is a matrix ``x`` of shape ``(n, d)``: one object per row, as in the lectures'
matrix form :math:`Z = XW + b^\top`.
"""

import numpy as np

from . import activations


def linear_forward(x, W, b):
    r"""Fully connected layer :math:`Z = XW + \mathbf{1} b^\top`.

    Shapes: ``x`` (n, d), ``W`` (d, H), ``b`` (H,) -> ``out`` (n, H).
    """
    return x @ W + b, (x, W)


def linear_backward(dout, cache):
    r"""Gradients of a linear layer, given :math:`\partial L / \partial Z` = ``dout`` (n, H):

    .. math:: \frac{\partial L}{\partial X} = \frac{\partial L}{\partial Z} W^\top,\quad
              \frac{\partial L}{\partial W} = X^\top \frac{\partial L}{\partial Z},\quad
              \frac{\partial L}{\partial b} = \sum_{i=1}^n \frac{\partial L}{\partial Z_{i\cdot}}.

    Returns ``(dx, dW, db)`` with the shapes of ``x``, ``W``, ``b``.
    """
    x, W = cache
    return dout @ W.T, x.T @ dout, dout.sum(axis=0)


def activation_forward(z, name):
    r"""Element-wise activation :math:`A = \sigma(Z)`; ``name`` is a function of
    :mod:`nnref.activations` that has a derivative ``<name>_prime``."""
    return getattr(activations, name)(z), (z, name)


def activation_backward(dout, cache):
    r""":math:`\partial L/\partial Z = \partial L/\partial A \odot \sigma'(Z)`."""
    z, name = cache
    return dout * getattr(activations, f"{name}_prime")(z)
