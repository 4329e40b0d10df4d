r"""One neuron: :math:`\hat y(x) = \sigma(\langle x, w\rangle + b)` (Troeshestova's lecture).

With a batch ``X`` of shape ``(n, d)`` (one object per row) the outputs of the neuron
for all objects at once are :math:`\hat y = \sigma(Xw + b)`, shape ``(n,)``.

Three choices of the activation :math:`\sigma` turn the neuron into three classical
models (Troeshestova's lecture):

=====================  ==========================  ==============================
activation             model                        natural loss
=====================  ==========================  ==============================
:math:`\sigma(z) = z`  linear regression            MSE
sigmoid                logistic regression          binary cross-entropy
:math:`e^z`            Poisson regression           Poisson negative log-likelihood
=====================  ==========================  ==============================

and the threshold :math:`[z > 0]` gives the McCulloch–Pitts neuron (Vorontsov's lecture).
Training is gradient descent :math:`\theta_t = \theta_{t-1} - \eta \nabla L(\theta_{t-1})`
with :math:`\theta = (w, b)`.
"""

import numpy as np

from . import activations, losses


def _activation(sigma):
    """``sigma`` as a function: a callable, or the name of one in :mod:`nnref.activations`."""
    return getattr(activations, sigma) if isinstance(sigma, str) else sigma


def neuron(X, w, b, sigma="identity"):
    r"""Outputs of one neuron for a batch: :math:`\hat y = \sigma(Xw + b)`,
    i.e. :math:`\hat y_i = \sigma\bigl(\sum_{j=1}^d x_{ij} w_j + b\bigr)`.

    Shapes: ``X`` (n, d), ``w`` (d,), ``b`` a number -> (n,). ``sigma`` is a function or
    the name of one in :mod:`nnref.activations` (``"identity"``, ``"sigmoid"``, ``"exp"``, ...).
    """
    X, w = np.asarray(X, dtype=np.float64), np.asarray(w, dtype=np.float64)
    return _activation(sigma)(X @ w + b)


def mcculloch_pitts(X, w, w0):
    r"""McCulloch–Pitts neuron with the lecture's threshold convention (Vorontsov's lecture):

    .. math:: a(x, w) = \Bigl[\sum_{j=1}^d w_j x^j - w_0 > 0\Bigr],

    the neuron with bias :math:`b = -w_0` and the Heaviside activation.
    Shapes: ``X`` (n, d), ``w`` (d,), ``w0`` a number -> (n,) of 0.0 / 1.0.
    """
    return neuron(X, w, -w0, activations.heaviside)


def predict_linear(X, w, b):
    r"""Linear regression as one neuron, identity activation :math:`\sigma(z) = z`:
    :math:`\hat y = Xw + b`."""
    return neuron(X, w, b, activations.identity)


def predict_logistic(X, w, b):
    r"""Logistic regression as one neuron, sigmoid activation
    :math:`\sigma(z) = \frac{1}{1 + e^{-z}}`: :math:`\hat y = P(y = 1 \mid x) = \sigma(Xw + b)`."""
    return neuron(X, w, b, activations.sigmoid)


def predict_poisson(X, w, b):
    r"""Poisson regression as one neuron, exponential activation :math:`\sigma(z) = e^z`:
    :math:`\hat y = \lambda(x) = \mathbb{E}[y \mid x] = e^{Xw + b}`."""
    return neuron(X, w, b, activations.exp)


def _loss(name):
    """The pair ``(loss, loss_grad)`` of :mod:`nnref.losses` named ``name``."""
    return getattr(losses, name), getattr(losses, f"{name}_grad")


def neuron_gradient(X, y, w, b, sigma="identity", loss="mse"):
    r"""Gradient of the loss of one neuron in its parameters, by the chain rule.

    With :math:`z = Xw + b` and :math:`\hat y = \sigma(z)`, let
    :math:`\delta_i = \frac{\partial L}{\partial \hat y_i}\,\sigma'(z_i)`. Then

    .. math:: \nabla_w L = X^\top \delta, \qquad \frac{\partial L}{\partial b} = \sum_{i=1}^n \delta_i.

    For each model with its natural loss :math:`\delta_i` is the same expression up
    to a constant: :math:`\frac2n(\hat y_i - y_i)` (linear, MSE),
    :math:`\frac1n(\hat y_i - y_i)` (logistic, cross-entropy; Poisson, Poisson NLL).
    Returns ``(dw, db)``; ``sigma`` names an activation with a ``_prime``, ``loss`` a loss
    of :mod:`nnref.losses` or ``"poisson_nll"``.
    """
    X, w = np.asarray(X, dtype=np.float64), np.asarray(w, dtype=np.float64)
    z = X @ w + b
    y_hat = getattr(activations, sigma)(z)
    _, loss_grad = _loss(loss)
    delta = loss_grad(y_hat, y) * getattr(activations, f"{sigma}_prime")(z)
    return X.T @ delta, float(np.sum(delta))


