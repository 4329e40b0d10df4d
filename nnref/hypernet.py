r"""Hypernetworks (chapter 10; Kitov's lecture *Multilayer perceptron*; Ha, Dai & Le, 2017).

A hypernetwork :math:`g_\varphi` generates the parameters :math:`\theta` of the main network
:math:`F_\theta(x)` from a description :math:`z` of the task, :math:`\theta = g_\varphi(z)`.
The main network has no parameters of its own: the gradient of :math:`\mathcal{L}(F_\theta(x), y)`
changes only :math:`\varphi`, by the chain rule through :math:`\theta`,

.. math:: \frac{\partial \mathcal{L}}{\partial \varphi} =
          \Bigl(\frac{\partial \theta}{\partial \varphi}\Bigr)^{\!\top}
          \frac{\partial \mathcal{L}}{\partial \theta}.

Every object :math:`i` carries its own code :math:`z_i`, so its own weights
:math:`\theta_i = g(z_i)`; the main network is evaluated with per-object weights
(``einsum`` over a batch of weight matrices). :math:`\theta` is flat and is split, layer by layer,
into :math:`W_l` (row-major) and :math:`b_l`, as :func:`unpack_theta` says.
"""

import numpy as np

from . import activations, losses
from .mlp import MLP


def theta_size(sizes):
    r"""Number of parameters :math:`\sum_l (H_{l-1} + 1) H_l` of the main MLP ``sizes``."""
    return int(sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:])))


def unpack_theta(theta, sizes):
    r"""Split ``theta`` (n, P) into per-object layers ``[(W_1, b_1), ...]`` with
    ``W_l`` (n, H_{l-1}, H_l) and ``b_l`` (n, H_l), in the order W1, b1, W2, b2, ..."""
    theta = np.asarray(theta, dtype=np.float64)
    n, start, layers_ = theta.shape[0], 0, []
    for a, b in zip(sizes[:-1], sizes[1:]):
        W = theta[:, start:start + a * b].reshape(n, a, b)
        start += a * b
        layers_.append((W, theta[:, start:start + b]))
        start += b
    if start != theta.shape[1]:
        raise ValueError(f"theta has {theta.shape[1]} columns, the main net {sizes} needs {start}")
    return layers_


def main_forward(x, theta, sizes, activation="tanh"):
    r"""The main network with per-object weights, :math:`A_0 = x`,
    :math:`Z_l = A_{l-1} W_l(z) + b_l(z)` object by object, :math:`A_l = \sigma(Z_l)` for
    hidden layers and the identity at the output. ``x`` (n, d), ``theta`` (n, P) ->
    ``y_hat`` (n, H_L) and the cache."""
    A = np.asarray(x, dtype=np.float64)
    layers_ = unpack_theta(theta, sizes)
    cache = []
    for l, (W, b) in enumerate(layers_, start=1):
        Z = np.einsum("ni,nij->nj", A, W) + b
        cache.append((A, W, Z))
        A = getattr(activations, activation)(Z) if l < len(layers_) else Z
    return A, (cache, activation)


def main_backward(dout, cache):
    r"""``(dx, dtheta)``: :math:`\partial L/\partial W_l = A_{l-1}^\top \Delta_l` and
    :math:`\partial L/\partial b_l = \Delta_l` for each object (no sum over the batch: each
    object has its own weights), :math:`\Delta_{l-1} = (\Delta_l W_l^\top) \odot \sigma'(Z_{l-1})`.
    ``dtheta`` (n, P) is packed like ``theta``."""
    layer_caches, activation = cache
    pieces, dA = [], np.asarray(dout, dtype=np.float64)
    for l in range(len(layer_caches), 0, -1):
        A_prev, W, Z = layer_caches[l - 1]
        dZ = dA if l == len(layer_caches) else dA * getattr(activations, f"{activation}_prime")(Z)
        dW = np.einsum("ni,nj->nij", A_prev, dZ)
        pieces = [dW.reshape(len(dZ), -1), dZ] + pieces
        dA = np.einsum("nj,nij->ni", dZ, W)
    return dA, np.concatenate(pieces, axis=1)


class HyperNetwork:
    r"""A hypernetwork ``g = MLP([m, *hidden, P])`` (linear output) that generates the weights
    of the main MLP ``main_sizes`` from task codes ``z`` (n, m). ``params`` are :math:`g`'s
    only; ``hidden=()`` makes :math:`g` linear, :math:`\theta = zG + c`."""

    def __init__(self, m, main_sizes, hidden=(32,), activation="tanh", main_activation="tanh",
                 seed=0):
        self.main_sizes, self.main_activation = list(main_sizes), main_activation
        self.g = MLP([m, *hidden, theta_size(main_sizes)], activation, output="identity", seed=seed)
        self.params = self.g.params

    def forward(self, x, z):
        theta = self.g.forward(z)
        y_hat, self.main_cache = main_forward(x, theta, self.main_sizes, self.main_activation)
        return y_hat

    def backward(self, dy_hat):
        r"""Gradients of :math:`g`'s parameters: :math:`\partial L/\partial\theta` from the main
        net, then :math:`g`'s own backward pass."""
        _, dtheta = main_backward(dy_hat, self.main_cache)
        return self.g.backward(dtheta)

    def loss_and_grads(self, x, z, y):
        r"""MSE :math:`\frac1n\sum_i\|F_{g(z_i)}(x_i) - y_i\|^2` and the gradients of :math:`g`."""
        y_hat = self.forward(x, z)
        y = np.reshape(y, y_hat.shape)
        return losses.mse(y_hat, y), self.backward(losses.mse_grad(y_hat, y))


def linear_hyper_loss_and_grads(x, z, y, G, c):
    r"""The graded notebook's hypernetwork: :math:`\theta_i = z_i G + c` (a linear :math:`g`),
    the main net :math:`F_\theta(x) = \sum_h w_{2h}\tanh(w_{1h} x + b_{1h}) + b_2` with
    :math:`\theta = (w_1, b_1, w_2, b_2)` of sizes :math:`H, H, H, 1`, MSE loss.

    ``x`` (n,), ``z`` (n, m), ``y`` (n,), ``G`` (m, 3H + 1), ``c`` (3H + 1,).
    Returns ``(loss, dG, dc)`` with :math:`dG = z^\top \frac{\partial L}{\partial\theta}`,
    :math:`dc = \sum_i \frac{\partial L}{\partial\theta_i}`.
    """
    G = np.asarray(G, dtype=np.float64)
    H = (G.shape[1] - 1) // 3
    net = HyperNetwork(G.shape[0], [1, H, 1], hidden=())
    net.params["W1"][...], net.params["b1"][...] = G, c
    loss, grads = net.loss_and_grads(np.reshape(x, (-1, 1)), z, y)
    return loss, grads["W1"], grads["b1"]
