r"""Optimizers. One interface: ``opt.step(params, grads)`` updates the dict of arrays
``params`` in place from the dict ``grads`` (same keys); any state (velocities,
accumulators) is kept per parameter name.
"""

import numpy as np


class SGD:
    r"""Gradient descent step :math:`w := w - \eta \nabla Q(w)` (lecture 001)."""

    def __init__(self, eta):
        self.eta = eta

    def step(self, params, grads):
        for name, g in grads.items():
            params[name] -= self.eta * g
