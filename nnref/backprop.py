r"""Backpropagation: the chain rule on a computational graph, in three forms.

1. **Vorontsov's lecture's BackProp**, one object at a time, with the *layer errors*
   :math:`\varepsilon^l_h = \partial \mathcal{L}_i / \partial x^l_h` and the bias folded in
   as a constant feature :math:`x^l_0 = -1`: :func:`backprop_forward`,
   :func:`backprop_backward`, :func:`backprop_gradient`, :func:`backprop_sg_step`,
   :func:`backprop_sg`.
2. **The matrix form** of Troeshestova's lecture's board problem,
   :math:`\hat y = \tanh(\mathrm{ReLU}(XW_1 + \mathbf{1}b_1^\top)W_2 + \mathbf{1}b_2^\top)`
   with MSE: :func:`board_net_forward`, :func:`board_net_grads`,
   :func:`board_net_sgd_step`. (The general matrix form is :class:`nnref.mlp.MLP`.)
3. **A tiny scalar autodiff graph** (:class:`Value`, micrograd-like) for the *Deep learning* lecture's
   example, with a count of the multiplications that the naive sum over paths needs
   and that backprop needs: :func:`path_sum_gradient`, :func:`multiplication_counts`.

Plus loss layers in CS231n's shape (:func:`loss_forward`, :func:`loss_backward`), the
gradient norm per layer of a deep net (:func:`chain_gradient_norms`, vanishing and
exploding gradients, Troeshestova's lecture's problem 2) and Buryak's lecture's chain of single neurons
(:func:`neuron_chain_bias_grads`).
"""

import numpy as np

from . import activations, layers, losses
from .mlp import MLP, loss_and_grads

# --- 1. Vorontsov's lecture: BackProp with layer errors, one object at a time --------------------
#
# Weights of layer l are the matrix W^l = (w^l_kh) of shape (H_{l-1} + 1, H_l); row k = 0
# multiplies the constant feature x^{l-1}_0 = -1, so it holds minus the bias.


def lecture_weights(params):
    r"""Matrix-form parameters ``{"W1", "b1", ...}`` (:class:`nnref.mlp.MLP`) as lecture
    000's matrices :math:`W^l` of shape :math:`(H_{l-1} + 1) \times H_l`.

    Since :math:`x_0 = -1`, :math:`S_h = \sum_{k=0}^{H_{l-1}} w_{kh} x_k
    = \sum_{k \ge 1} w_{kh} x_k - w_{0h}`, so row 0 is :math:`w_{0h} = -b_h`.
    """
    L = len(params) // 2
    return [np.vstack([-params[f"b{l}"], params[f"W{l}"]]) for l in range(1, L + 1)]


def matrix_params(weights):
    r"""Inverse of :func:`lecture_weights`: :math:`W_l = W^l_{1:}`, :math:`b_l = -W^l_{0}`."""
    params = {}
    for l, W in enumerate(weights, start=1):
        params[f"W{l}"], params[f"b{l}"] = W[1:].copy(), -W[0].copy()
    return params


def with_constant_feature(x):
    r"""Prepend the constant feature: :math:`(x_1, \dots, x_H) \mapsto (-1, x_1, \dots, x_H)`."""
    return np.concatenate([[-1.0], x])


def backprop_forward(x, weights, sigmas):
    r"""Forward pass of Vorontsov's lecture for one object :math:`x` (shape ``(n,)``):

    .. math:: S^l_h = \sum_{k=0}^{H_{l-1}} w^l_{kh} x^{l-1}_k,\qquad
              x^l_h = \sigma^l_h(S^l_h),\qquad z^l_h = (\sigma^l_h)'(S^l_h).

    ``sigmas[l-1]`` names the activation of layer ``l`` in :mod:`nnref.activations`.
    Returns the lists ``xs`` (:math:`x^0, \dots, x^L`, each hidden one with its
    :math:`x_0 = -1` in front, the output without) and ``zs`` (:math:`z^1, \dots, z^L`).
    """
    xs, zs = [with_constant_feature(np.asarray(x, dtype=np.float64))], []
    L = len(weights)
    for l, (W, sigma) in enumerate(zip(weights, sigmas), start=1):
        S = W.T @ xs[-1]                                   # S_h = sum_k w_kh x_k
        x_l = getattr(activations, sigma)(S)               # x_h = sigma(S_h)
        zs.append(getattr(activations, f"{sigma}_prime")(S))  # z_h = sigma'(S_h)
        xs.append(x_l if l == L else with_constant_feature(x_l))
    return xs, zs


