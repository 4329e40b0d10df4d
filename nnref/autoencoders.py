r"""Autoencoders (chapter 10; Kitov's lecture *Multilayer perceptron*).

An autoencoder reconstructs its input, :math:`\hat x = g(f(x)) \approx x`, with the encoder
:math:`f`, the code :math:`h = f(x)` and the decoder :math:`g`. The reconstruction loss is
:math:`\|\hat x - x\|_2^2` averaged over the batch, :func:`nnref.losses.mse`. This module has

- the **sparse** penalty :math:`\lambda R(h)`, :math:`R = \|h\|_1` or :math:`\|h\|_2^2`;
- the **contractive** penalty :math:`\lambda \sum_i \|\partial h_i/\partial x\|^2` of a
  one-layer sigmoid or tanh encoder in closed form, with its gradient (Rifai et al., 2011);
- the **corruptions** of a denoising autoencoder (Vincent et al., 2008): Gaussian noise,
  masking (zeroing) and salt-and-pepper (0/1) noise, each from a given generator or mask;
- the **linear** autoencoder :math:`\hat X = X W_e W_d` and PCA: its optimum spans the
  principal subspace (Baldi & Hornik, 1989), compared through projectors and principal angles;
- :class:`Autoencoder`, an encoder and a decoder made of two :class:`nnref.mlp.MLP`.

Layers in CS231n's shape: ``forward(...) -> (out, cache)``, ``backward(dout, cache)``.
"""

import numpy as np
import scipy.linalg

from . import activations, losses
from .mlp import MLP

# --- sparse autoencoder: lambda R(h) ---------------------------------------------------------


def sparse_penalty(h, kind="l1"):
    r""":math:`\frac1n \sum_{i=1}^n R(h_i)` with :math:`R(h) = \|h\|_1` (``"l1"``) or
    :math:`R(h) = \|h\|_2^2` (``"l2"``), for the codes ``h`` (n, H): the mean absolute value or
    the mean square of the code, i.e. :func:`nnref.losses.mae` or :func:`nnref.losses.mse`
    of ``h`` against 0."""
    h = np.asarray(h, dtype=np.float64)
    return {"l1": losses.mae, "l2": losses.mse}[kind](h, np.zeros_like(h))


def sparse_penalty_grad(h, kind="l1"):
    r""":math:`\frac1n \operatorname{sign} h` (l1, sign 0 = 0) or :math:`\frac2n h` (l2), shape of ``h``."""
    h = np.asarray(h, dtype=np.float64)
    return {"l1": losses.mae_grad, "l2": losses.mse_grad}[kind](h, np.zeros_like(h))


def sparse_forward(h, lam, kind="l1"):
    r"""The penalty :math:`\lambda \frac1n\sum_i R(h_i)` as a layer: ``(value, cache)``."""
    return lam * sparse_penalty(h, kind), (h, lam, kind)


def sparse_backward(dout, cache):
    r""":math:`\text{dout}\cdot\lambda\,\partial R/\partial h`, shape (n, H): added to the
    gradient that reaches the code from the decoder."""
    h, lam, kind = cache
    return dout * lam * sparse_penalty_grad(h, kind)


# --- contractive autoencoder -----------------------------------------------------------------

_ENCODERS = ("sigmoid", "tanh")


def _encoder_derivatives(Z, activation):
    r""":math:`h = \sigma(Z)`, :math:`\sigma'(Z)` and :math:`\sigma''(Z)` for the sigmoid
    (:math:`\sigma'' = \sigma'(1 - 2h)`) or tanh (:math:`\sigma'' = -2h\,\sigma'`)."""
    if activation not in _ENCODERS:
        raise ValueError(f"the closed form needs a sigmoid or tanh encoder, got {activation!r}")
    h = getattr(activations, activation)(Z)
    s = getattr(activations, f"{activation}_prime")(Z)
    s2 = getattr(activations, f"{activation}_second")(Z)
    return h, s, s2


