r"""Regularization: the objective :math:`E = C + \lambda R`, :math:`L_2` as weight decay, and
dropout (Srivastava et al., 2014).

Conventions (those of ``torch.nn.functional.dropout``):

- :math:`p` is the **drop** probability; the mask :math:`\xi` (``mask``) has
  :math:`P(\xi = 0) = p`, i.e. :math:`\xi \sim \mathrm{Ber}(1 - p)`; :func:`keep_mask` draws it
  from uniform numbers as :math:`\xi = [u \ge p]` (a tie :math:`u = p` keeps the neuron);
- **inverted** dropout (the default) divides by :math:`1 - p` at training time and does nothing
  at application time; the original (non-inverted) dropout of Vorontsov's lecture multiplies by
  :math:`\xi` at training time and by :math:`1 - p` at application time;
- lecture *Deep learning* writes :math:`d(x) = \frac1p m \circ x` with :math:`m \sim \mathrm{Ber}(p)`
  and calls :math:`p` the zeroing probability: that formula is right when :math:`p` is the
  **keep** probability, which :func:`dropout_keep` implements under the name :math:`q`.

Layers in CS231n's shape: :func:`dropout_forward` returns ``(out, cache)``,
:func:`dropout_backward` takes ``(dout, cache)``. :class:`DropoutMLP` is
:class:`nnref.mlp.MLP` with dropout after every hidden layer.
"""

import numpy as np

from . import layers, losses, mlp

# --- E = C + lambda R with L2 ---------------------------------------------------------


def l2_penalty(w, lam):
    r"""The :math:`L_2` term of Vorontsov's lecture, :math:`\frac{\lambda}{2}\|w\|^2`
    (:math:`\lambda R(w)` with :func:`nnref.losses.regularizer`), summed over every array of
    ``w`` (an array, a list or a dict of arrays)."""
    return lam * losses.regularizer(w, "l2")


def l2_grad(w, lam):
    r""":math:`\nabla \frac{\lambda}{2}\|w\|^2 = \lambda w`, with the structure of ``w``."""
    grad = losses.regularizer_grad(w, "l2")
    if isinstance(grad, dict):
        return {k: lam * g for k, g in grad.items()}
    if isinstance(grad, list):
        return [lam * g for g in grad]
    return lam * grad


def ridge_loss_and_grad(w, X, y, lam):
    r"""The regularised objective of a linear model :math:`\hat y = Xw`,

    .. math:: E(w) = \frac1n \|Xw - y\|^2 + \frac{\lambda}{2}\|w\|^2, \qquad
              \nabla E = \frac2n X^\top (Xw - y) + \lambda w.

    ``w`` (d,), ``X`` (n, d), ``y`` (n,). Returns ``(E, grad)``.
    """
    w, X = np.asarray(w, dtype=np.float64), np.asarray(X, dtype=np.float64)
    y_hat = X @ w
    E = losses.regularized(losses.mse(y_hat, y), w, lam)
    return E, X.T @ losses.mse_grad(y_hat, y) + l2_grad(w, lam)


def loss_and_grads(net, X, y, lam, loss="mse"):
    r""":math:`E = C + \frac{\lambda}{2}\|w\|^2` of a network (every parameter penalised, as
    PyTorch's ``weight_decay`` does) and its gradients :math:`\nabla C + \lambda w`."""
    C, grads = mlp.loss_and_grads(net, X, y, loss)
    decay = l2_grad(net.params, lam)
    return C + l2_penalty(net.params, lam), {k: g + decay[k] for k, g in grads.items()}


