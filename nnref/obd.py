r"""Pruning by Optimal Brain Damage (LeCun, Denker & Solla, 1990), Vorontsov's lecture.

At a local minimum :math:`w` of :math:`Q` the gradient vanishes and

.. math:: Q(w + \delta) = Q(w) + \tfrac12 \delta^\top Q''(w)\, \delta + o(\|\delta\|^2).

With a diagonal Hessian, zeroing the weight :math:`w_k` (:math:`\delta = -w_k e_k`) raises
:math:`Q` by the *saliency*

.. math:: s_k = \tfrac12\, h_{kk}\, w_k^2, \qquad h_{kk} = \frac{\partial^2 Q}{\partial w_k^2}

(the lecture drops the :math:`\tfrac12`). This module computes the diagonal
:math:`h_{kk}` for every weight of an :class:`nnref.mlp.MLP` by second-order backpropagation,
exactly or with LeCun's two approximations (diagonal recursion, Gauss–Newton), and runs the
lecture's procedure: per layer, delete the :math:`N` least salient links, retrain, roll back
when the training or control loss gets significantly worse. Feature saliency
:math:`S_j = \sum_h S_{jh}` ranks the inputs.

Only the links between neurons (the matrices ``W1, ..., WL``) are pruned; biases stay.
Ties in saliency are broken by the flat (row-major) index: the smaller index goes first.
"""

import numpy as np

from . import activations, losses, optim
from .mlp import MLP, loss_and_grads

# --- second derivatives of the activations -------------------------------------------------


def activation_second(z, name):
    r""":math:`\sigma''(z)` for ``identity`` and ``relu`` (0; ReLU's kink is ignored, as in
    torch), ``tanh`` (:math:`-2\tanh z\,(1 - \tanh^2 z)`) and ``sigmoid``
    (:math:`\sigma'(z)(1 - 2\sigma(z))`)."""
    z = np.asarray(z, dtype=np.float64)
    if name in ("identity", "relu"):
        return np.zeros_like(z)
    if name in ("tanh", "sigmoid"):
        return getattr(activations, f"{name}_second")(z)
    raise ValueError(f"no second derivative for the activation {name!r}")


def loss_hessian(y_hat, y, loss="mse"):
    r"""The Hessian of the loss in the network's output :math:`\hat y_i`, one matrix per
    object, shape (n, K, K):

    - ``mse``, :math:`\frac1n\sum_i \|\hat y_i - y_i\|^2`: :math:`\frac2n I`;
    - ``softmax_cross_entropy`` (:math:`\hat y` are the logits):
      :math:`\frac1n\bigl(\operatorname{diag} p_i - p_i p_i^\top\bigr)`,
      :math:`p_i = \mathrm{softmax}(\hat y_i)`.

    Both are positive semidefinite and contain no residual :math:`\hat y - y`.
    """
    y_hat = np.asarray(y_hat, dtype=np.float64)
    n, K = y_hat.shape
    if loss == "mse":
        return np.broadcast_to(2.0 / n * np.eye(K), (n, K, K)).copy()
    if loss == "softmax_cross_entropy":
        p = activations.softmax(y_hat, axis=1)
        return (p[:, :, None] * np.eye(K) - p[:, :, None] * p[:, None, :]) / n
    raise ValueError(f"no Hessian for the loss {loss!r}")


# --- the diagonal of the Hessian ------------------------------------------------------------


