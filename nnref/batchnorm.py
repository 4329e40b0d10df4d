r"""Batch Normalization (Ioffe & Szegedy, 2015) for a batch ``x`` of shape ``(n, d)``.

Training mode, for every feature (column) :math:`h` over the batch :math:`B` (Vorontsov's and the *Deep learning* lectures):

.. math::
    \mu_h = \frac{1}{n}\sum_{i=1}^n x_{ih}, \qquad
    \sigma_h^2 = \frac{1}{n}\sum_{i=1}^n (x_{ih} - \mu_h)^2, \qquad
    \hat x_{ih} = \frac{x_{ih} - \mu_h}{\sqrt{\sigma_h^2 + \varepsilon}}, \qquad
    y_{ih} = \gamma_h \hat x_{ih} + \beta_h .

Running statistics, PyTorch's convention (``momentum`` :math:`m` = 0.1 by default):

.. math::
    \bar\mu := (1 - m)\,\bar\mu + m\,\mu, \qquad
    \bar\sigma^2 := (1 - m)\,\bar\sigma^2 + m\,\tfrac{n}{n-1}\,\sigma^2 ,

that is, the batch normalises with the *biased* variance :math:`\sigma^2` but the running
estimate averages the *unbiased* :math:`\frac{n}{n-1}\sigma^2`. Evaluation mode uses the
running statistics: :math:`y = \gamma\,(x - \bar\mu)/\sqrt{\bar\sigma^2 + \varepsilon} + \beta`.
(Note: PyTorch's ``momentum`` is the weight of the *new* batch, the opposite of the
optimiser's momentum.)
"""

import numpy as np


def _defaults(bn_param, d):
    bn_param.setdefault("mode", "train")
    bn_param.setdefault("eps", 1e-5)
    bn_param.setdefault("momentum", 0.1)
    bn_param.setdefault("running_mean", np.zeros(d))
    bn_param.setdefault("running_var", np.ones(d))
    return bn_param


def batch_statistics(x):
    r"""Per-feature batch mean and *biased* variance of ``x`` (n, d):
    :math:`\mu_h = \frac1n\sum_i x_{ih}`, :math:`\sigma_h^2 = \frac1n\sum_i (x_{ih} - \mu_h)^2`."""
    x = np.asarray(x, dtype=np.float64)
    if x.shape[0] < 2:
        raise ValueError("batch normalisation in training mode needs more than one "
                         "object per batch")
    return x.mean(axis=0), x.var(axis=0)


def running_stats_update(running_mean, running_var, x, momentum=0.1):
    r"""One update of the running statistics by the batch ``x`` (n, d), PyTorch's convention:

    .. math::
        \bar\mu := (1 - m)\,\bar\mu + m\,\mu, \qquad
        \bar\sigma^2 := (1 - m)\,\bar\sigma^2 + m\,\frac{n}{n - 1}\,\sigma^2 .

    Returns the new ``(running_mean, running_var)``, both of shape (d,).
    """
    mu, var = batch_statistics(x)
    return _running_update(running_mean, running_var, mu, var, np.shape(x)[0], momentum)


def _running_update(running_mean, running_var, mu, var, n, momentum):
    """The formula of :func:`running_stats_update`, from the batch's biased ``var``."""
    return ((1 - momentum) * running_mean + momentum * mu,
            (1 - momentum) * running_var + momentum * var * n / (n - 1))


def batchnorm_forward(x, gamma, beta, bn_param):
    r"""Batch normalisation, :math:`y = \gamma \odot \hat x + \beta`.

    Shapes: ``x`` (n, d), ``gamma`` and ``beta`` (d,) -> ``out`` (n, d).

    ``bn_param`` is a dict: ``mode`` (``"train"`` or ``"eval"``, default train), ``eps``
    (default 1e-5), ``momentum`` (default 0.1), ``running_mean`` (default zeros) and
    ``running_var`` (default ones). In training mode the batch is normalised by its own
    statistics and the running statistics in ``bn_param`` are replaced by their update
    (:func:`running_stats_update`); missing entries are filled with the defaults.

    Returns ``(out, cache)``.
    """
    x = np.asarray(x, dtype=np.float64)
    p = _defaults(bn_param, x.shape[1])
    if p["mode"] == "train":
        mu, var = batch_statistics(x)
        p["running_mean"], p["running_var"] = _running_update(
            p["running_mean"], p["running_var"], mu, var, x.shape[0], p["momentum"])
    elif p["mode"] == "eval":
        mu, var = p["running_mean"], p["running_var"]
    else:
        raise ValueError(f"mode must be 'train' or 'eval', got {p['mode']!r}")
    inv_std = 1.0 / np.sqrt(var + p["eps"])
    x_hat = (x - mu) * inv_std
    out = gamma * x_hat + beta
    return out, (x_hat, gamma, inv_std, p["mode"])