def encoder_jacobian(X, W, b, activation="sigmoid"):
    r"""The Jacobians :math:`J(x_n) = \partial h/\partial x` of the encoder
    :math:`h = \sigma(xW + b)`: :math:`J_{ij} = \sigma'(z_i)\, W_{ji}`.
    ``X`` (n, d), ``W`` (d, H), ``b`` (H,) -> (n, H, d)."""
    Z = np.asarray(X, dtype=np.float64) @ W + b
    _, s, _ = _encoder_derivatives(Z, activation)
    return s[:, :, None] * np.asarray(W, dtype=np.float64).T[None, :, :]


def contractive_penalty(X, W, b, activation="sigmoid"):
    r"""The contractive penalty (without :math:`\lambda`), averaged over the batch:

    .. math:: \frac1n \sum_{n} \bigl\|J_f(x_n)\bigr\|_F^2
              = \frac1n \sum_{n} \sum_{i=1}^{H} \Bigl\|\frac{\partial h_i}{\partial x}(x_n)\Bigr\|_2^2
              = \frac1n \sum_{n} \sum_{i} \sigma'(z_{ni})^2\, \|W_{\cdot i}\|_2^2,

    for :math:`h = \sigma(z)`, :math:`z = xW + b`; for the sigmoid
    :math:`\sigma'(z) = h(1 - h)`, for tanh :math:`1 - h^2`.
    ``X`` (n, d), ``W`` (d, H), ``b`` (H,).
    """
    X = np.asarray(X, dtype=np.float64)
    _, s, _ = _encoder_derivatives(X @ W + b, activation)
    return float(np.sum(s**2 @ np.sum(np.asarray(W, dtype=np.float64) ** 2, axis=0)) / X.shape[0])


def contractive_penalty_grads(X, W, b, activation="sigmoid"):
    r"""Gradients of :func:`contractive_penalty` :math:`P`. With :math:`s = \sigma'(Z)`,
    :math:`c_i = \|W_{\cdot i}\|^2` and :math:`\sigma''` the second derivative,

    .. math:: \frac{\partial P}{\partial Z_{ni}} = \frac2n\, s_{ni}\,\sigma''(Z_{ni})\, c_i,\qquad
              \frac{\partial P}{\partial W} = X^\top \frac{\partial P}{\partial Z}
              + \frac2n\, W \operatorname{diag}\Bigl(\sum_n s_{ni}^2\Bigr),

    .. math:: \frac{\partial P}{\partial b} = \sum_n \frac{\partial P}{\partial Z_{n\cdot}},\qquad
              \frac{\partial P}{\partial X} = \frac{\partial P}{\partial Z} W^\top.

    :math:`W` enters twice: through :math:`Z` and through the norms :math:`c_i`.
    Returns ``(dX, dW, db)`` with the shapes of ``X``, ``W``, ``b``.
    """
    X, W = np.asarray(X, dtype=np.float64), np.asarray(W, dtype=np.float64)
    n = X.shape[0]
    _, s, s2 = _encoder_derivatives(X @ W + b, activation)
    c = np.sum(W**2, axis=0)
    dZ = 2.0 / n * s * s2 * c
    dW = X.T @ dZ + 2.0 / n * W * np.sum(s**2, axis=0)
    return dZ @ W.T, dW, dZ.sum(axis=0)


def contractive_forward(X, W, b, lam, activation="sigmoid"):
    r""":math:`\lambda P(X, W, b)` as a layer: ``(value, cache)``."""
    return lam * contractive_penalty(X, W, b, activation), (X, W, b, lam, activation)


def contractive_backward(dout, cache):
    r"""``(dX, dW, db)`` of :math:`\text{dout}\cdot\lambda P`."""
    X, W, b, lam, activation = cache
    return tuple(dout * lam * g for g in contractive_penalty_grads(X, W, b, activation))


# --- denoising autoencoder: corruptions --------------------------------------------------------
#
# Each corruption returns (x_tilde, cache); cache is the 0/1 array `keep` of the entries that
# still depend on x with derivative 1, so corruption_backward(dout, keep) = dout * keep.


