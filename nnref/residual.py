r"""Residual connections and other gradient highways (chapter 10; He et al., 2016).

Buryak's lecture *Practical neural networks: activation functions, loss functions*: parallel
links that pass the gradient back without the factor :math:`\sigma'`. A residual block adds
its input to the output of a layer,

.. math:: A_l = A_{l-1} + F(A_{l-1}),\qquad F(A) = \sigma(A W_l + \mathbf 1 b_l^\top),

so its Jacobian is :math:`\partial A_l/\partial A_{l-1} = I + \partial F/\partial A_{l-1}`, and
the backward pass adds the upstream gradient unchanged to the one through :math:`F`:
:math:`\partial L/\partial A_{l-1} = \partial L/\partial A_l + \bigl(\partial L/\partial A_l
\odot \sigma'(Z_l)\bigr) W_l^\top`.

The deep stacks here reuse chapter 5's net (:func:`nnref.backprop.deep_net`, the same
weights) and batch (:func:`nnref.backprop.deep_net_data`), with or without the skips and
with optional auxiliary outputs (GoogLeNet's auxiliary classifiers, Szegedy et al., 2015).
"""

import numpy as np

from . import activations, backprop, layers, losses


def residual_forward(A, W, b, activation="tanh"):
    r"""Residual block :math:`\text{out} = A + \sigma(AW + \mathbf 1 b^\top)`.

    Shapes: ``A`` (n, d), ``W`` (d, d), ``b`` (d,) -> ``out`` (n, d) (the skip needs the
    same width in and out)."""
    Z, linear_cache = layers.linear_forward(A, W, b)
    F, activation_cache = layers.activation_forward(Z, activation)
    return A + F, (linear_cache, activation_cache)


def residual_backward(dout, cache):
    r"""Gradients of a residual block given :math:`\partial L/\partial\,\text{out}` (n, d):

    .. math:: \Delta = \frac{\partial L}{\partial\,\text{out}} \odot \sigma'(Z),\quad
              \frac{\partial L}{\partial A} = \frac{\partial L}{\partial\,\text{out}} + \Delta W^\top,\quad
              \frac{\partial L}{\partial W} = A^\top \Delta,\quad
              \frac{\partial L}{\partial b} = \sum_{i} \Delta_{i\cdot}.

    Returns ``(dA, dW, db)``; the first term of ``dA`` is the identity path.
    """
    linear_cache, activation_cache = cache
    dZ = layers.activation_backward(dout, activation_cache)
    dA_F, dW, db = layers.linear_backward(dZ, linear_cache)
    return dout + dA_F, dW, db


def residual_block(A, W, b):
    r"""The forward value of a tanh residual block, :math:`A + \tanh(AW + \mathbf 1 b^\top)`
    (the graded notebook's signature)."""
    return residual_forward(A, W, b, "tanh")[0]


def residual_block_grads(dout, A, W, b):
    r""":func:`residual_backward` of a tanh block with the forward pass done inside:
    ``(dA, dW, db)`` for ``dout`` (n, d), ``A`` (n, d), ``W`` (d, d), ``b`` (d,)."""
    return residual_backward(dout, residual_forward(A, W, b, "tanh")[1])


def block_jacobian(a, W, b, activation="tanh", residual=True):
    r"""The Jacobian :math:`\partial\,\text{out}/\partial a` of one block at one input ``a`` (d,):
    :math:`I + \operatorname{diag}\sigma'(z)\,W^\top` with the skip, :math:`\operatorname{diag}
    \sigma'(z)\,W^\top` without (entry :math:`(j, i) = \partial\,\text{out}_j/\partial a_i`)."""
    s = getattr(activations, f"{activation}_prime")(a @ W + b)
    J = s[:, None] * np.asarray(W, dtype=np.float64).T
    return np.eye(len(a)) + J if residual else J


def stack_forward(X, params, depth, residual, activation="tanh"):
    r"""A stack of ``depth`` layers with the weights ``params`` (``W1, b1, ...``):
    :math:`A_l = A_{l-1} + \sigma(Z_l)` with skips, :math:`A_l = \sigma(Z_l)` without.
    Returns the list :math:`[A_0, \dots, A_N]` and the caches."""
    A, outputs, caches = np.asarray(X, dtype=np.float64), [np.asarray(X, dtype=np.float64)], []
    for l in range(1, depth + 1):
        W, b = params[f"W{l}"], params[f"b{l}"]
        if residual:
            A, cache = residual_forward(A, W, b, activation)
        else:
            Z, linear_cache = layers.linear_forward(A, W, b)
            A, activation_cache = layers.activation_forward(Z, activation)
            cache = (linear_cache, activation_cache)
        outputs.append(A)
        caches.append(cache)
    return outputs, caches


def stack_gradients(X, y, params, depth, residual, activation="tanh", aux=None):
    r"""Gradients :math:`\partial L/\partial W_l` of
    :math:`L = \mathrm{MSE}(A_N, y) + \sum_{l \in \text{aux}} \alpha_l\, \mathrm{MSE}(A_l, y)`:
    ``aux`` maps a layer :math:`l` to the weight :math:`\alpha_l` of an auxiliary output there
    (GoogLeNet used :math:`\alpha = 0.3`), whose gradient enters the backward pass at layer
    :math:`l`. Returns the loss and the dict of gradients."""
    aux = dict(aux or {})
    outputs, caches = stack_forward(X, params, depth, residual, activation)
    loss = losses.mse(outputs[-1], y) + sum(a * losses.mse(outputs[l], y) for l, a in aux.items())
    grads, dA = {}, losses.mse_grad(outputs[-1], y)
    for l in range(depth, 0, -1):
        if l in aux and l != depth:
            dA = dA + aux[l] * losses.mse_grad(outputs[l], y)
        elif l in aux:
            dA = (1 + aux[l]) * dA
        if residual:
            dA, grads[f"W{l}"], grads[f"b{l}"] = residual_backward(dA, caches[l - 1])
        else:
            linear_cache, activation_cache = caches[l - 1]
            dZ = layers.activation_backward(dA, activation_cache)
            dA, grads[f"W{l}"], grads[f"b{l}"] = layers.linear_backward(dZ, linear_cache)
    return loss, grads


def gradient_norms(depth, width, residual, activation="tanh", gain=3**-0.5, n=64, seed=0, aux=None):
    r"""Frobenius norms :math:`\|\partial L/\partial W_l\|`, :math:`l = 1, \dots,` ``depth``, in
    chapter 5's experiment (the 100-layer tanh net of Troeshestova's lecture: :func:`nnref.backprop.deep_net`
    and its batch) with or without the skips. ``residual=False, aux=None`` is exactly
    :func:`nnref.backprop.chain_gradient_norms`."""
    net = backprop.deep_net(depth, width, activation, gain, seed)
    X, y = backprop.deep_net_data(n, width, seed)
    _, grads = stack_gradients(X, y, net.params, depth, residual, activation, aux)
    return np.array([np.linalg.norm(grads[f"W{l}"]) for l in range(1, depth + 1)])