def second_order_backprop(net, X, y, loss="mse", diagonal=False, gauss_newton=False):
    r"""Diagonal of :math:`Q''` for every parameter of ``net`` (a dict shaped like
    ``net.params``), :math:`Q = ` ``losses.<loss>`` on the batch ``(X, y)``.

    Going down from the output, with :math:`Z_l = A_{l-1}W_l + b_l`, :math:`A_l = \sigma(Z_l)`,
    per object, the Hessian of :math:`Q` in the pre-activations of layer :math:`l` is

    .. math:: M_l = D_l\, G_l\, D_l + \operatorname{diag}\bigl(\sigma''(Z_l) \odot
              \partial Q/\partial A_l\bigr),\qquad D_l = \operatorname{diag}\sigma'(Z_l),

    where :math:`G_L` is :func:`loss_hessian` and :math:`G_{l-1} = W_l M_l W_l^\top` is the
    Hessian in :math:`A_{l-1}`. Since :math:`Z_l` is linear in :math:`W_l` and nothing else
    before it depends on :math:`W_l`, the diagonal is exact:

    .. math:: \frac{\partial^2 Q}{\partial (W_l)_{kh}^2} = \sum_i (A_{l-1})_{ik}^2 (M_l)_{i,hh},
              \qquad \frac{\partial^2 Q}{\partial (b_l)_h^2} = \sum_i (M_l)_{i,hh}.

    ``gauss_newton=True`` drops the residual terms :math:`\sigma''\odot\partial Q/\partial A`
    (the diagonal of the Gauss–Newton matrix :math:`J^\top G_L J`, never negative).
    ``diagonal=True`` keeps only the diagonals of :math:`G` and :math:`M` (LeCun 1990):

    .. math:: m_l = \sigma'(Z_l)^2 \odot g_l + \sigma''(Z_l) \odot \partial Q/\partial A_l,
              \qquad (g_{l-1})_k = \sum_h (W_l)_{kh}^2 (m_l)_h,

    with :math:`O(nH)` work per layer instead of :math:`O(nH^2)`. With both flags this is
    LeCun's second-order backpropagation with the Levenberg–Marquardt (Gauss–Newton)
    approximation used by Optimal Brain Damage (:func:`obd_hessian_diag`).
    """
    y_hat = net.forward(X)
    y = np.reshape(np.asarray(y, dtype=np.float64), y_hat.shape) if loss == "mse" else y
    G = loss_hessian(y_hat, y, loss)
    if diagonal:
        G = np.einsum("nkk->nk", G)
    dA = getattr(losses, f"{loss}_grad")(y_hat, y)
    diag = {}
    for l in range(net.L, 0, -1):
        (A_prev, W), (Z, name) = net.caches[l - 1]
        s1 = getattr(activations, f"{name}_prime")(Z)
        if diagonal:
            M = s1**2 * G
        else:
            M = s1[:, :, None] * G * s1[:, None, :]
        if not gauss_newton:
            residual = activation_second(Z, name) * dA
            if diagonal:
                M = M + residual
            else:
                M = M + residual[:, :, None] * np.eye(Z.shape[1])
        m = M if diagonal else np.einsum("nhh->nh", M)
        diag[f"W{l}"] = A_prev.T**2 @ m
        diag[f"b{l}"] = m.sum(axis=0)
        if l > 1:
            G = m @ (W.T**2) if diagonal else np.einsum("kh,nhg,jg->nkj", W, M, W)
            dA = (dA * s1) @ W.T
    return {name: diag[name] for name in net.params}


def hessian_diag(net, X, y, loss="mse"):
    r"""The exact diagonal :math:`\partial^2 Q/\partial w_k^2` of every parameter
    (:func:`second_order_backprop` with full per-object matrices and the residual terms)."""
    return second_order_backprop(net, X, y, loss, diagonal=False, gauss_newton=False)


def obd_hessian_diag(net, X, y, loss="mse"):
    r"""LeCun, Denker & Solla's estimate: the diagonal recursion with the Gauss–Newton
    (Levenberg–Marquardt) approximation, :math:`O(nH)` per layer, never negative."""
    return second_order_backprop(net, X, y, loss, diagonal=True, gauss_newton=True)


def flat_params(params, like=None):
    """All parameters as one vector, in the order of the dict ``like`` (default: ``params``
    itself; pass ``net.params`` to flatten gradients, whose dict runs from the last layer)."""
    return np.concatenate([np.ravel(params[name]) for name in (like or params)])


def unflatten(theta, like):
    """Inverse of :func:`flat_params` for the shapes of the dict ``like``."""
    out, start = {}, 0
    for name, value in like.items():
        out[name] = np.asarray(theta[start:start + value.size], dtype=np.float64).reshape(value.shape)
        start += value.size
    return out


def train_to_minimum(net, X, y, loss="mse", maxiter=3000, gtol=1e-8):
    r"""Train ``net`` to a tight local minimum of :math:`Q` with BFGS (scipy), where the
    expansion :math:`Q(w + \delta) = Q(w) + \frac12\delta^\top Q''\delta + \dots` holds without
    a first-order term. Returns the largest :math:`|\partial Q/\partial w_k|` at the end."""
    from scipy.optimize import minimize

    def f(theta):
        net.params = unflatten(theta, net.params)
        value, grads = loss_and_grads(net, X, y, loss)
        return value, flat_params(grads, like=net.params)

    res = minimize(f, flat_params(net.params), jac=True, method="BFGS",
                   options={"maxiter": maxiter, "gtol": gtol})
    net.params = unflatten(res.x, net.params)
    return float(np.max(np.abs(res.jac)))