def gaussian_corruption(X, sigma, rng=None, noise=None):
    r"""Additive Gaussian noise :math:`\tilde x = x + \sigma\varepsilon`,
    :math:`\varepsilon \sim \mathcal{N}(0, I)`; ``noise`` gives :math:`\varepsilon` (shape of ``X``),
    otherwise it is drawn from ``rng``. Returns ``(x_tilde, keep)`` with ``keep`` all ones."""
    X = np.asarray(X, dtype=np.float64)
    noise = rng.standard_normal(X.shape) if noise is None else np.asarray(noise, dtype=np.float64)
    return X + sigma * noise, np.ones_like(X)


def masking_corruption(X, p, rng=None, mask=None):
    r"""Masking noise ("zeroing"): each entry is set to 0 with probability :math:`p`,
    :math:`\tilde x = m \odot x`, :math:`m_j \sim \mathrm{Ber}(1 - p)`. Unlike dropout there
    is no rescaling: the decoder must restore the missing values. ``mask`` (0/1, shape of
    ``X``) gives :math:`m`. Returns ``(x_tilde, mask)``."""
    X = np.asarray(X, dtype=np.float64)
    mask = (rng.random(X.shape) >= p).astype(np.float64) if mask is None \
        else np.asarray(mask, dtype=np.float64)
    return X * mask, mask


def salt_and_pepper_corruption(X, p, rng=None, u=None, low=0.0, high=1.0):
    r"""Salt-and-pepper ("0/1") noise: each entry is replaced with probability :math:`p`, by
    ``low`` or ``high`` with equal chances. With :math:`u_j \sim U[0, 1)` (``u``, or drawn from
    ``rng``): :math:`\tilde x_j = \text{low}` if :math:`u_j < p/2`, :math:`\text{high}` if
    :math:`p/2 \le u_j < p`, else :math:`x_j`. Returns ``(x_tilde, keep)``, ``keep = [u >= p]``."""
    X = np.asarray(X, dtype=np.float64)
    u = rng.random(X.shape) if u is None else np.asarray(u, dtype=np.float64)
    keep = (u >= p).astype(np.float64)
    replaced = np.where(u < p / 2, low, high)
    return np.where(keep > 0, X, replaced), keep


def corruption_backward(dout, keep):
    r""":math:`\partial L/\partial x = \partial L/\partial\tilde x \odot \text{keep}`: the
    corrupted entries do not depend on :math:`x`."""
    return dout * keep


# --- the linear autoencoder and PCA ----------------------------------------------------------


def linear_ae_forward(X, W_enc, W_dec):
    r"""Linear autoencoder :math:`H = X W_e`, :math:`\hat X = H W_d`.
    ``X`` (n, d), ``W_enc`` (d, k), ``W_dec`` (k, d) -> ``X_hat`` (n, d)."""
    H = X @ W_enc
    return H @ W_dec, (X, W_enc, W_dec, H)


def linear_ae_backward(dout, cache):
    r""":math:`\partial L/\partial W_d = H^\top \frac{\partial L}{\partial \hat X}`,
    :math:`\partial L/\partial H = \frac{\partial L}{\partial \hat X} W_d^\top`,
    :math:`\partial L/\partial W_e = X^\top \frac{\partial L}{\partial H}`,
    :math:`\partial L/\partial X = \frac{\partial L}{\partial H} W_e^\top`.
    Returns ``(dX, dW_enc, dW_dec)``."""
    X, W_enc, W_dec, H = cache
    dH = dout @ W_dec.T
    return dH @ W_enc.T, X.T @ dH, H.T @ dout


def linear_ae_loss_and_grads(X, W_enc, W_dec):
    r""":math:`\frac1n\|X W_e W_d - X\|_F^2` and its gradients ``(loss, dW_enc, dW_dec)``."""
    X_hat, cache = linear_ae_forward(X, W_enc, W_dec)
    _, dW_enc, dW_dec = linear_ae_backward(losses.mse_grad(X_hat, X), cache)
    return losses.mse(X_hat, X), dW_enc, dW_dec