def quadratic_error(a, y):
    r"""Output-layer error of Vorontsov's lecture's quadratic loss
    :math:`\mathcal{L}_i = \sum_m \tfrac12 (a_m - y_m)^2`:
    :math:`\varepsilon^L_m = \partial \mathcal{L}_i / \partial a_m = a_m - y_m`."""
    return a - y


def backprop_backward(eps_L, weights, zs):
    r"""Backward pass of Vorontsov's lecture: the layer errors, from :math:`\varepsilon^L` down,

    .. math:: \varepsilon^{l-1}_k = \sum_{h=1}^{H_l} \varepsilon^l_h\, z^l_h\, w^l_{kh},
              \qquad k = 1, \dots, H_{l-1},\quad l = L, \dots, 2.

    (The lecture lets :math:`h` start at 0; the constant :math:`x^l_0 = -1` does not
    depend on anything, so that term is absent.) Returns
    ``[eps^1, ..., eps^L]``, ``eps^l`` of shape ``(H_l,)``.
    """
    eps = [np.asarray(eps_L, dtype=np.float64)]
    for l in range(len(weights), 1, -1):
        W, z = weights[l - 1], zs[l - 1]
        eps.insert(0, W[1:] @ (eps[0] * z))               # sum_h w_kh eps_h z_h, k >= 1
    return eps


def backprop_gradient(x, y, weights, sigmas, output_error=quadratic_error):
    r"""Gradient of the loss on one object, Vorontsov's lecture:

    .. math:: \frac{\partial \mathcal{L}_i}{\partial w^l_{kh}}
              = \varepsilon^l_h\, z^l_h\, x^{l-1}_k .

    ``output_error(a, y)`` is :math:`\varepsilon^L = \partial\mathcal{L}_i/\partial a`
    (default: the quadratic loss, :math:`a - y`). Returns a list of arrays shaped like
    ``weights``.
    """
    xs, zs = backprop_forward(x, weights, sigmas)
    eps = backprop_backward(output_error(xs[-1], np.asarray(y, dtype=np.float64)), weights, zs)
    return [np.outer(xs[l - 1], eps[l - 1] * zs[l - 1]) for l in range(1, len(weights) + 1)]


def quadratic_loss(x, y, weights, sigmas):
    r"""Vorontsov's lecture's loss on one object, :math:`\mathcal{L}_i = \sum_m \tfrac12 (a_m - y_m)^2`."""
    a = backprop_forward(x, weights, sigmas)[0][-1]
    return float(0.5 * np.sum((a - y) ** 2))


def backprop_sg_step(x, y, weights, sigmas, eta):
    r"""One step of Vorontsov's lecture's algorithm on object :math:`(x, y)`, in place:
    :math:`w^l_{kh} := w^l_{kh} - \eta\, \varepsilon^l_h z^l_h x^{l-1}_k`.
    Returns the loss :math:`\mathcal{L}_i` before the step."""
    loss = quadratic_loss(x, y, weights, sigmas)
    for W, grad in zip(weights, backprop_gradient(x, y, weights, sigmas)):
        W -= eta * grad
    return loss


