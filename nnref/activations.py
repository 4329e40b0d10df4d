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
    r""":math:`\sigma'(z) = \sigma(z)\,(1 - \sigma(z)) = \sigma(z)\,\sigma(-z)`, at most 1/4 (at z = 0).

    The second form keeps full relative precision for large :math:`|z|`, where
    :math:`1 - \sigma(z)` would cancel.
    """
    z = np.asarray(z, dtype=np.float64)
    return sigmoid(z) * sigmoid(-z)



def sigmoid_second(z):
    r""":math:`\sigma''(z) = \sigma'(z)\,(1 - 2\sigma(z)) = -\sigma'(z)\tanh\frac z2` (the curvature
    that Optimal Brain Damage and the contractive autoencoder need). The second form keeps full
    relative precision near :math:`z = 0`, where :math:`1 - 2\sigma(z)` cancels."""
    z = np.asarray(z, dtype=np.float64)
    return -sigmoid_prime(z) * np.tanh(z / 2)

def tanh(z):
    r"""Hyperbolic tangent :math:`\tanh z = \frac{e^z - e^{-z}}{e^z + e^{-z}} = 2\sigma(2z) - 1`."""
    return np.tanh(np.asarray(z, dtype=np.float64))


def tanh_prime(z):
    r""":math:`\tanh'(z) = 1 - \tanh^2 z = \frac{4}{(e^{z} + e^{-z})^2}`, at most 1 (at z = 0).

    Computed as :math:`\frac{4t}{(1 + t)^2}` with :math:`t = e^{-2|z|} \le 1`: no
    cancellation (``1 - tanh**2`` loses all digits for :math:`|z| \gtrsim 19`) and no overflow,
    so it is exact to a few ulps, relative, at every :math:`z`; the rounding of
    :math:`(1 + t)^2` near :math:`z = 0` is kept from lifting it above its bound 1.
    """
    t = np.exp(-2.0 * np.abs(np.asarray(z, dtype=np.float64)))
    return np.minimum(4.0 * t / (1.0 + t) ** 2, 1.0)


def tanh_second(z):
    r""":math:`\tanh''(z) = -2\tanh z\,(1 - \tanh^2 z)`."""
    z = np.asarray(z, dtype=np.float64)
    return -2.0 * tanh(z) * tanh_prime(z)


def relu(z):
    r"""Rectified linear unit :math:`\mathrm{ReLU}(z) = \max(0, z)`."""
    return np.maximum(np.asarray(z, dtype=np.float64), 0.0)


def relu_prime(z):
    r""":math:`\mathrm{ReLU}'(z) = [z > 0]`; at :math:`z = 0` we take 0, as PyTorch does."""
    return (np.asarray(z, dtype=np.float64) > 0).astype(np.float64)


def exp(z):
    r"""Exponential activation :math:`\sigma(z) = e^z` (Poisson regression as a neuron).

    :math:`e^z` is ``inf`` for :math:`z > 709.78` (beyond the largest float64): that is the
    correctly rounded value, returned without an overflow warning.
    """
    with np.errstate(over="ignore"):
        return np.exp(np.asarray(z, dtype=np.float64))


def exp_prime(z):
    r""":math:`\sigma'(z) = e^z`."""
    return exp(z)


# --- the ReLU family ---------------------------------------------------------------------


def leaky_relu(z, alpha=0.01):
    r"""Leaky ReLU :math:`\max(0, z) + \alpha \min(0, z)` with a fixed small slope
    :math:`\alpha` (0.01 in Kitov's lecture, 0.2 in Buryak's lecture's table) (Maas et al., 2013)."""
    z = np.asarray(z, dtype=np.float64)
    return np.where(z > 0, z, alpha * z)


def leaky_relu_prime(z, alpha=0.01):
    r""":math:`\sigma'(z) = 1` for :math:`z > 0`, :math:`\alpha` for :math:`z \le 0`
    (at :math:`z = 0` we take :math:`\alpha`, as PyTorch does)."""
    z = np.asarray(z, dtype=np.float64)
    return np.where(z > 0, 1.0, alpha)


