r"""Weight initialisation :math:`W^{(0)}` of a fully connected layer.

Convention (the course's): a layer computes :math:`Z = X W + b` with ``X`` of shape
``(n, fan_in)``, so ``W`` has shape ``(fan_in, fan_out)`` =
:math:`(H_{l-1}, H_l)`. PyTorch's ``nn.Linear`` stores the *transpose*,
``weight`` of shape ``(out_features, in_features)`` = ``(fan_out, fan_in)``, and
``torch.nn.init`` reads ``fan_in = weight.shape[1]``, ``fan_out = weight.shape[0]``. So
``W = weight.T``: the same numbers, the same fans, the other index order.

Every random initialiser takes ``(fan_in, fan_out, rng)`` with ``rng`` a
``numpy.random.Generator`` and is built from a deterministic ``*_from`` function of a
standard sample (``U`` uniform on :math:`[0, 1)` or ``Z`` standard normal, of shape
``(fan_in, fan_out)``). The ``*_from`` functions are what the graded notebook checks
exactly; the sampled versions are checked against ``torch.nn.init`` in distribution.

Heuristics of Vorontsov's lecture, in order:

1. equal variances of the outputs: :math:`w_{kh} \sim U(-1/\sqrt{n}, 1/\sqrt{n})` with
   :math:`n = H_{l-1}` the number of the neuron's inputs (:func:`uniform_fan_in`);
2. equal variances of the gradients (Glorot & Bengio, 2010):
   :math:`w_{kh} \sim U\bigl(-\sqrt{6}/\sqrt{H_{l-1} + H_l},\ \sqrt{6}/\sqrt{H_{l-1} + H_l}\bigr)`
   (:func:`xavier_uniform`; the lecture prints :math:`6` where :math:`\sqrt 6` belongs);
3. layer-wise training of neurons as linear models (:func:`layerwise_init`);
4. weights of a pretrained model (nothing to compute here);
5. a random orthogonal basis (:func:`orthogonal`, Saxe et al., 2014).
"""

import math

import numpy as np

# --- gains --------------------------------------------------------------------------------

_LINEAR = ("linear", "identity", "conv1d", "conv2d", "conv3d",
           "conv_transpose1d", "conv_transpose2d", "conv_transpose3d")


def calculate_gain(nonlinearity, param=None):
    r"""The gain :math:`g` of ``torch.nn.init.calculate_gain``: the factor by which an
    activation's input standard deviation must exceed :math:`1/\sqrt{\text{fan}}`.

    ============  =========================================
    linear        :math:`1` (also ``identity``, ``sigmoid``)
    tanh          :math:`5/3`
    relu          :math:`\sqrt{2}`
    leaky_relu    :math:`\sqrt{2 / (1 + a^2)}`, :math:`a` = ``param`` (default 0.01)
    selu          :math:`3/4`
    ============  =========================================

    ReLU's :math:`\sqrt 2`: for symmetric :math:`z`,
    :math:`\mathbb{E}\,\mathrm{ReLU}(z)^2 = \tfrac12 \mathbb{E} z^2`, so the variance lost
    to the zeroed half is given back by :math:`g^2 = 2` (He et al., 2015).
    """
    if nonlinearity in _LINEAR or nonlinearity == "sigmoid":
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3.0
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        a = 0.01 if param is None else float(param)
        return math.sqrt(2.0 / (1.0 + a**2))
    if nonlinearity == "selu":
        return 3.0 / 4.0
    raise ValueError(f"unsupported nonlinearity {nonlinearity!r}")


def _fan(fan_in, fan_out, mode):
    if mode == "fan_in":
        return fan_in
    if mode == "fan_out":
        return fan_out
    raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")


def _uniform_from(U, bound):
    r""":math:`W = a\,(2U - 1) \sim U(-a, a)` for :math:`U \sim U[0, 1)`."""
    return bound * (2.0 * np.asarray(U, dtype=np.float64) - 1.0)


# --- heuristic 0: what not to do ---------------------------------------------------------


def zeros(fan_in, fan_out):
    r""":math:`W = 0`. Every hidden unit then computes the same function and receives the
    same gradient, so they stay identical forever (the symmetry problem)."""
    return np.zeros((fan_in, fan_out))


# --- heuristic 1: equal output variances (Vorontsov's lecture) ------------------------------------


def uniform_fan_in_bound(fan_in):
    r"""The bound :math:`a = 1/\sqrt{n}`, :math:`n` = ``fan_in`` (Vorontsov's lecture, heuristic 1).

    It is also PyTorch's default for ``nn.Linear`` (``kaiming_uniform_`` with
    :math:`a = \sqrt 5`, whose gain :math:`\sqrt{1/3}` gives
    :math:`\sqrt{3}\cdot\sqrt{1/3}/\sqrt{n} = 1/\sqrt n`).
    """
    return 1.0 / np.sqrt(fan_in)