# --- saliency --------------------------------------------------------------------------------


def saliency(w, h):
    r"""OBD's saliency :math:`s_k = \tfrac12 h_{kk} w_k^2` (LeCun, Denker & Solla 1990), the
    predicted rise of :math:`Q` when :math:`w_k` is set to 0 at a minimum. The lecture
    writes :math:`w_k^2\,\partial^2Q/\partial w_k^2`, twice this. ``w``, ``h``: arrays of
    the same shape, or dicts of them."""
    if isinstance(w, dict):
        return {name: saliency(w[name], h[name]) for name in w}
    return 0.5 * np.asarray(h, dtype=np.float64) * np.asarray(w, dtype=np.float64) ** 2


def magnitude(w):
    r"""The baseline score of magnitude pruning: :math:`|w_k|` (arrays or dicts)."""
    if isinstance(w, dict):
        return {name: magnitude(w[name]) for name in w}
    return np.abs(np.asarray(w, dtype=np.float64))


def zeroing_increase(net, X, y, loss="mse", names=None):
    r"""The actual rise :math:`Q(w - w_k e_k) - Q(w)` when each weight alone is set to 0
    (``names``: the weight matrices, default ``W1, ..., WL``). Costs one forward pass per
    weight: the quantity OBD's saliency predicts without any."""
    names = names or weight_names(net)
    Q = getattr(losses, loss)
    base = Q(net.forward(X), y)
    out = {}
    for name in names:
        P = net.params[name]
        rise = np.zeros_like(P)
        for idx in np.ndindex(P.shape):
            old = P[idx]
            P[idx] = 0.0
            rise[idx] = Q(net.forward(X), y) - base
            P[idx] = old
        out[name] = rise
    return out


# --- masks -----------------------------------------------------------------------------------


def weight_names(net_or_params):
    """The prunable links ``W1, ..., WL`` (biases are not pruned)."""
    params = net_or_params.params if isinstance(net_or_params, MLP) else net_or_params
    return [name for name in params if name.startswith("W")]


def least_salient(scores, alive, N):
    r"""Indices (into the flattened array) of the ``N`` least salient alive entries, in the
    order of removal: a stable sort by score, so equal scores go by the smaller flat index.
    If fewer than ``N`` are alive, all of them."""
    scores = np.ravel(np.asarray(scores, dtype=np.float64))
    candidates = np.flatnonzero(np.ravel(alive))
    order = np.argsort(scores[candidates], kind="stable")
    return candidates[order[:max(int(N), 0)]]


def prune_masks(scores, masks, N, per_layer=True):
    r"""One deletion step of the lecture's procedure. ``scores`` and ``masks`` are dicts over
    the weight matrices (``True`` = the link is alive). With ``per_layer`` (the lecture: "on
    each layer, sort by saliency") each layer loses its ``N`` least salient alive links
    (``N`` an int, or a dict per layer); otherwise the ``N`` least salient over all layers
    together (LeCun 1990's global sort; the order of layers breaks ties). Returns new masks."""
    new = {name: np.array(masks[name], dtype=bool) for name in masks}
    if per_layer:
        for name in new:
            n_l = N[name] if isinstance(N, dict) else N
            new[name].ravel()[least_salient(scores[name], new[name], n_l)] = False
        return new
    names = list(new)
    sizes = [new[name].size for name in names]
    flat_scores = np.concatenate([np.ravel(scores[name]) for name in names])
    flat_alive = np.concatenate([new[name].ravel() for name in names])
    flat_alive[least_salient(flat_scores, flat_alive, N)] = False
    for name, part in zip(names, np.split(flat_alive, np.cumsum(sizes)[:-1])):
        new[name] = part.reshape(new[name].shape)
    return new


def apply_masks(params, masks):
    """Zero the deleted links in place (a deleted weight is set to 0 and frozen there)."""
    for name, mask in masks.items():
        params[name] *= mask


