r"""A multilayer perceptron composed of :mod:`nnref.layers`, and a training loop.

For layers :math:`l = 1, \dots, L`:

.. math:: Z_l = A_{l-1} W_l + \mathbf{1} b_l^\top, \qquad A_l = \sigma_l(Z_l), \qquad A_0 = X,

with the hidden activation :math:`\sigma` for :math:`l < L` and the output activation
for :math:`l = L`. ``W_l`` has shape :math:`(H_{l-1}, H_l)`.
"""

import numpy as np

from . import init, layers, losses


class MLP:
    """A fully connected network ``sizes = [d, H_1, ..., H_L]``.

    ``params`` holds ``W1, b1, ..., WL, bL``; ``forward`` keeps the caches that
    ``backward`` needs. Weights start uniform on :math:`\\pm 1/\\sqrt{H_{l-1}}`
    (Vorontsov's lecture's first heuristic, PyTorch's default for ``nn.Linear``) unless
    ``scale`` fixes the standard deviation of a Gaussian start.
    """

    def __init__(self, sizes, activation="tanh", output="identity", seed=0, scale=None):
        rng = np.random.default_rng(seed)
        self.sizes, self.activation, self.output = list(sizes), activation, output
        self.params = {}
        for l, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
            if scale is None:
                bound = init.uniform_fan_in_bound(fan_in)
                self.params[f"W{l}"] = rng.uniform(-bound, bound, (fan_in, fan_out))
                self.params[f"b{l}"] = rng.uniform(-bound, bound, fan_out)
            else:
                self.params[f"W{l}"] = scale * rng.standard_normal((fan_in, fan_out))
                self.params[f"b{l}"] = np.zeros(fan_out)
        self.caches = []

    @property
    def L(self):
        return len(self.sizes) - 1

    def forward(self, X):
        """Output ``y_hat`` of shape (n, H_L) for a batch ``X`` of shape (n, d)."""
        A, self.caches = np.asarray(X, dtype=np.float64), []
        for l in range(1, self.L + 1):
            Z, linear_cache = layers.linear_forward(A, self.params[f"W{l}"], self.params[f"b{l}"])
            sigma = self.activation if l < self.L else self.output
            A, activation_cache = layers.activation_forward(Z, sigma)
            self.caches.append((linear_cache, activation_cache))
        return A

    def backward(self, dy_hat):
        """Gradients of the loss for every parameter, given ``dL/dy_hat`` (n, H_L).

        The gradient in the input, :math:`\\partial L/\\partial X` (n, d), is kept as
        ``self.dX`` (a network that feeds another one, e.g. an autoencoder's encoder, needs it).
        """
        grads, dA = {}, dy_hat
        for l in range(self.L, 0, -1):
            linear_cache, activation_cache = self.caches[l - 1]
            dZ = layers.activation_backward(dA, activation_cache)
            dA, grads[f"W{l}"], grads[f"b{l}"] = layers.linear_backward(dZ, linear_cache)
        self.dX = dA
        return grads

    def predict(self, X):
        return self.forward(X)


def loss_and_grads(net, X, y, loss="mse"):
    """The loss ``losses.<loss>`` on the batch and its gradients for every parameter."""
    y_hat = net.forward(X)
    value = getattr(losses, loss)(y_hat, y)
    return value, net.backward(getattr(losses, f"{loss}_grad")(y_hat, y))


def train(net, X, y, loss="mse", optimizer=None, epochs=100, batch_size=None, seed=0):
    """Mini-batch training; returns the loss on the whole set after every epoch.

    ``batch_size=None`` is full-batch gradient descent, ``1`` is SGD; the objects
    are shuffled every epoch with a generator seeded by ``seed``.
    """
    if optimizer is None:
        from .optim import SGD
        optimizer = SGD(eta=0.1)
    rng = np.random.default_rng(seed)
    n = len(X)
    batch_size = batch_size or n
    history = []
    for _ in range(epochs):
        order = rng.permutation(n)
        for start in range(0, n, batch_size):
            batch = order[start:start + batch_size]
            _, grads = loss_and_grads(net, X[batch], y[batch], loss)
            optimizer.step(net.params, grads)
        history.append(getattr(losses, loss)(net.forward(X), y))
    return history