def backprop_sg(X, Y, weights, sigmas, eta, steps, lam=None, seed=0):
    r"""Vorontsov's lecture's BackProp with stochastic gradient: ``steps`` times pick an object
    at random, make :func:`backprop_sg_step`, and track the exponential estimate of
    the mean loss :math:`Q := (1 - \lambda) Q + \lambda \mathcal{L}_i`
    (:math:`\lambda = 1/\ell` by default; :math:`Q` starts at the mean loss).
    ``weights`` is updated in place; returns the history of :math:`Q`.
    """
    rng = np.random.default_rng(seed)
    ell = len(X)
    lam = 1.0 / ell if lam is None else lam
    Q = np.mean([quadratic_loss(x, y, weights, sigmas) for x, y in zip(X, Y)])
    history = []
    for _ in range(steps):
        i = rng.integers(ell)
        loss_i = backprop_sg_step(X[i], Y[i], weights, sigmas, eta)
        Q = (1 - lam) * Q + lam * loss_i
        history.append(Q)
    return np.array(history)


# --- 2. Matrix form: Troeshestova's lecture's board net, loss layers, the graded signatures -----------


def board_net_forward(X, W1, b1, W2, b2):
    r"""Troeshestova's lecture's board net :math:`\hat y = \tanh\bigl(\mathrm{ReLU}(XW_1 +
    \mathbf{1}b_1^\top)W_2 + \mathbf{1}b_2^\top\bigr)`.

    Shapes: ``X`` (n, d), ``W1`` (d, H), ``b1`` (H,), ``W2`` (H, 1), ``b2`` (1,)
    -> ``y_hat`` (n, 1).
    """
    return activations.tanh(activations.relu(X @ W1 + b1) @ W2 + b2)


def board_net_grads(X, y, W1, b1, W2, b2):
    r"""Gradients of :math:`L = \mathrm{MSE}(\hat y, y) = \frac1n\sum_i(\hat y_i - y_i)^2`
    for the board net, backwards: Troeshestova's lecture's solution, each gradient in the shape of its
    variable (the lecture's products are the transposes, in the numerator layout):

    .. math::
        \frac{\partial L}{\partial \hat y} = \tfrac{2}{n}(\hat y - y),\quad
        \frac{\partial L}{\partial Z_2} = \frac{\partial L}{\partial \hat y}
            \odot (1 - \hat y^{\,2}),\quad
        \frac{\partial L}{\partial W_2} = A_1^\top \frac{\partial L}{\partial Z_2},\quad
        \frac{\partial L}{\partial b_2} = \sum_{i=1}^n
            \Bigl(\frac{\partial L}{\partial Z_2}\Bigr)_{i\cdot},

        \frac{\partial L}{\partial Z_1} = \Bigl(\frac{\partial L}{\partial Z_2} W_2^\top\Bigr)
              \odot [Z_1 > 0],\quad
        \frac{\partial L}{\partial W_1} = X^\top \frac{\partial L}{\partial Z_1},\quad
        \frac{\partial L}{\partial b_1} = \sum_{i=1}^n
            \Bigl(\frac{\partial L}{\partial Z_1}\Bigr)_{i\cdot}.

    ``y`` of shape (n,) or (n, 1). Returns a dict ``W1, b1, W2, b2`` of arrays shaped like
    the parameters: (d, H), (H,), (H, 1), (1,).
    """
    Z1 = X @ W1 + b1
    A1 = activations.relu(Z1)
    y_hat = activations.tanh(A1 @ W2 + b2)
    dy_hat = losses.mse_grad(y_hat, np.reshape(y, y_hat.shape))   # (2/n)(y_hat - y), (n, 1)
    dZ2 = dy_hat * (1.0 - y_hat**2)                                # tanh' = 1 - tanh^2
    dA1 = dZ2 @ W2.T                                               # (n, H)
    dZ1 = dA1 * activations.relu_prime(Z1)                         # ReLU mask [Z1 > 0]
    return {"W1": X.T @ dZ1, "b1": dZ1.sum(axis=0),
            "W2": A1.T @ dZ2, "b2": dZ2.sum(axis=0).reshape(np.shape(b2))}