def uniform_fan_in(fan_in, fan_out, rng):
    r""":math:`w_{kh} \sim U(-1/\sqrt{n}, 1/\sqrt{n})`, :math:`n` = ``fan_in``; shape
    ``(fan_in, fan_out)``. :math:`\mathrm{Var}\,w = 1/(3n)`."""
    return _uniform_from(rng.random((fan_in, fan_out)), uniform_fan_in_bound(fan_in))


# --- heuristic 2: Glorot / Xavier (symmetric activations) ---------------------------------


def xavier_bound(fan_in, fan_out, gain=1.0):
    r"""Glorot's bound :math:`a = g\,\sqrt{6} / \sqrt{H_{l-1} + H_l}`.

    It makes :math:`\mathrm{Var}\,w = a^2/3 = g^2\,\frac{2}{\text{fan\_in} + \text{fan\_out}}`,
    the harmonic compromise between :math:`1/\text{fan\_in}` (forward) and
    :math:`1/\text{fan\_out}` (backward). Vorontsov's lecture prints :math:`6` instead of
    :math:`\sqrt 6`, which would give a variance 6 times too large.
    """
    return gain * np.sqrt(6.0 / (fan_in + fan_out))


def xavier_uniform_from(U, gain=1.0):
    r"""Xavier-uniform weights from a uniform sample :math:`U \in [0, 1)^{\text{fan\_in}
    \times \text{fan\_out}}`: :math:`W = a\,(2U - 1)`, :math:`a` = :func:`xavier_bound`."""
    fan_in, fan_out = np.shape(U)
    return _uniform_from(U, xavier_bound(fan_in, fan_out, gain))


def xavier_uniform(fan_in, fan_out, rng, gain=1.0):
    r""":math:`W \sim U(-a, a)`, :math:`a = g\sqrt{6/(\text{fan\_in} + \text{fan\_out})}`,
    as ``torch.nn.init.xavier_uniform_`` on ``weight = W.T``."""
    return xavier_uniform_from(rng.random((fan_in, fan_out)), gain)


def xavier_std(fan_in, fan_out, gain=1.0):
    r""":math:`\sigma = g\sqrt{2/(\text{fan\_in} + \text{fan\_out})}`."""
    return gain * np.sqrt(2.0 / (fan_in + fan_out))


def xavier_normal_from(Z, gain=1.0):
    r""":math:`W = \sigma Z` for a standard normal :math:`Z`, :math:`\sigma` = :func:`xavier_std`."""
    fan_in, fan_out = np.shape(Z)
    return xavier_std(fan_in, fan_out, gain) * np.asarray(Z, dtype=np.float64)


def xavier_normal(fan_in, fan_out, rng, gain=1.0):
    r""":math:`W \sim \mathcal{N}\bigl(0, g^2 \cdot 2/(\text{fan\_in} + \text{fan\_out})\bigr)`,
    as ``torch.nn.init.xavier_normal_``."""
    return xavier_normal_from(rng.standard_normal((fan_in, fan_out)), gain)


# --- He / Kaiming (ReLU) -------------------------------------------------------------------