def prelu(z, alpha):
    r"""Parametric ReLU :math:`h_i = \max(0, z_i) + \alpha_i \min(0, z_i)` (Vorontsov's lecture,
    004) (He et al., 2015); :math:`\alpha` is learned, one per neuron (broadcast over the
    last axis of ``z``) or a scalar."""
    z = np.asarray(z, dtype=np.float64)
    return np.maximum(z, 0.0) + np.asarray(alpha, dtype=np.float64) * np.minimum(z, 0.0)


def prelu_prime(z, alpha):
    r""":math:`\partial h_i / \partial z_i = 1` for :math:`z_i > 0`, :math:`\alpha_i` otherwise."""
    z = np.asarray(z, dtype=np.float64)
    return np.where(z > 0, 1.0, np.asarray(alpha, dtype=np.float64))


def prelu_grad_alpha(z, alpha):
    r""":math:`\partial h_i / \partial \alpha_i = \min(0, z_i)`, element-wise, with the shape
    of ``z``; sum it over the batch (``.sum(axis=0)``) to get the gradient of a per-neuron
    :math:`\alpha`."""
    z = np.asarray(z, dtype=np.float64)
    return np.broadcast_to(np.minimum(z, 0.0), np.broadcast_shapes(z.shape, np.shape(alpha))).copy()


def elu(z, alpha=1.0):
    r"""Exponential linear unit (Clevert et al., 2016):
    :math:`\sigma(z) = z` for :math:`z > 0`, :math:`\alpha(e^{z} - 1)` for :math:`z \le 0`.

    ``expm1`` is evaluated at :math:`\min(z, 0)` only, so nothing overflows.
    """
    z = np.asarray(z, dtype=np.float64)
    return np.where(z > 0, z, alpha * np.expm1(np.minimum(z, 0.0)))


def elu_prime(z, alpha=1.0):
    r""":math:`\sigma'(z) = 1` for :math:`z > 0`, :math:`\alpha e^{z}` for :math:`z \le 0`."""
    z = np.asarray(z, dtype=np.float64)
    return np.where(z > 0, 1.0, alpha * np.exp(np.minimum(z, 0.0)))


SELU_ALPHA = 1.6732632423543772848170429916717
SELU_LAMBDA = 1.0507009873554804934193349852946


def selu(z):
    r"""Scaled ELU (Klambauer et al., 2017): :math:`\lambda\,\mathrm{ELU}_\alpha(z)` with
    :math:`\lambda \approx 1.0507` and :math:`\alpha \approx 1.6733` (``SELU_LAMBDA``,
    ``SELU_ALPHA``, the constants PyTorch uses), chosen so that activations keep zero mean
    and unit variance from layer to layer."""
    return SELU_LAMBDA * elu(z, SELU_ALPHA)


def selu_prime(z):
    r""":math:`\sigma'(z) = \lambda` for :math:`z > 0`, :math:`\lambda \alpha e^{z}` for
    :math:`z \le 0`."""
    return SELU_LAMBDA * elu_prime(z, SELU_ALPHA)


def relu6(z):
    r"""ReLU capped at 6 (MobileNet): :math:`\min(\max(0, z), 6)`, bounded above."""
    return np.clip(np.asarray(z, dtype=np.float64), 0.0, 6.0)


def relu6_prime(z):
    r""":math:`\sigma'(z) = [0 < z < 6]` (0 at both kinks, as PyTorch)."""
    z = np.asarray(z, dtype=np.float64)
    return ((z > 0) & (z < 6)).astype(np.float64)


# --- smooth relatives of ReLU ------------------------------------------------------------


def softplus(z):
    r"""Softplus :math:`\zeta(z) = \ln(1 + e^{z})` (Dugas et al., 2001), a smooth ReLU.

    Stable form: :math:`\ln(1 + e^{z}) = \max(z, 0) + \ln(1 + e^{-|z|})`.
    """
    z = np.asarray(z, dtype=np.float64)
    return np.maximum(z, 0.0) + np.log1p(np.exp(-np.abs(z)))