def fit_linear_ae(X, k, steps=2000, eta=None, seed=0):
    r"""Gradient descent on the MSE of a linear autoencoder with a code of size ``k`` on the
    *centred* data :math:`X - \bar x`. The start is Gaussian with standard deviation
    :math:`1/\sqrt d`; the default step :math:`\eta = 1/(4\lambda_{\max})`, with
    :math:`\lambda_{\max}` the largest eigenvalue of :math:`\frac1n X_c^\top X_c`.
    Returns ``(W_enc, W_dec)``."""
    Xc = np.asarray(X, dtype=np.float64) - np.mean(X, axis=0)
    n, d = Xc.shape
    if eta is None:
        eta = 0.25 / np.linalg.eigvalsh(Xc.T @ Xc / n)[-1]
    rng = np.random.default_rng(seed)
    W_enc, W_dec = rng.standard_normal((d, k)) / np.sqrt(d), rng.standard_normal((k, d)) / np.sqrt(d)
    for _ in range(steps):
        _, dW_enc, dW_dec = linear_ae_loss_and_grads(Xc, W_enc, W_dec)
        W_enc, W_dec = W_enc - eta * dW_enc, W_dec - eta * dW_dec
    return W_enc, W_dec


def row_space_projector(W):
    r"""The orthogonal projector onto the row space of ``W`` (k, d), the space of the
    reconstructions :math:`\hat x = h W_d`: :math:`P = W^\top (W W^\top)^{-1} W = W^+ W`, (d, d).
    It depends on the subspace only, not on the basis: :math:`P(AW) = P(W)` for invertible :math:`A`."""
    W = np.asarray(W, dtype=np.float64)
    return np.linalg.pinv(W) @ W


def pca_basis(X, k):
    r"""The first ``k`` principal directions of ``X`` (n, d): the right singular vectors of the
    centred data :math:`X - \bar x` with the largest singular values, as the rows of (k, d)."""
    Xc = np.asarray(X, dtype=np.float64) - np.mean(X, axis=0)
    return np.linalg.svd(Xc, full_matrices=False)[2][:k]


def pca_projector(X, k):
    r"""The projector :math:`P = U_k^\top U_k` onto the principal subspace of dimension ``k``
    (:func:`pca_basis` rows :math:`U_k`), (d, d)."""
    U = pca_basis(X, k)
    return U.T @ U


def principal_angles(A, B):
    r"""The principal angles (radians, ascending) between the row spaces of ``A`` (k, d) and
    ``B`` (m, d): :math:`\cos\theta_j` are the singular values of :math:`Q_A^\top Q_B` for
    orthonormal bases :math:`Q_A, Q_B` (``scipy.linalg.subspace_angles`` on the columns)."""
    return np.sort(scipy.linalg.subspace_angles(np.asarray(A, dtype=np.float64).T,
                                                np.asarray(B, dtype=np.float64).T))


def mixed_data(Z, M, scales):
    r"""Data with a known spectrum, for the graded notebook: :math:`X = Z \operatorname{diag}(s)
    Q^\top + \mathbf 1 m^\top`, with :math:`Q` the orthogonal factor of the QR decomposition of
    ``M`` (d, d), :math:`s` = ``scales`` (d,) and the mean :math:`m = 2 M_{0\cdot}` (not zero, so
    that forgetting to centre shows). ``Z`` (n, d)."""
    Q = np.linalg.qr(np.asarray(M, dtype=np.float64))[0]
    return (np.asarray(Z, dtype=np.float64) * np.asarray(scales, dtype=np.float64)) @ Q.T + 2.0 * np.asarray(M)[0]


def pca_projector_of_mixed(Z, M, scales, k):
    r""":func:`pca_projector` of :func:`mixed_data`: what a linear autoencoder with a code of
    size ``k`` must span (the graded notebook's reference)."""
    return pca_projector(mixed_data(Z, M, scales), k)


# --- a nonlinear autoencoder from two MLPs ---------------------------------------------------