def kaiming_std(fan_in, fan_out, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    r""":math:`\sigma = g / \sqrt{\text{fan}}`, fan = ``fan_in`` (keeps forward variances)
    or ``fan_out`` (keeps backward variances), :math:`g` = :func:`calculate_gain`
    ``(nonlinearity, a)``. Defaults as ``torch.nn.init.kaiming_*_`` (leaky ReLU with
    :math:`a = 0`, i.e. ReLU, :math:`g = \sqrt 2`)."""
    return calculate_gain(nonlinearity, a) / np.sqrt(_fan(fan_in, fan_out, mode))


def he_std(fan_in):
    r"""He et al. (2015) for ReLU: :math:`\sigma = \sqrt{2 / \text{fan\_in}}`."""
    return np.sqrt(2.0 / fan_in)


def he_normal_from(Z):
    r""":math:`W = \sqrt{2/\text{fan\_in}}\; Z` for a standard normal :math:`Z` of shape
    ``(fan_in, fan_out)``."""
    fan_in = np.shape(Z)[0]
    return he_std(fan_in) * np.asarray(Z, dtype=np.float64)


def kaiming_uniform(fan_in, fan_out, rng, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    r""":math:`W \sim U(-\sqrt3\,\sigma, \sqrt3\,\sigma)`, :math:`\sigma` =
    :func:`kaiming_std`, as ``torch.nn.init.kaiming_uniform_``."""
    bound = math.sqrt(3.0) * kaiming_std(fan_in, fan_out, a, mode, nonlinearity)
    return _uniform_from(rng.random((fan_in, fan_out)), bound)


def kaiming_normal(fan_in, fan_out, rng, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    r""":math:`W \sim \mathcal{N}(0, \sigma^2)`, :math:`\sigma` = :func:`kaiming_std`, as
    ``torch.nn.init.kaiming_normal_``."""
    std = kaiming_std(fan_in, fan_out, a, mode, nonlinearity)
    return std * rng.standard_normal((fan_in, fan_out))


def he_uniform(fan_in, fan_out, rng):
    r""":math:`W \sim U(-\sqrt{6/\text{fan\_in}}, \sqrt{6/\text{fan\_in}})` (ReLU)."""
    return kaiming_uniform(fan_in, fan_out, rng, nonlinearity="relu")


def he_normal(fan_in, fan_out, rng):
    r""":math:`W \sim \mathcal{N}(0, 2/\text{fan\_in})` (ReLU)."""
    return he_normal_from(rng.standard_normal((fan_in, fan_out)))


# --- LeCun ---------------------------------------------------------------------------------


def lecun_uniform(fan_in, fan_out, rng):
    r"""LeCun et al. (1998): :math:`\mathrm{Var}\,w = 1/\text{fan\_in}`, here as
    :math:`U(-\sqrt{3/\text{fan\_in}}, \sqrt{3/\text{fan\_in}})`; PyTorch:
    ``kaiming_uniform_(weight, nonlinearity="linear")``."""
    return kaiming_uniform(fan_in, fan_out, rng, nonlinearity="linear")


def lecun_normal(fan_in, fan_out, rng):
    r""":math:`W \sim \mathcal{N}(0, 1/\text{fan\_in})`; PyTorch:
    ``kaiming_normal_(weight, nonlinearity="linear")``. (Keras truncates this normal at
    two standard deviations; we do not.)"""
    return kaiming_normal(fan_in, fan_out, rng, nonlinearity="linear")


# --- heuristic 5: a random orthogonal basis --------------------------------------------------


def orthogonal_from(G, gain=1.0):
    r"""The orthogonal factor of a Gaussian matrix ``G`` of shape ``(fan_in, fan_out)``,
    exactly as ``torch.nn.init.orthogonal_`` computes it for ``weight = W.T``.

    Take the tall one of :math:`G` and :math:`G^\top` (:math:`G` itself when
    fan_in > fan_out, as torch transposes its wide ``(fan_out, fan_in)`` sample),
    factor it :math:`= QR` (reduced QR), and multiply column :math:`j` of :math:`Q` by
    :math:`\operatorname{sign} R_{jj}`: this makes the factorisation unique and :math:`Q`
    Haar-distributed (Mezzadri, 2007). Then :math:`W^\top W = g^2 I` if
    fan_in :math:`\ge` fan_out, else :math:`W W^\top = g^2 I`.
    """
    G = np.asarray(G, dtype=np.float64)
    fan_in, fan_out = G.shape
    tall = fan_in > fan_out
    Q, R = np.linalg.qr(G if tall else G.T)
    Q = Q * np.sign(np.diag(R))
    return gain * (Q if tall else Q.T)


def orthogonal(fan_in, fan_out, rng, gain=1.0):
    r"""A random (semi-)orthogonal ``W`` of shape ``(fan_in, fan_out)``, see
    :func:`orthogonal_from`; as ``torch.nn.init.orthogonal_``."""
    return orthogonal_from(rng.standard_normal((fan_in, fan_out)), gain)


# --- heuristic 3: layer-wise training of neurons as linear models ---------------------------


def layerwise_init(X, y, fan_out, rng, subsample=0.5, reg=1e-3):
    r"""Vorontsov's lecture, heuristic 3: train each neuron of the first layer on its own as a linear
    model of the target, each on its own random subsample :math:`X' \subseteq X^\ell`, so
    that the neurons start *different* and already informative.

    Neuron :math:`h` is the ridge regression of ``y`` (shape ``(n,)``) on a random fraction
    ``subsample`` of the rows of ``X`` (shape ``(n, fan_in)``):
    :math:`w_h = (X'^\top X' + \lambda I)^{-1} X'^\top y'`. Returns ``W`` of shape
    ``(fan_in, fan_out)``. A sketch of the idea, not a method in common use today.
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    n, fan_in = X.shape
    m = min(n, max(2, int(subsample * n)))
    W = np.empty((fan_in, fan_out))
    for h in range(fan_out):
        rows = rng.choice(n, size=m, replace=False)
        Xs, ys = X[rows], y[rows]
        W[:, h] = np.linalg.solve(Xs.T @ Xs + reg * np.eye(fan_in), Xs.T @ ys)
    return W