def softplus_prime(z):
    r""":math:`\zeta'(z) = \sigma(z)`, the logistic sigmoid."""
    return sigmoid(z)


def swish(z, beta=1.0):
    r"""Swish :math:`f(z) = z\,\sigma(\beta z)` (Ramachandran et al., 2017); with
    :math:`\beta = 1` it is PyTorch's SiLU."""
    z = np.asarray(z, dtype=np.float64)
    return z * sigmoid(beta * z)


def swish_prime(z, beta=1.0):
    r""":math:`f'(z) = \sigma(\beta z) + \beta z\,\sigma(\beta z)(1 - \sigma(\beta z))`;
    for :math:`\beta = 1` this is Buryak's lecture's :math:`f(z) + \sigma(z)(1 - f(z))`."""
    z = np.asarray(z, dtype=np.float64)
    s = sigmoid(beta * z)
    return s + beta * z * s * (1.0 - s)


def mish(z):
    r"""Mish :math:`f(z) = z \tanh(\zeta(z))` with :math:`\zeta` the softplus (Misra, 2019)."""
    z = np.asarray(z, dtype=np.float64)
    return z * np.tanh(softplus(z))


def mish_prime(z):
    r""":math:`f'(z) = \tanh\zeta(z) + z\,(1 - \tanh^2 \zeta(z))\,\sigma(z)`."""
    z = np.asarray(z, dtype=np.float64)
    t = np.tanh(softplus(z))
    return t + z * (1.0 - t**2) * sigmoid(z)


# --- activations with their own parameters (layers) -------------------------------------


def maxout_forward(x, W, b):
    r"""Maxout unit (Goodfellow et al., 2013) over :math:`k` linear pieces:
    :math:`h_j = \max_{m=1..k} \left( x^\top W_{m,:,j} + b_{m,j} \right)`.

    Buryak's lecture's :math:`\max(w_1^\top x + b_1, w_2^\top x + b_2)` is :math:`k = 2`; with
    :math:`W_2 = 0, b_2 = 0` it is ReLU, with :math:`W_2 = \alpha W_1, b_2 = \alpha b_1` it
    is leaky ReLU; it needs :math:`k` times the parameters of a linear layer.

    Shapes: ``x`` (n, d), ``W`` (k, d, H), ``b`` (k, H) -> ``out`` (n, H).
    Returns ``(out, cache)``.
    """
    pieces = np.einsum("nd,kdh->knh", x, W) + b[:, None, :]   # (k, n, H)
    winner = np.argmax(pieces, axis=0)                         # (n, H)
    out = np.take_along_axis(pieces, winner[None], axis=0)[0]
    return out, (x, W, winner)


def maxout_backward(dout, cache):
    r"""Only the winning piece :math:`m^* = \arg\max_m z_m` gets the gradient:
    :math:`\partial h_j / \partial W_{m,:,j} = [m = m^*]\,x`,
    :math:`\partial h_j / \partial x = W_{m^*,:,j}` (ties go to the first piece).

    ``dout`` (n, H) -> ``(dx, dW, db)`` with the shapes of ``x``, ``W``, ``b``.
    """
    x, W, winner = cache
    k = W.shape[0]
    dpieces = (np.arange(k)[:, None, None] == winner[None]) * dout[None]   # (k, n, H)
    dx = np.einsum("knh,kdh->nd", dpieces, W)
    dW = np.einsum("nd,knh->kdh", x, dpieces)
    db = dpieces.sum(axis=1)
    return dx, dW, db


def rbf_forward(x, W, sigma):
    r"""Radial basis function layer (Buryak's lecture):
    :math:`h_i = \exp\left(-\frac{1}{\sigma_i^2} \|W_{:,i} - x\|^2\right)`, one centre
    :math:`W_{:,i}` and one width :math:`\sigma_i` per neuron.

    Shapes: ``x`` (n, d), ``W`` (d, H), ``sigma`` (H,) -> ``out`` (n, H).
    Returns ``(out, cache)``.
    """
    diff = x[:, :, None] - W[None, :, :]          # (n, d, H)
    sq_dist = np.sum(diff**2, axis=1)             # (n, H)
    out = np.exp(-sq_dist / sigma**2)
    return out, (diff, sq_dist, sigma, out)