def batchnorm_backward(dout, cache):
    r"""Gradients of batch normalisation, given :math:`\partial L/\partial y` = ``dout`` (n, d).

    .. math::
        \frac{\partial L}{\partial \beta_h} = \sum_i \frac{\partial L}{\partial y_{ih}},\qquad
        \frac{\partial L}{\partial \gamma_h} = \sum_i \frac{\partial L}{\partial y_{ih}}\,\hat x_{ih},

    and in training mode (the batch statistics depend on :math:`x`), with
    :math:`g_{ih} = \gamma_h\,\partial L/\partial y_{ih}`, the compact form

    .. math::
        \frac{\partial L}{\partial x_{ih}} = \frac{1}{n\sqrt{\sigma_h^2 + \varepsilon}}
        \Bigl(n\, g_{ih} - \sum_j g_{jh} - \hat x_{ih} \sum_j g_{jh}\,\hat x_{jh}\Bigr):

    the upstream gradient with its mean and its projection on :math:`\hat x` removed.
    In evaluation mode the statistics are constants and
    :math:`\partial L/\partial x = g / \sqrt{\bar\sigma^2 + \varepsilon}`.

    Returns ``(dx, dgamma, dbeta)`` with the shapes of ``x``, ``gamma``, ``beta``.
    """
    x_hat, gamma, inv_std, mode = cache
    n = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * x_hat).sum(axis=0)
    g = dout * gamma
    if mode == "eval":
        return g * inv_std, dgamma, dbeta
    dx = inv_std / n * (n * g - g.sum(axis=0) - x_hat * (g * x_hat).sum(axis=0))
    return dx, dgamma, dbeta


def batchnorm_train(x, gamma, beta, eps=1e-5):
    r"""Training-mode output :math:`\gamma \odot (x - \mu)/\sqrt{\sigma^2 + \varepsilon} + \beta`
    alone (no running statistics): :func:`batchnorm_forward` as a pure function."""
    return batchnorm_forward(x, gamma, beta, {"mode": "train", "eps": eps})[0]


def batchnorm_eval(x, gamma, beta, running_mean, running_var, eps=1e-5):
    r"""Evaluation-mode output from the running statistics, each object on its own:

    .. math:: y_{ih} = \gamma_h\,\frac{x_{ih} - \bar\mu_h}{\sqrt{\bar\sigma_h^2 + \varepsilon}} + \beta_h .

    :func:`batchnorm_forward` in ``"eval"`` mode as a pure function (``torch.nn.BatchNorm1d``
    after ``.eval()``). Shapes: ``x`` (n, d), the others (d,) -> (n, d); any n >= 1.
    """
    return batchnorm_forward(x, gamma, beta, {"mode": "eval", "eps": eps,
                                              "running_mean": np.asarray(running_mean, dtype=np.float64),
                                              "running_var": np.asarray(running_var, dtype=np.float64)})[0]


def batchnorm_train_backward(dout, x, gamma, eps=1e-5):
    r"""``(dx, dgamma, dbeta)`` of training-mode batch normalisation at ``x``, ``gamma``
    for the upstream gradient ``dout``: :func:`batchnorm_backward` as a pure function
    (the gradients do not depend on :math:`\beta`)."""
    _, cache = batchnorm_forward(x, gamma, np.zeros_like(gamma), {"mode": "train", "eps": eps})
    return batchnorm_backward(dout, cache)


class BatchNorm1d:
    r"""A batch-normalisation layer with learnable :math:`\gamma` (ones) and :math:`\beta`
    (zeros), like ``torch.nn.BatchNorm1d(d)`` on inputs of shape ``(n, d)``.

    ``params = {"gamma": ..., "beta": ...}`` and ``grads`` (after :meth:`backward`) fit the
    optimiser interface ``opt.step(params, grads)``; ``train()`` / ``eval()`` switch the
    mode; ``bn_param`` holds the running statistics.
    """

    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        self.params = {"gamma": np.ones(num_features), "beta": np.zeros(num_features)}
        self.bn_param = {"mode": "train", "eps": eps, "momentum": momentum,
                         "running_mean": np.zeros(num_features),
                         "running_var": np.ones(num_features)}
        self.grads, self.cache = {}, None

    @property
    def training(self):
        return self.bn_param["mode"] == "train"

    @property
    def running_mean(self):
        return self.bn_param["running_mean"]

    @property
    def running_var(self):
        return self.bn_param["running_var"]

    def train(self, mode=True):
        self.bn_param["mode"] = "train" if mode else "eval"
        return self

    def eval(self):
        return self.train(False)

    def forward(self, x):
        """``out`` (n, d) for ``x`` (n, d); keeps the cache for :meth:`backward`."""
        out, self.cache = batchnorm_forward(x, self.params["gamma"], self.params["beta"],
                                            self.bn_param)
        return out

    __call__ = forward

    def backward(self, dout):
        """``dx`` for ``dout``; stores ``grads = {"gamma": ..., "beta": ...}``."""
        dx, dgamma, dbeta = batchnorm_backward(dout, self.cache)
        self.grads = {"gamma": dgamma, "beta": dbeta}
        return dx