#: model -> (activation, its natural loss, the constant c of the canonical-link gradient)
CANONICAL_MODELS = {"linear": ("identity", "mse", 2.0),
                    "logistic": ("sigmoid", "binary_cross_entropy", 1.0),
                    "poisson": ("exp", "poisson_nll", 1.0)}


def canonical_gradient(X, y, w, b, model):
    r"""Gradient of a one-neuron model with its natural loss in the residual form that the
    canonical link gives (linear + MSE, logistic + binary cross-entropy, Poisson + Poisson
    NLL; Troeshestova's lecture):

    .. math:: \nabla_w L = \frac{c}{n} X^\top (\hat y - y), \qquad
              \frac{\partial L}{\partial b} = \frac{c}{n} \sum_{i=1}^n (\hat y_i - y_i),

    with :math:`\hat y = \sigma(Xw + b)`, :math:`c = 2` for ``"linear"`` and :math:`c = 1`
    for ``"logistic"`` and ``"poisson"``. Equal to :func:`neuron_gradient` (the chain rule),
    and exact where the chain rule loses digits (a saturated sigmoid). Returns ``(dw, db)``.
    """
    sigma, _, c = CANONICAL_MODELS[model]
    X = np.asarray(X, dtype=np.float64)
    residual = neuron(X, w, b, sigma) - np.asarray(y, dtype=np.float64)
    n = X.shape[0]
    return c / n * (X.T @ residual), float(c / n * np.sum(residual))


def mse_gradient(X, y, w, b):
    r"""Gradient of :math:`L = \frac1n\sum_i (\hat y_i - y_i)^2` for the linear neuron
    :math:`\hat y = Xw + b`:

    .. math:: \nabla_w L = \frac2n X^\top (\hat y - y), \qquad
              \frac{\partial L}{\partial b} = \frac2n \sum_{i=1}^n (\hat y_i - y_i).

    Returns ``(dw, db)`` with the shapes of ``w`` (d,) and ``b`` (a float).
    """
    X = np.asarray(X, dtype=np.float64)
    residual_grad = losses.mse_grad(predict_linear(X, w, b), y)  # (2/n)(y_hat - y)
    return X.T @ residual_grad, float(np.sum(residual_grad))


def mse_gd_step(X, y, w, b, eta):
    r"""One gradient-descent step of the linear neuron on the MSE (Troeshestova's lecture):

    .. math:: \theta_t = \theta_{t-1} - \eta \nabla L(\theta_{t-1}), \qquad \theta = (w, b).

    Returns the new ``(w, b)``; the inputs are not modified.
    """
    dw, db = mse_gradient(X, y, w, b)
    return np.asarray(w, dtype=np.float64) - eta * dw, float(b - eta * db)


def fit_neuron_gd(X, y, eta, steps, sigma="identity", loss="mse", w=None, b=0.0):
    r"""Fit one neuron by ``steps`` full-batch gradient-descent steps
    :math:`\theta_t = \theta_{t-1} - \eta \nabla L(\theta_{t-1})`, from ``w`` (zeros by
    default) and ``b``.

    Returns ``(w, b, history)`` where ``history[t]`` is :math:`L(\theta_t)` for
    :math:`t = 0, \dots, \text{steps}` (the first entry is the loss at the start).
    """
    X = np.asarray(X, dtype=np.float64)
    w = np.zeros(X.shape[1]) if w is None else np.array(w, dtype=np.float64)
    loss_fn, _ = _loss(loss)
    history = [loss_fn(neuron(X, w, b, sigma), y)]
    for _ in range(steps):
        dw, db = neuron_gradient(X, y, w, b, sigma, loss)
        w, b = w - eta * dw, b - eta * db
        history.append(loss_fn(neuron(X, w, b, sigma), y))
    return w, float(b), history


def least_squares(X, y):
    r"""The exact minimiser of the MSE of the linear neuron ("solvable analytically",
    Troeshestova's lecture): with :math:`\tilde X = [X, \mathbf 1]`,
    :math:`(w, b) = \arg\min \|\tilde X \theta - y\|^2`, the solution of the normal
    equations :math:`\tilde X^\top \tilde X \theta = \tilde X^\top y`. Returns ``(w, b)``.
    """
    X = np.asarray(X, dtype=np.float64)
    X_tilde = np.column_stack([X, np.ones(len(X))])
    theta = np.linalg.lstsq(X_tilde, np.asarray(y, dtype=np.float64), rcond=None)[0]
    return theta[:-1], float(theta[-1])


def mse_max_stable_eta(X):
    r"""The largest step for which gradient descent on the MSE of a linear neuron converges.

    The MSE is a quadratic with Hessian :math:`H = \frac2n \tilde X^\top \tilde X`
    (:math:`\tilde X = [X, \mathbf 1]`); gradient descent converges from every start iff
    :math:`0 < \eta < 2 / \lambda_{\max}(H)`.
    """
    X = np.asarray(X, dtype=np.float64)
    X_tilde = np.column_stack([X, np.ones(len(X))])
    hessian = 2.0 / len(X) * X_tilde.T @ X_tilde
    return float(2.0 / np.linalg.eigvalsh(hessian)[-1])