def masked_train(net, masks, X, y, loss="mse", optimizer=None, steps=100):
    r"""Full-batch training with the deleted links frozen at 0: every step's gradient is
    masked, and the weights re-masked after it. Returns the loss before every step."""
    optimizer = optimizer or optim.Adam(0.01)
    apply_masks(net.params, masks)
    history = []
    for _ in range(steps):
        value, grads = loss_and_grads(net, X, y, loss)
        for name, mask in masks.items():
            grads[name] = grads[name] * mask
        optimizer.step(net.params, grads)
        apply_masks(net.params, masks)
        history.append(value)
    return history


def significantly_worse(before, after, tol):
    r"""The lecture's stopping test for one set: :math:`Q_{\text{after}} > (1 + \text{tol})\,
    Q_{\text{before}}`."""
    return bool(after > (1.0 + tol) * before)


def obd_prune(net, X, y, Xc, yc, N, loss="mse", score="obd", per_layer=True, tol=0.05,
              retrain_steps=50, optimizer=None, max_rounds=100, masks=None):
    r"""The lecture's procedure, from a network ``net`` trained to a minimum:

    1. compute the scores (``"obd"``: saliency with :func:`obd_hessian_diag`; ``"exact"``:
       with :func:`hessian_diag`; ``"magnitude"``: :math:`|w|`) on the training set;
    2. delete the ``N`` least salient links (per layer, :func:`prune_masks`);
    3. retrain with the deleted links frozen (:func:`masked_train`);
    4. if :math:`Q` on the training set ``(X, y)`` or on the control set ``(Xc, yc)`` is
       significantly worse than for the network we started from
       (:func:`significantly_worse`), restore the links deleted last (the weights from
       before step 2) and stop; otherwise go to 1.

    ``tol=np.inf`` never stops (for a loss-vs-sparsity curve). ``optimizer`` is a factory
    called once per round (default: Adam with eta = 0.01). Returns a dict: ``masks`` (final),
    ``mask_history`` (the masks after every accepted round, the start first), ``history``
    (one row per accepted round: fraction of links removed, training loss, control loss; row
    0 is the start) and ``stopped`` (a round was rolled back). ``net`` keeps the final weights.
    """
    names = weight_names(net)
    total = sum(net.params[name].size for name in names)
    masks = masks or {name: np.ones(net.params[name].shape, dtype=bool) for name in names}
    Q = getattr(losses, loss)

    def state_losses():
        return Q(net.forward(X), y), Q(net.forward(Xc), yc)

    def removed(masks):
        return 1.0 - sum(int(m.sum()) for m in masks.values()) / total

    start_train, start_control = state_losses()
    history, stopped = [(removed(masks), start_train, start_control)], False
    mask_history = [masks]
    for _ in range(max_rounds):
        if score == "magnitude":
            scores = magnitude({name: net.params[name] for name in names})
        else:
            h = (obd_hessian_diag if score == "obd" else hessian_diag)(net, X, y, loss)
            scores = saliency({name: net.params[name] for name in names}, h)
        new_masks = prune_masks(scores, masks, N, per_layer)
        if all(np.array_equal(new_masks[n], masks[n]) for n in names):
            break
        saved = {name: value.copy() for name, value in net.params.items()}
        masked_train(net, new_masks, X, y, loss,
                     optimizer() if optimizer else optim.Adam(0.01), retrain_steps)
        new_train, new_control = state_losses()
        if (significantly_worse(start_train, new_train, tol)
                or significantly_worse(start_control, new_control, tol)):
            net.params.update(saved)
            stopped = True
            break
        masks = new_masks
        mask_history.append(masks)
        history.append((removed(masks), new_train, new_control))
    return {"masks": masks, "mask_history": mask_history, "history": np.array(history),
            "stopped": stopped}


# --- feature selection -----------------------------------------------------------------------


def feature_saliency(W1, h_W1):
    r"""Total saliency of every input feature (lecture): :math:`S_j = \sum_{h=1}^{H_1} S_{jh}`
    over the first layer's links, :math:`S_{jh} = \tfrac12 h_{jh} w_{jh}^2`. ``W1`` and its
    Hessian diagonal ``h_W1`` have shape (d, H_1); returns shape (d,)."""
    return saliency(W1, h_W1).sum(axis=1)


def feature_ranking(S):
    r"""The features from the most to the least salient; equal saliencies keep the order of
    their indices (a stable sort of :math:`-S`)."""
    return np.argsort(-np.asarray(S, dtype=np.float64), kind="stable")


# --- the graded notebook's signatures (a one-hidden-layer tanh net, MSE) ---------------------