def rbf_backward(dout, cache):
    r"""With :math:`r_i^2 = \|W_{:,i} - x\|^2` and :math:`h_i = e^{-r_i^2/\sigma_i^2}`:

    .. math:: \frac{\partial h_i}{\partial x} = -\frac{2 h_i}{\sigma_i^2}(x - W_{:,i}),\quad
              \frac{\partial h_i}{\partial W_{:,i}} = \frac{2 h_i}{\sigma_i^2}(x - W_{:,i}),\quad
              \frac{\partial h_i}{\partial \sigma_i} = \frac{2 h_i r_i^2}{\sigma_i^3}.

    ``dout`` (n, H) -> ``(dx, dW, dsigma)`` with the shapes of ``x``, ``W``, ``sigma``.
    """
    diff, sq_dist, sigma, out = cache
    g = dout * out * 2.0 / sigma**2                # (n, H)
    dx = -np.einsum("nh,ndh->nd", g, diff)
    dW = np.einsum("nh,ndh->dh", g, diff)
    dsigma = np.sum(g * sq_dist / sigma, axis=0)
    return dx, dW, dsigma


def low_rank_factors(W, q):
    r""""No activation" between two layers (Buryak's lecture): :math:`h = g(W^\top x + b)`
    becomes :math:`h = g(V^\top U^\top x + b)`, i.e. :math:`W \approx U V` of rank
    :math:`q`. The best such factors in the Frobenius norm (Eckart–Young) come from the
    truncated SVD :math:`W = P \Sigma Q^\top`: :math:`U = P_{:, :q} \Sigma_{:q}`,
    :math:`V = Q^\top_{:q, :}`.

    Shapes: ``W`` (n, p) -> ``U`` (n, q), ``V`` (q, p).
    """
    P, s, Qt = np.linalg.svd(np.asarray(W, dtype=np.float64), full_matrices=False)
    return P[:, :q] * s[:q], Qt[:q, :]


def low_rank_param_count(n, p, q):
    r"""Weights of a full :math:`n \times p` layer versus its rank-:math:`q` factorisation:
    :math:`np` versus :math:`(n + p) q` (Buryak's lecture). Returns ``(n * p, (n + p) * q)``."""
    return n * p, (n + p) * q


# --- vector-valued: softmax ---------------------------------------------------------------


def logsumexp(z, axis=-1, keepdims=False):
    r""":math:`\ln \sum_k e^{z_k}` computed as :math:`m + \ln \sum_k e^{z_k - m}` with
    :math:`m = \max_k z_k`, so that no exponent is positive."""
    z = np.asarray(z, dtype=np.float64)
    m = np.max(z, axis=axis, keepdims=True)
    out = m + np.log(np.sum(np.exp(z - m), axis=axis, keepdims=True))
    return out if keepdims else np.squeeze(out, axis=axis)


def softmax(z, axis=-1):
    r"""Softmax :math:`a_j = \frac{e^{z_j}}{\sum_k e^{z_k}}` along ``axis`` (Kitov's and Buryak's lectures).

    Shift-invariant, :math:`\mathrm{softmax}(z - m) = \mathrm{softmax}(z)`; we subtract
    :math:`m = \max_k z_k` so that every exponent is :math:`\le 0`.
    """
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - np.max(z, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def log_softmax(z, axis=-1):
    r""":math:`\ln a_j = z_j - \ln \sum_k e^{z_k}` (finite even where :math:`a_j` underflows to 0)."""
    z = np.asarray(z, dtype=np.float64)
    return z - logsumexp(z, axis=axis, keepdims=True)


def softmax_jacobian(z):
    r"""Jacobian of the softmax of one vector ``z`` (K,):
    :math:`\frac{\partial a_j}{\partial z_k} = a_j([j = k] - a_k)`, i.e.
    :math:`\mathrm{diag}(a) - a a^\top` (K, K)."""
    a = softmax(z)
    return np.diag(a) - np.outer(a, a)