class Autoencoder:
    r""":math:`\hat x = g(f(x))` with an encoder ``MLP(sizes)`` and a mirrored decoder
    ``MLP(sizes[::-1])``; ``sizes = [d, H_1, ..., k]``. The code layer has the activation
    ``code`` (identity by default), the reconstruction the activation ``output``.

    ``params`` holds the encoder's ``enc_W1, ...`` and the decoder's ``dec_W1, ...`` (the same
    arrays, so an optimizer updates both networks in place).
    """

    def __init__(self, sizes, activation="tanh", code="identity", output="sigmoid", seed=0):
        self.encoder = MLP(sizes, activation, output=code, seed=seed)
        self.decoder = MLP(sizes[::-1], activation, output=output, seed=seed + 1)
        self.params = {**{f"enc_{k}": v for k, v in self.encoder.params.items()},
                       **{f"dec_{k}": v for k, v in self.decoder.params.items()}}

    def encode(self, X):
        return self.encoder.forward(X)

    def forward(self, X):
        """The code ``h`` (n, k) and the reconstruction ``X_hat`` (n, d)."""
        h = self.encoder.forward(X)
        return h, self.decoder.forward(h)

    def loss_and_grads(self, X_in, X_target, lam=0.0, kind="l1"):
        r""":math:`\frac1n\sum_i \|g(f(\tilde x_i)) - x_i\|^2 + \lambda\frac1n\sum_i R(h_i)` and
        its gradients: ``X_in`` is the (possibly corrupted) input, ``X_target`` the clean one."""
        h, X_hat = self.forward(X_in)
        loss = losses.mse(X_hat, X_target)
        grads = {f"dec_{k}": v for k, v in self.decoder.backward(losses.mse_grad(X_hat, X_target)).items()}
        dh = self.decoder.dX
        if lam:
            penalty, cache = sparse_forward(h, lam, kind)
            loss += penalty
            dh = dh + sparse_backward(1.0, cache)
        grads.update({f"enc_{k}": v for k, v in self.encoder.backward(dh).items()})
        return loss, grads


def train_autoencoder(ae, X, optimizer, epochs, lam=0.0, kind="l1", corrupt=None, batch_size=None,
                      seed=0, extra_grads=None):
    r"""Mini-batch training (``batch_size=None``: full batch), the objects shuffled every epoch;
    ``corrupt(X, rng) -> X_tilde`` makes it a denoising autoencoder (a fresh corruption every
    epoch). ``extra_grads(ae, X_batch) -> (value, grads)`` adds a penalty of the parameters
    (e.g. the contractive one). Returns the mean training loss of every epoch."""
    rng = np.random.default_rng(seed)
    n = len(X)
    batch_size = batch_size or n
    history = []
    for _ in range(epochs):
        X_in = X if corrupt is None else corrupt(X, rng)
        order, total = rng.permutation(n), 0.0
        for start in range(0, n, batch_size):
            batch = order[start:start + batch_size]
            loss, grads = ae.loss_and_grads(X_in[batch], X[batch], lam, kind)
            if extra_grads is not None:
                penalty, more = extra_grads(ae, X_in[batch])
                loss += penalty
                grads = {k: g + more[k] if k in more else g for k, g in grads.items()}
            optimizer.step(ae.params, grads)
            total += loss * len(batch)
        history.append(total / n)
    return history


def contractive_extra_grads(lam, activation="sigmoid"):
    r"""``extra_grads`` for :func:`train_autoencoder`: :math:`\lambda P` of a one-layer encoder
    (``enc_W1``, ``enc_b1``) and its gradients."""
    def extra(ae, X):
        value, cache = contractive_forward(X, ae.params["enc_W1"], ae.params["enc_b1"], lam, activation)
        _, dW, db = contractive_backward(1.0, cache)
        return value, {"enc_W1": dW, "enc_b1": db}
    return extra


def reconstruction_errors(ae, X):
    r"""The per-object squared error :math:`\|g(f(x_i)) - x_i\|^2`, (n,): the anomaly score."""
    return np.sum((ae.forward(X)[1] - X) ** 2, axis=1)