def board_net_sgd_step(X, y, W1, b1, W2, b2, eta):
    r"""Troeshestova's lecture's update rules :math:`W_i := W_i - \eta\,\partial L/\partial W_i`,
    :math:`b_i := b_i - \eta\,\partial L/\partial b_i` on the batch ``(X, y)``.
    Returns the new parameters as a dict (the inputs are not modified)."""
    params = {"W1": W1, "b1": b1, "W2": W2, "b2": b2}
    grads = board_net_grads(X, y, W1, b1, W2, b2)
    return {name: params[name] - eta * grads[name] for name in params}


def loss_forward(y_hat, y, name="mse"):
    r"""A loss as a layer: the value :math:`\mathcal{L}(\hat y, y)` of ``losses.<name>``
    (mean over the batch) and the cache for :func:`loss_backward`."""
    return getattr(losses, name)(y_hat, y), (y_hat, y, name)


def loss_backward(cache, dout=1.0):
    r""":math:`\partial(\text{dout}\cdot\mathcal{L})/\partial \hat y` from
    ``losses.<name>_grad``: the start of every backward pass (``dout = 1``)."""
    y_hat, y, name = cache
    return dout * getattr(losses, f"{name}_grad")(y_hat, y)


def linear_grads(dout, x, W):
    r""":func:`nnref.layers.linear_backward` with the cache spelled out, the graded
    notebook's signature: :math:`(\partial L/\partial Z\, W^\top,\ X^\top \partial L/\partial Z,
    \ \sum_i (\partial L/\partial Z)_{i\cdot})`. Shapes: ``dout`` (n, H), ``x`` (n, d),
    ``W`` (d, H)."""
    return layers.linear_backward(dout, (x, W))


def tanh_backward(dout, z):
    r""":math:`\partial L/\partial Z = \partial L/\partial A \odot (1 - \tanh^2 Z)`."""
    return layers.activation_backward(dout, (z, "tanh"))


def relu_backward(dout, z):
    r""":math:`\partial L/\partial Z = \partial L/\partial A \odot [Z > 0]` (the ReLU mask)."""
    return layers.activation_backward(dout, (z, "relu"))


# --- vanishing and exploding gradients ------------------------------------------------------


def deep_net(depth, width, activation="tanh", gain=3**-0.5, seed=0):
    r"""A ``depth``-layer net of ``width`` neurons per layer, the activation also on the
    output (Troeshestova's lecture, problem 2: :math:`\hat y = A_N`). Weights
    :math:`w_{kh} \sim \mathcal{N}(0, \text{gain}^2/\text{width})`; biases uniform on
    :math:`\pm 1/\sqrt{\text{width}}` as PyTorch's ``nn.Linear`` starts them. The default
    gain :math:`1/\sqrt3` gives the weights the variance of PyTorch's default start
    (uniform on :math:`\pm 1/\sqrt{\text{width}}`)."""
    net = MLP([width] * (depth + 1), activation=activation, output=activation,
              seed=seed, scale=gain / np.sqrt(width))
    rng = np.random.default_rng(seed + 1)
    for l in range(1, depth + 1):
        net.params[f"b{l}"] = rng.uniform(-1.0, 1.0, width) / np.sqrt(width)
    return net