def dropout_l2_step(w, g, xi, eta, lam, p):
    r"""Vorontsov's gradient step with dropout and :math:`L_2` regularisation,

    .. math:: w := w(1 - \eta\lambda) - \eta\,\frac{1}{1-p}\,\xi\,\mathcal{L}'_i(w),

    where ``g`` :math:`= \mathcal{L}'_i(w)` is the derivative of the loss through the neuron as
    if it were kept, and ``xi`` the neuron's mask (broadcast against ``w``: for the incoming
    weights ``W`` (H_in, H) of a layer, ``xi`` has shape (H,)). This is one SGD step on
    :math:`\mathcal{L}_i + \frac{\lambda}{2}\|w\|^2` of the thinned network, i.e.
    ``torch.optim.SGD(lr=eta, weight_decay=lam)`` after a backward pass through
    ``F.dropout(p)``. With :math:`p = 1` every :math:`\xi = 0` and only the decay is left.
    """
    w, g = np.asarray(w, dtype=np.float64), np.asarray(g, dtype=np.float64)
    return w * (1 - eta * lam) - eta * _inverted_scale(p) * np.asarray(xi) * g


# --- dropout --------------------------------------------------------------------------


def _inverted_scale(p):
    r""":math:`1/(1-p)`; 0 for :math:`p = 1` (every neuron is dropped, as in PyTorch)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"the drop probability p must be in [0, 1], got {p}")
    return 0.0 if p == 1.0 else 1.0 / (1.0 - p)


def keep_mask(u, p):
    r"""The mask :math:`\xi = [u \ge p]` (float 0/1) from uniform numbers :math:`u \in [0, 1)`:
    :math:`P(\xi = 0) = P(u < p) = p`, so :math:`\xi \sim \mathrm{Ber}(1 - p)`."""
    return (np.asarray(u, dtype=np.float64) >= p).astype(np.float64)


def dropout(x, mask, p, train=True, inverted=True):
    r"""Dropout with drop probability :math:`p` and the keep mask :math:`\xi` (``mask``).

    Inverted (default, PyTorch's ``F.dropout``): training
    :math:`\frac{1}{1-p}\,\xi \odot x`, application :math:`x`.
    Original (``inverted=False``, Vorontsov's lecture): training :math:`\xi \odot x`,
    application :math:`(1 - p)\,x`. In both, :math:`\mathbb{E}_\xi[\text{training output}]`
    is the application output.
    """
    x = np.asarray(x, dtype=np.float64)
    if inverted:
        return x * np.asarray(mask) * _inverted_scale(p) if train else x.copy()
    _inverted_scale(p)  # checks p
    return x * np.asarray(mask) if train else (1.0 - p) * x


def dropout_grad(dout, mask, p, train=True, inverted=True):
    r""":math:`\partial \text{out}/\partial x` applied to ``dout``: the same linear map as
    :func:`dropout` (it is diagonal), e.g. :math:`\frac{1}{1-p}\,\xi \odot \text{dout}`."""
    return dropout(dout, mask, p, train, inverted)


def dropout_keep(x, mask, q):
    r"""Lecture *Deep learning*'s layer :math:`d(x) = \frac1q\, m \circ x`,
    :math:`m \sim \mathrm{Ber}(q)`, with :math:`q` read as the **keep** probability (the lecture
    calls it the zeroing probability, which would make the expectation
    :math:`\frac{1-q}{q}x` instead of :math:`x`). Equals :func:`dropout` with
    :math:`p = 1 - q`."""
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"the keep probability q must be in [0, 1], got {q}")
    x = np.asarray(x, dtype=np.float64)
    return x * np.asarray(mask) / q if q > 0 else np.zeros_like(x)


def dropout_forward(x, p, mask=None, mode="train", inverted=True, rng=None):
    r"""Dropout layer in CS231n's shape. ``x`` any shape; ``mask`` the keep mask
    :math:`\xi` of the same shape (drawn by :func:`keep_mask` from ``rng`` if ``None`` in
    ``mode="train"``). Returns ``(out, cache)``; see :func:`dropout` for the formulas."""
    if mode not in ("train", "eval"):
        raise ValueError(f"mode must be 'train' or 'eval', got {mode!r}")
    train = mode == "train"
    if train and mask is None:
        rng = np.random.default_rng() if rng is None else rng
        mask = keep_mask(rng.random(np.shape(x)), p)
    out = dropout(x, mask if train else None, p, train, inverted)
    return out, (mask, p, train, inverted)


def dropout_backward(dout, cache):
    r"""``dx`` from ``dout`` (shape of ``x``) and the cache of :func:`dropout_forward`."""
    mask, p, train, inverted = cache
    return dropout_grad(dout, mask, p, train, inverted)


def thinned_mean(x, W, b, U, p):
    r"""Monte-Carlo estimate of the training-time expectation of a linear layer after dropout,

    .. math:: \frac1K\sum_{k=1}^K \Bigl(\tfrac{1}{1-p}\,\xi^{(k)} \odot x\Bigr) W + b,
              \qquad \xi^{(k)} = [U_k \ge p],

    ``x`` (n, d), ``W`` (d, h), ``b`` (h,), ``U`` (K, n, d) uniform on [0, 1). It tends to the
    application-time output :math:`xW + b` as :math:`K \to \infty` (linearity of expectation).
    """
    U = np.asarray(U, dtype=np.float64)
    thinned = dropout(x, keep_mask(U, p), p)                 # (K, n, d)
    out, _ = layers.linear_forward(thinned.reshape(-1, U.shape[-1]), W, b)
    return out.reshape(U.shape[0], U.shape[1], -1).mean(axis=0)


# --- a network with dropout -----------------------------------------------------------


class DropoutMLP(mlp.MLP):
    r""":class:`nnref.mlp.MLP` with inverted dropout (drop probability ``p``) after the
    activation of every hidden layer:

    .. math:: A_l = \tfrac{1}{1-p}\,\xi_l \odot \sigma(Z_l), \quad l < L, \qquad
              \xi_l = [U_l \ge p] \text{ at training time}, \quad A_l = \sigma(Z_l)
              \text{ in eval mode}.

    ``train()``/``eval()`` switch the mode (as in PyTorch). ``masks``, if set to a list of
    arrays (one per hidden layer, shaped like its activations), replaces the random draw;
    ``last_masks`` keeps the masks of the last forward pass.
    """

    def __init__(self, sizes, p=0.5, activation="relu", output="identity", seed=0, scale=None):
        super().__init__(sizes, activation=activation, output=output, seed=seed, scale=scale)
        self.p, self.training = p, True
        self.rng = np.random.default_rng([seed, 8])
        self.masks, self.last_masks = None, []

    def train(self, mode=True):
        self.training = mode
        return self

    def eval(self):
        return self.train(False)

    def forward(self, X):
        A, self.caches, self.last_masks = np.asarray(X, dtype=np.float64), [], []
        for l in range(1, self.L + 1):
            Z, linear_cache = layers.linear_forward(A, self.params[f"W{l}"], self.params[f"b{l}"])
            sigma = self.activation if l < self.L else self.output
            A, activation_cache = layers.activation_forward(Z, sigma)
            dropout_cache = None
            if l < self.L:
                mask = None if self.masks is None else self.masks[l - 1]
                A, dropout_cache = dropout_forward(A, self.p, mask,
                                                   "train" if self.training else "eval",
                                                   rng=self.rng)
                self.last_masks.append(dropout_cache[0])
            self.caches.append((linear_cache, activation_cache, dropout_cache))
        return A

    def backward(self, dy_hat):
        grads, dA = {}, dy_hat
        for l in range(self.L, 0, -1):
            linear_cache, activation_cache, dropout_cache = self.caches[l - 1]
            if dropout_cache is not None:
                dA = dropout_backward(dA, dropout_cache)
            dZ = layers.activation_backward(dA, activation_cache)
            dA, grads[f"W{l}"], grads[f"b{l}"] = layers.linear_backward(dZ, linear_cache)
        self.dX = dA
        return grads
