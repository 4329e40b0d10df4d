r"""The course's gradient checker: finite differences (Kitov's lecture).

With :math:`e_i` the :math:`i`-th unit vector,

.. math:: \frac{\partial f}{\partial w_i} = \frac{f(w + \varepsilon e_i) - f(w)}{\varepsilon}
          + O(\varepsilon) \quad\text{(one-sided, "forward")},

.. math:: \frac{\partial f}{\partial w_i} = \frac{f(w + \varepsilon e_i) - f(w - \varepsilon e_i)}
          {2\varepsilon} + O(\varepsilon^2) \quad\text{(central)}.

Each derivative costs one or two evaluations of :math:`f`; with :math:`K` weights and an
:math:`O(K)` forward pass the whole gradient costs :math:`O(K^2)`, backprop :math:`O(K)`.
So finite differences are the *check*, backprop the *method*.
"""

import numpy as np


def numerical_gradient(f, x, eps=1e-6, method="central"):
    r"""Finite-difference gradient of a scalar function ``f`` at the float array ``x``.

    ``method="central"``:
    :math:`\frac{f(x + \varepsilon e_i) - f(x - \varepsilon e_i)}{2\varepsilon}`
    (error :math:`O(\varepsilon^2)`); ``method="forward"``:
    :math:`\frac{f(x + \varepsilon e_i) - f(x)}{\varepsilon}` (error :math:`O(\varepsilon)`).

    ``x`` is perturbed *in place*, one entry at a time, and restored after each entry,
    so ``f`` may either use its argument or read the same array elsewhere (e.g. a
    network's parameter dict). Returns an array shaped like ``x``.
    """
    if method not in ("central", "forward"):
        raise ValueError(f"method must be 'central' or 'forward', got {method!r}")
    grad = np.zeros_like(x, dtype=np.float64)
    f_x = float(f(x)) if method == "forward" else None
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + eps
        f_plus = float(f(x))
        if method == "central":
            x[i] = old - eps
            grad[i] = (f_plus - float(f(x))) / (2 * eps)
        else:
            grad[i] = (f_plus - f_x) / eps
        x[i] = old
    return grad


def numerical_gradients(f, params, eps=1e-6, method="central"):
    r"""Finite-difference gradients of ``f(params) -> float`` for every array of the dict
    ``params`` (e.g. :attr:`nnref.mlp.MLP.params`), perturbed in place one entry at a
    time. Returns a dict with the keys and shapes of ``params``."""
    return {name: numerical_gradient(lambda _: f(params), value, eps, method)
            for name, value in params.items()}


def relative_error(a, b):
    r"""Relative error of two arrays in the Euclidean norm,

    .. math:: \frac{\|a - b\|_2}{\max(\|a\|_2 + \|b\|_2,\ 10^{-300})}.

    It is 0 for equal arrays, at most 1, symmetric and scale-free. Unlike an element-wise
    ratio it does not blow up on entries that are (nearly) zero in both, where a finite
    difference is only accurate in absolute terms.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(a) + np.linalg.norm(b), 1e-300))


def gradcheck(f, grad_f, x, eps=1e-6, method="central"):
    r"""Compare an analytic gradient with central differences: returns
    ``relative_error(grad_f(x), numerical_gradient(f, x))``.

    Rule of thumb in float64 with :math:`\varepsilon = 10^{-6}`: below :math:`10^{-8}` the
    gradient is right; around :math:`10^{-4}` look for a kink (ReLU at 0) or a missing
    term; near 1 it is wrong. ``grad_f(x)`` returns an array shaped like ``x``.
    """
    return relative_error(grad_f(x), numerical_gradient(f, x, eps, method))


def numerical_gradient_demo(x):
    r"""The analytic gradient of the graded notebook's test function
    :math:`f(v) = \sum_i v_i^2 \sin v_i`:
    :math:`\partial f/\partial v_i = 2 v_i \sin v_i + v_i^2 \cos v_i`."""
    x = np.asarray(x, dtype=np.float64)
    return 2 * x * np.sin(x) + x**2 * np.cos(x)