def deep_net_data(n, width, seed=0):
    r"""The batch of :func:`chain_gradient_norms`: inputs ``X`` and targets ``y``, both
    (n, width) and standard normal, from ``default_rng(seed)`` (X first)."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, width)), rng.standard_normal((n, width))


def chain_gradient_norms(depth, width, activation="tanh", gain=3**-0.5, n=64, seed=0):
    r"""Frobenius norms :math:`\|\partial L/\partial W_l\|`, :math:`l = 1, \dots,` ``depth``,
    of :func:`deep_net` on a batch (Troeshestova's lecture, problem 2):

    .. math:: A_0 = X,\quad Z_l = A_{l-1}W_l + \mathbf{1}b_l^\top,\quad A_l = \sigma(Z_l),
              \quad \hat y = A_N,

    .. math:: \Delta_N = \frac{\partial L}{\partial A_N} \odot \sigma'(Z_N),\quad
              \Delta_l = \bigl(\Delta_{l+1} W_{l+1}^\top\bigr) \odot \sigma'(Z_l),\quad
              \frac{\partial L}{\partial W_l} = A_{l-1}^\top \Delta_l :

    one factor :math:`W^\top` and one :math:`\odot\,\sigma'` per layer above :math:`l`.
    ``X`` (n, width) and the targets are standard normal, :math:`L` is MSE.
    """
    net = deep_net(depth, width, activation, gain, seed)
    X, y = deep_net_data(n, width, seed)
    _, grads = loss_and_grads(net, X, y, "mse")
    return np.array([np.linalg.norm(grads[f"W{l}"]) for l in range(1, depth + 1)])


def deep_tanh_backward(X, y, W, b):
    r"""Gradients of the deep tanh net of Troeshestova's lecture, problem 2, with the MSE
    :math:`L = \frac1n \sum_i \|\hat y_i - y_i\|^2`:

    .. math:: A_0 = X,\quad Z_i = A_{i-1}W_i + \mathbf{1}b_i^\top,\quad A_i = \tanh Z_i,
              \quad \hat y = A_N,

    .. math:: \Delta_N = \tfrac2n(\hat y - y) \odot \tanh'(Z_N),\quad
              \Delta_i = \bigl(\Delta_{i+1} W_{i+1}^\top\bigr) \odot \tanh'(Z_i),\quad
              \frac{\partial L}{\partial W_i} = A_{i-1}^\top \Delta_i,\quad
              \frac{\partial L}{\partial X} = \Delta_1 W_1^\top .

    Shapes: ``X``, ``y`` (n, d); ``W`` (N, d, d), layer :math:`i` is ``W[i - 1]``; ``b`` (N, d).
    Returns ``(dW, dX)`` of shapes (N, d, d) and (n, d).
    """
    X, y = np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.float64)
    W, b = np.asarray(W, dtype=np.float64), np.asarray(b, dtype=np.float64)
    A, Z = [X], []
    for W_i, b_i in zip(W, b):
        Z.append(A[-1] @ W_i + b_i)
        A.append(np.tanh(Z[-1]))
    delta = losses.mse_grad(A[-1], y) * activations.tanh_prime(Z[-1])
    dW = np.empty_like(W)
    for i in range(len(W) - 1, -1, -1):
        dW[i] = A[i].T @ delta
        dX = delta @ W[i].T
        if i > 0:
            delta = dX * activations.tanh_prime(Z[i - 1])
    return dW, dX


def deep_tanh_grad_norms(X, y, W, b):
    r"""The board problem's quantity: :math:`\|\partial L/\partial W_i\|_F` for every layer
    :math:`i = 1, \dots, N` of :func:`deep_tanh_backward`, shape (N,)."""
    return np.linalg.norm(deep_tanh_backward(X, y, W, b)[0], axis=(1, 2))


def neuron_chain_forward(x, w, b, activation="sigmoid"):
    r"""A chain of single neurons (Buryak's lecture): :math:`a_0 = x`,
    :math:`z_j = w_j a_{j-1} + b_j`, :math:`a_j = \sigma(z_j)`. Returns ``(z, a)``, each of
    length :math:`L` = ``len(w)``."""
    sigma = getattr(activations, activation)
    z, a = np.empty(len(w)), np.empty(len(w))
    a_prev = float(x)
    for j, (w_j, b_j) in enumerate(zip(w, b)):
        z[j] = w_j * a_prev + b_j
        a[j] = a_prev = sigma(z[j])
    return z, a


def neuron_chain_bias_grads(x, w, b, dC_da_L, activation="sigmoid"):
    r"""Gradients :math:`\partial C/\partial b_j` of Buryak's lecture's chain of single neurons,

    .. math:: \frac{\partial C}{\partial b_j} = \sigma'(z_j) \prod_{i=j+1}^{L}
              \bigl(w_i\, \sigma'(z_i)\bigr)\, \frac{\partial C}{\partial a_L},

    e.g. :math:`\frac{\partial C}{\partial b_1} = \sigma'(z_1) w_2 \sigma'(z_2) w_3
    \sigma'(z_3) w_4 \sigma'(z_4) \frac{\partial C}{\partial a_4}` for four neurons.
    Returns the array :math:`(\partial C/\partial b_1, \dots, \partial C/\partial b_L)`.
    """
    z, _ = neuron_chain_forward(x, w, b, activation)
    sigma_prime = getattr(activations, f"{activation}_prime")(z)
    grads = np.empty(len(w))
    upstream = float(dC_da_L)                   # dC/da_j, from j = L down
    for j in range(len(w) - 1, -1, -1):
        grads[j] = sigma_prime[j] * upstream    # dC/db_j = sigma'(z_j) dC/da_j
        upstream = grads[j] * w[j]              # dC/da_{j-1} = w_j sigma'(z_j) dC/da_j
    return grads


def class_probability_chain(w, x):
    r"""Kitov's lecture's worked example: the gradient of :math:`S = 1 - p(y=+1\mid x)
    = 1 - \frac{1}{1 + e^{-w^\top x}}` through the chain

    .. math:: a = w^\top x,\quad b = e^{-a},\quad c = 1 + b,\quad d = \frac1c,\quad S = 1 - d,

    forward left to right, then backward right to left, each step one local derivative:

    .. math:: \frac{\partial S}{\partial d} = -1,\
              \frac{\partial S}{\partial c}
              = \frac{\partial S}{\partial d}\Bigl(-\frac{1}{c^2}\Bigr),\
              \frac{\partial S}{\partial b} = \frac{\partial S}{\partial c}\cdot 1,\
              \frac{\partial S}{\partial a} = -\frac{\partial S}{\partial b}e^{-a},\
              \frac{\partial S}{\partial w} = \frac{\partial S}{\partial a}\,x.

    Returns ``(values, partials)``: dicts with keys ``a, b, c, d, S`` and
    ``d, c, b, a, w`` (the partial derivatives of :math:`S`).
    """
    a = float(np.dot(w, x))
    b = np.exp(-a)
    c = 1.0 + b
    d = 1.0 / c
    S = 1.0 - d
    dS_dd = -1.0
    dS_dc = dS_dd * (-1.0 / c**2)
    dS_db = dS_dc * 1.0
    dS_da = -dS_db * np.exp(-a)
    dS_dw = dS_da * np.asarray(x, dtype=np.float64)
    return ({"a": a, "b": b, "c": c, "d": d, "S": S},
            {"d": dS_dd, "c": dS_dc, "b": dS_db, "a": dS_da, "w": dS_dw})


# --- 3. A tiny computational graph (the *Deep learning* lecture) -------------------------------------------


class Value:
    r"""A scalar node of a computational graph (in the spirit of Karpathy's micrograd).

    Each node stores its value ``data``, its parents and the *local* partial derivatives
    :math:`\partial\,\text{self}/\partial\,\text{parent}`, computed once in the forward
    pass; :meth:`backward` reuses them to fill ``grad`` = :math:`\partial\,\text{out}/
    \partial\,\text{node}` for every node.
    """

    def __init__(self, data, parents=(), local_grads=(), name=""):
        self.data, self.grad, self.name = float(data), 0.0, name
        self.parents, self.local_grads = tuple(parents), tuple(local_grads)

    def __add__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        return Value(self.data + other.data, (self, other), (1.0, 1.0))

    def __mul__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        return Value(self.data * other.data, (self, other), (other.data, self.data))

    __radd__, __rmul__ = __add__, __mul__

    def tanh(self):
        t = np.tanh(self.data)
        return Value(t, (self,), (1.0 - t**2,))

    def __repr__(self):
        return f"Value({self.name + '=' if self.name else ''}{self.data:.6g}, grad={self.grad:.6g})"

    def topological_order(self):
        """All nodes this one depends on, each after its parents."""
        order, seen = [], set()

        def visit(v):
            if id(v) not in seen:
                seen.add(id(v))
                for p in v.parents:
                    visit(p)
                order.append(v)
        visit(self)
        return order

    def backward(self):
        r"""Reverse pass: :math:`\bar v = \sum_{u:\,v \to u} \bar u\, \partial u/\partial v`,
        nodes in reverse topological order, :math:`\bar{\text{out}} = 1`. Every edge is
        visited once. Returns the number of multiplications made (one per edge)."""
        order = self.topological_order()
        for v in order:
            v.grad = 0.0
        self.grad = 1.0
        multiplications = 0
        for v in reversed(order):
            for parent, local in zip(v.parents, v.local_grads):
                parent.grad += v.grad * local
                multiplications += 1
        return multiplications


def paths(node, target):
    """Every path from ``node`` back to ``target``, as the list of edges' local derivatives."""
    if node is target:
        return [[]]
    return [[local] + rest
            for parent, local in zip(node.parents, node.local_grads)
            for rest in paths(parent, target)]


def path_sum_gradient(out, target):
    r"""The *Deep learning* lecture's sum over paths, recomputed for every path (no reuse):

    .. math:: \frac{\partial\, \text{out}}{\partial\, \text{target}}
              = \sum_{\text{paths } \text{target} \to \text{out}}\ \prod_{\text{edges } (u \to v)}
              \frac{\partial v}{\partial u}.

    Returns ``(derivative, multiplications)``: a path of :math:`m` edges costs
    :math:`m - 1` multiplications.
    """
    derivative, multiplications = 0.0, 0
    for path in paths(out, target):
        derivative += np.prod(path)
        multiplications += max(len(path) - 1, 0)
    return derivative, multiplications


def layered_graph(depth, width=2, seed=0):
    r"""The *Deep learning* lecture's graph made deeper: inputs :math:`x_1, \dots, x_{\text{width}}`,
    ``depth`` fully connected tanh layers of ``width`` nodes,
    :math:`h^{(t)}_j = \tanh\bigl(\sum_i w^{(t)}_{ij} h^{(t-1)}_i\bigr)`, and the output
    :math:`a = \sum_j p_j h^{(\text{depth})}_j`. With ``depth = 2`` and ``width = 2`` this is
    the lecture's :math:`a(x) = p_{11} h_1(x) + p_{21} h_2(x)` with :math:`h` and :math:`z`
    layers. Returns ``(a, inputs, weights)`` (lists of :class:`Value`)."""
    rng = np.random.default_rng(seed)
    inputs = [Value(v, name=f"x{i + 1}") for i, v in enumerate(rng.standard_normal(width))]
    weights, h = [], inputs
    for t in range(1, depth + 1):
        W = [[Value(rng.standard_normal() / np.sqrt(width), name=f"w{t}_{i + 1}{j + 1}")
              for j in range(width)] for i in range(width)]
        weights += [w for row in W for w in row]
        h = [sum((W[i][j] * h[i] for i in range(width)), Value(0.0)).tanh()
             for j in range(width)]
    p = [Value(rng.standard_normal(), name=f"p{j + 1}1") for j in range(width)]
    weights += p
    a = sum((p_j * h_j for p_j, h_j in zip(p, h)), Value(0.0))
    return a, inputs, weights


def multiplication_counts(depth, width=2, seed=0):
    r"""Multiplications needed for the whole gradient of :func:`layered_graph` (the
    derivative of :math:`a` in every input and weight): ``(naive, backprop)``. Naive is
    the sum over paths recomputed for each leaf (grows like
    :math:`\text{width}^{\text{depth}}`); backprop is one reverse pass (one
    multiplication per edge of the graph, grows linearly in ``depth``)."""
    a, inputs, weights = layered_graph(depth, width, seed)
    naive = sum(path_sum_gradient(a, leaf)[1] for leaf in inputs + weights)
    return naive, a.backward()