def _one_hidden(W1, b1, W2, b2):
    net = MLP([np.shape(W1)[0], np.shape(W1)[1], np.shape(W2)[1]], "tanh", "identity")
    net.params = {"W1": np.array(W1, dtype=np.float64), "b1": np.array(b1, dtype=np.float64),
                  "W2": np.array(W2, dtype=np.float64), "b2": np.array(b2, dtype=np.float64)}
    return net


def one_hidden_hessian_diag(X, y, W1, b1, W2, b2, gauss_newton=False):
    r"""The diagonal of the Hessian of :math:`Q = \frac1n\sum_i(\hat y_i - y_i)^2` for
    :math:`\hat y = \tanh(XW_1 + b_1)W_2 + b_2`: a dict ``W1, b1, W2, b2``. For one hidden
    layer and a linear output LeCun's diagonal recursion is exact; ``gauss_newton=True``
    drops the term :math:`\tanh''(Z_1)\odot\partial Q/\partial A_1`."""
    net = _one_hidden(W1, b1, W2, b2)
    return second_order_backprop(net, X, y, "mse", diagonal=False, gauss_newton=gauss_newton)


def one_hidden_zeroing_increase(X, y, W1, b1, W2, b2):
    r"""The actual :math:`\Delta Q` of zeroing each link alone (dict ``W1``, ``W2``)."""
    net = _one_hidden(W1, b1, W2, b2)
    return zeroing_increase(net, X, np.reshape(y, (len(X), -1)))


def two_layer_prune_masks(S1, S2, M1, M2, N=2):
    r"""One per-layer deletion step for a two-layer net: the new masks ``(M1, M2)`` as
    float arrays (1 = alive), from the saliencies ``S1, S2`` and masks ``M1, M2``."""
    new = prune_masks({"W1": S1, "W2": S2}, {"W1": np.asarray(M1) != 0, "W2": np.asarray(M2) != 0}, N)
    return new["W1"].astype(np.float64), new["W2"].astype(np.float64)


def retrain_or_rollback(X, y, Xc, yc, W1, b1, W2, b2, M1, M2, eta=0.1, steps=30, tol=0.0):
    r"""One round of the lecture's procedure after the deletion mask ``(M1, M2)`` is chosen,
    for the one-hidden-layer tanh net with MSE: zero the deleted links, make ``steps``
    full-batch gradient steps :math:`w := w - \eta\,(\nabla Q \odot M)` (biases unmasked),
    and compare :math:`Q` on the training set ``(X, y)`` and on the control set ``(Xc, yc)``
    with its value for the weights before deletion. If either is significantly worse
    (:func:`significantly_worse`), return the weights before deletion and ``True`` (roll back,
    stop); otherwise the retrained weights and ``False``.
    Returns ``(W1, b1, W2, b2, stopped)``."""
    X, Xc = np.asarray(X, dtype=np.float64), np.asarray(Xc, dtype=np.float64)
    y, yc = np.reshape(y, (len(X), -1)), np.reshape(yc, (len(Xc), -1))
    net = _one_hidden(W1, b1, W2, b2)
    before = (losses.mse(net.forward(X), y), losses.mse(net.forward(Xc), yc))
    masks = {"W1": np.asarray(M1, dtype=np.float64), "W2": np.asarray(M2, dtype=np.float64)}
    masked_train(net, masks, X, y, "mse", optim.SGD(eta), steps)
    after = (losses.mse(net.forward(X), y), losses.mse(net.forward(Xc), yc))
    if any(significantly_worse(b, a, tol) for b, a in zip(before, after)):
        return (np.array(W1, dtype=np.float64), np.array(b1, dtype=np.float64),
                np.array(W2, dtype=np.float64), np.array(b2, dtype=np.float64), True)
    p = net.params
    return p["W1"], p["b1"], p["W2"], p["b2"], False


def retrain_or_rollback_fitted_control(X, y, Xc, W1, b1, W2, b2, M1, M2, eta=0.1, steps=30,
                                      tol=0.0):
    r""":func:`retrain_or_rollback` with a control set that the weights before deletion fit
    exactly (:math:`y_c = \hat y(X_c)`, control loss 0): any change makes it worse, so the
    control-set test alone stops the round."""
    yc = _one_hidden(W1, b1, W2, b2).forward(Xc)
    return retrain_or_rollback(X, y, Xc, yc, W1, b1, W2, b2, M1, M2, eta, steps, tol)
