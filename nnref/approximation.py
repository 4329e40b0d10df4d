r"""What networks can represent: threshold networks built by hand (Vorontsov's, Kitov's and Troeshestova's lectures).

One input, one hidden layer of :math:`H` neurons, a linear output:

.. math:: a(x) = w_0 + \sum_{h=1}^{H} w_h\, \sigma\bigl(k (x - s_h)\bigr),

with the threshold :math:`\sigma(z) = [z > 0]` (then :math:`k` plays no role) or the logistic
sigmoid. Neuron :math:`h` is Troeshestova's lecture's :math:`u_h = [w x + b > 0]` written through its
switching point :math:`s_h = -b/w`. In two dimensions a threshold neuron is a half-plane;
AND of half-planes is a convex polygon (two layers), OR of convex polygons is any polygon
(three layers). Layers are counted as in Kitov's lecture: hidden layers plus the output layer.

Shapes: ``x`` is ``(n,)``; ``s``, ``w`` are ``(H,)``; ``points`` are ``(n, 2)``;
``vertices`` of a polygon are ``(m, 2)``, one vertex per row, in order around the polygon.
"""

import numpy as np

from . import activations
from .logic import and_neuron, or_neuron
from .mlp import MLP

# --- the function of Troeshestova's lecture --------------------------------------------------------


def lecture_f(x):
    r"""Troeshestova's lecture's example :math:`f(x) = 0.2 + 0.4x^2 + 0.3x\sin 15x + 0.1\cos 50x` on [0, 1]."""
    x = np.asarray(x, dtype=np.float64)
    return 0.2 + 0.4 * x**2 + 0.3 * x * np.sin(15 * x) + 0.1 * np.cos(50 * x)


def lecture_steps():
    r"""The hand-placed network of Troeshestova's lecture, one ``(s, w)`` pair of arrays per step of the worked example.

    1. one hidden neuron :math:`u = [x > 0.35]` (its output itself, so :math:`w = 1`);
    2. an output neuron :math:`y = w u` with :math:`w = 0.8`;
    3. :math:`s_2 = 0.7,\ w_2 = -w_1 = -0.8`: a step on :math:`(0.35, 0.7]`;
    4. :math:`s_3 = s_2 = 0.7,\ w_3 = 1.5`;
    5. :math:`s_4 = 0,\ s_5 = s_1 = 0.35,\ w_4 = -w_5 = 0.4`.
    """
    slides = [([0.35], [1.0]),
              ([0.35], [0.8]),
              ([0.35, 0.7], [0.8, -0.8]),
              ([0.35, 0.7, 0.7], [0.8, -0.8, 1.5]),
              ([0.35, 0.7, 0.7, 0.0, 0.35], [0.8, -0.8, 1.5, 0.4, -0.4])]
    return [(np.array(s), np.array(w)) for s, w in slides]


# --- networks of one input --------------------------------------------------------------


def threshold_network(x, s, w, w0=0.0):
    r"""Two-layer threshold network :math:`a(x) = w_0 + \sum_{h=1}^H w_h\,[x > s_h]`.

    ``x`` (n,), thresholds ``s`` (H,), output weights ``w`` (H,), output bias ``w0`` -> (n,).

    The hidden layer is the matrix :math:`U_{ih} = [x_i > s_h]` and :math:`a = w_0 + U w`
    (``tests`` check this against :class:`~nnref.mlp.MLP`). Computed without the
    :math:`n \times H` matrix: with the switching points sorted, the neurons that are on at
    :math:`x` are those with :math:`s_h < x`, a prefix, so :math:`a(x)` is a prefix sum of
    the sorted weights — :math:`O((n + H)\log H)` instead of :math:`O(nH)`.
    """
    x = np.asarray(x, dtype=np.float64)
    s, w = np.asarray(s, dtype=np.float64), np.asarray(w, dtype=np.float64)
    order = np.argsort(s, kind="stable")
    prefix_sums = np.concatenate([[0.0], np.cumsum(w[order])])
    neurons_on = np.searchsorted(s[order], x, side="left")     # #{h : s_h < x}
    return w0 + prefix_sums[neurons_on]


def sigmoid_network(x, s, w, w0=0.0, k=1.0):
    r"""The same network with sigmoids of steepness :math:`k`:
    :math:`a(x) = w_0 + \sum_{h=1}^H w_h\, \sigma\bigl(k (x - s_h)\bigr)`.

    As :math:`k \to \infty`, :math:`\sigma(k(x - s)) \to [x > s]` for every :math:`x \ne s`.
    Shapes as in :func:`threshold_network`.
    """
    x = np.asarray(x, dtype=np.float64)
    u = activations.sigmoid(k * (x[:, None] - np.asarray(s, dtype=np.float64)[None, :]))
    return w0 + u @ np.asarray(w, dtype=np.float64)


def network_params(s, w, w0=0.0, k=1.0):
    r"""The same network as an :class:`~nnref.mlp.MLP` parameter dict (sizes ``[1, H, 1]``).

    Neuron :math:`h` computes :math:`\sigma(k x - k s_h)`, so
    :math:`W_1 = k\,\mathbf 1^\top` (1, H), :math:`b_1 = -k s` (H,),
    :math:`W_2 = w` (H, 1), :math:`b_2 = (w_0)` (1,).
    """
    s, w = np.asarray(s, dtype=np.float64), np.asarray(w, dtype=np.float64)
    return {"W1": np.full((1, s.size), float(k)), "b1": -k * s,
            "W2": w.reshape(-1, 1), "b2": np.array([float(w0)])}


def step_approximator(f, breakpoints):
    r"""Threshold network of Kitov's lecture's 1-D regression on sorted breakpoints
    :math:`b_0 < b_1 < \dots < b_N`.

    Kitov's lecture writes the staircase with the value :math:`f(b_i)` on the bin
    :math:`(b_i, b_{i+1}]`:

    .. math:: a(x) = \sum_{i=0}^{N-1} f(b_i)\,\mathbb I[x \in (b_i, b_{i+1}]]
                   = \sum_{i=0}^{N-1} f(b_i)\bigl([x > b_i] - [x > b_{i+1}]\bigr).

    Collecting the terms of each breakpoint gives one neuron per jump of the staircase:

    .. math:: a(x) = f(b_0) + \sum_{i=1}^{N-1} \bigl(f(b_i) - f(b_{i-1})\bigr)\,[x > b_i],

    with the output bias :math:`w_0 = f(b_0)` in place of the neuron :math:`[x > b_0]`
    (and no neuron at :math:`b_N`): the same staircase on :math:`(b_0, b_N]`, extended by
    constants outside. Returns ``(s, w, w0)``: ``s = b[1:N]``, ``w`` the differences (both
    ``(N-1,)``), and ``w0``. ``breakpoints`` (N+1,) must be sorted.
    """
    b = np.asarray(breakpoints, dtype=np.float64)
    heights = f(b[:-1])                      # f(b_0), ..., f(b_{N-1})
    return b[1:-1], np.diff(heights), float(heights[0])


def step_pairs_approximator(f, breakpoints):
    r"""Kitov's lecture's formula term by term: two neurons per bin, no output bias.

    .. math:: a(x) = \sum_{i=0}^{N-1} f(b_i)\,[x > b_i] - \sum_{i=0}^{N-1} f(b_i)\,[x > b_{i+1}].

    Returns ``(s, w, 0.0)`` with ``s``, ``w`` of shape (2N,). Equal to
    :func:`step_approximator` on :math:`(b_0, b_N]`, zero outside it.
    """
    b = np.asarray(breakpoints, dtype=np.float64)
    heights = f(b[:-1])
    return np.concatenate([b[:-1], b[1:]]), np.concatenate([heights, -heights]), 0.0


def step_approximation(x, breakpoints, f=lecture_f):
    r"""The staircase of :func:`step_approximator` evaluated at ``x`` (n,) -> (n,).

    ``breakpoints`` are sorted first, so they may come in any order.
    """
    s, w, w0 = step_approximator(f, np.sort(np.asarray(breakpoints, dtype=np.float64)))
    return threshold_network(x, s, w, w0)


def sigmoid_step_approximation(x, breakpoints, k, f=lecture_f):
    r"""The staircase with every threshold replaced by :math:`\sigma(k(x - b_i))`."""
    s, w, w0 = step_approximator(f, np.sort(np.asarray(breakpoints, dtype=np.float64)))
    return sigmoid_network(x, s, w, w0, k)


def sup_error(f, g, x):
    r"""Uniform error on a grid: :math:`\max_i |f(x_i) - g(x_i)|`, the grid's estimate of
    :math:`\sup_x |f(x) - g(x)|`. ``f``, ``g`` are functions of an array ``x`` (n,)."""
    return float(np.max(np.abs(f(x) - g(x))))


# --- polygons: AND of half-planes (2 layers), OR of polygons (3 layers) ----------------


def signed_area(vertices):
    r"""Shoelace formula :math:`\frac12 \sum_j (x_j y_{j+1} - x_{j+1} y_j)`; positive when the
    vertices go counterclockwise."""
    v = np.asarray(vertices, dtype=np.float64)
    x, y = v[:, 0], v[:, 1]
    return 0.5 * float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y))


def half_planes(vertices):
    r"""First-layer weights of a convex polygon: one threshold neuron per edge.

    For the edge :math:`e_j = v_{j+1} - v_j` of a counterclockwise polygon the interior
    lies on the left, where the cross product :math:`e_j \times (x - v_j) > 0`, i.e.

    .. math:: \langle n_j, x\rangle + c_j > 0, \qquad n_j = (-e_{j,2},\ e_{j,1}),
              \quad c_j = -\langle n_j, v_j\rangle .

    A clockwise polygon gets the normals flipped (the sign of :func:`signed_area`).
    Returns ``W`` (2, m) with :math:`n_j` in column ``j`` and ``c`` (m,).
    """
    v = np.asarray(vertices, dtype=np.float64)
    e = np.roll(v, -1, axis=0) - v
    n = np.sign(signed_area(v)) * np.stack([-e[:, 1], e[:, 0]], axis=1)
    return n.T, -np.sum(n * v, axis=1)


def polygon_network_params(vertices):
    r"""Two-layer threshold network of the indicator of a convex polygon (Kitov's lecture):

    .. math:: a(x) = \Bigl[\sum_{j=1}^m [\langle n_j, x\rangle + c_j > 0] - (m - \tfrac12) > 0\Bigr].

    :class:`~nnref.mlp.MLP` parameter dict for sizes ``[2, m, 1]``.
    """
    W1, b1 = half_planes(vertices)
    W2, b2 = and_neuron(W1.shape[1])
    return {"W1": W1, "b1": b1, "W2": W2, "b2": b2}


def union_network_params(*polygons):
    r"""Three-layer threshold network of the union of convex polygons :math:`P_1, \dots, P_K`:
    half-planes of every polygon (layer 1), one AND per polygon (layer 2), OR (layer 3):

    .. math:: a(x) = \Bigl[\sum_{k=1}^K \mathbb 1_{P_k}(x) - \tfrac12 > 0\Bigr].

    ``W2`` is block diagonal: AND neuron ``k`` sees only the half-planes of :math:`P_k`.
    Parameter dict for sizes ``[2, m_1 + ... + m_K, K, 1]``.
    """
    blocks = [polygon_network_params(p) for p in polygons]
    sizes = [blk["W1"].shape[1] for blk in blocks]
    W2 = np.zeros((sum(sizes), len(blocks)))
    for k, (start, blk) in enumerate(zip(np.cumsum([0] + sizes[:-1]), blocks)):
        W2[start:start + sizes[k], k] = blk["W2"][:, 0]
    W3, b3 = or_neuron(len(blocks))
    return {"W1": np.hstack([blk["W1"] for blk in blocks]),
            "b1": np.concatenate([blk["b1"] for blk in blocks]),
            "W2": W2, "b2": np.concatenate([blk["b2"] for blk in blocks]),
            "W3": W3, "b3": b3}


def grid_regression_params(f, edges):
    r"""Kitov's lecture's three-layer regression in two dimensions: on the square cells
    :math:`C_{ij} = (e_i, e_{i+1}] \times (e_j, e_{j+1}]` of a grid with sorted ``edges``
    :math:`e_0 < \dots < e_n`, the value :math:`f(c_{ij})` at the cell's centre.

    Layer 1: :math:`2(n+1)` threshold neurons :math:`u_i = [x_1 > e_i]`, :math:`v_j = [x_2 > e_j]`.
    Layer 2: one AND per cell; :math:`u_i - u_{i+1} = \mathbb I[x_1 \in (e_i, e_{i+1}]]`, so

    .. math:: \mathbb 1_{C_{ij}}(x) = \bigl[u_i - u_{i+1} + v_j - v_{j+1} - \tfrac32 > 0\bigr].

    Layer 3: linear, :math:`a(x) = \sum_{ij} f(c_{ij})\, \mathbb 1_{C_{ij}}(x)`.
    ``f`` maps points (n, 2) to (n,). Parameter dict for sizes ``[2, 2(n+1), n^2, 1]``;
    cell :math:`(i, j)` is AND neuron :math:`i n + j`.
    """
    e = np.asarray(edges, dtype=np.float64)
    n = e.size - 1
    W1 = np.zeros((2, 2 * (n + 1)))
    W1[0, :n + 1], W1[1, n + 1:] = 1.0, 1.0
    b1 = -np.concatenate([e, e])
    W2 = np.zeros((2 * (n + 1), n * n))
    for i in range(n):
        for j in range(n):
            W2[[i, i + 1, n + 1 + j, n + 2 + j], i * n + j] = [1.0, -1.0, 1.0, -1.0]
    centres = (e[:-1] + e[1:]) / 2
    c1, c2 = np.meshgrid(centres, centres, indexing="ij")
    heights = f(np.stack([c1.ravel(), c2.ravel()], axis=1))
    return {"W1": W1, "b1": b1, "W2": W2, "b2": np.full(n * n, -1.5),
            "W3": np.asarray(heights, dtype=np.float64).reshape(-1, 1), "b3": np.zeros(1)}


def grid_regression(points, f, edges):
    r"""The network of :func:`grid_regression_params` at ``points`` (n, 2) -> (n,)."""
    net = threshold_mlp(grid_regression_params(f, edges), output="identity")
    return net.forward(np.asarray(points, dtype=np.float64))[:, 0]


def threshold_mlp(params, output="heaviside"):
    r"""An :class:`~nnref.mlp.MLP` with threshold hidden neurons :math:`[z > 0]` and the given
    output activation, carrying the given parameters (``W1, b1, ..., WL, bL``)."""
    L = len(params) // 2
    sizes = [params["W1"].shape[0]] + [params[f"W{l}"].shape[1] for l in range(1, L + 1)]
    net = MLP(sizes, activation="heaviside", output=output)
    net.params = {name: np.array(value, dtype=np.float64) for name, value in params.items()}
    return net


def convex_polygon_indicator(points, vertices):
    r""":math:`\mathbb 1[x \in P]` for a convex polygon ``vertices`` (m, 2), computed by the
    two-layer network of :func:`polygon_network_params`. ``points`` (n, 2) -> (n,) of 0/1."""
    net = threshold_mlp(polygon_network_params(vertices))
    return net.forward(np.asarray(points, dtype=np.float64))[:, 0]


def polygon_union_indicator(points, *polygons):
    r""":math:`\mathbb 1[x \in P_1 \cup \dots \cup P_K]` by the three-layer network of
    :func:`union_network_params`. ``points`` (n, 2) -> (n,) of 0/1."""
    net = threshold_mlp(union_network_params(*polygons))
    return net.forward(np.asarray(points, dtype=np.float64))[:, 0]


def convex_hull(points):
    r"""Vertices of the convex hull of ``points`` (n, 2), counterclockwise (Andrew's
    monotone chain): sort the points, then keep only left turns, where
    :math:`(b - a) \times (c - b) > 0`, along the lower and the upper chain."""
    pts = sorted(map(tuple, np.asarray(points, dtype=np.float64)))

    def chain(sequence):
        kept = []
        for p in sequence:
            while len(kept) >= 2 and _cross(kept[-2], kept[-1], p) <= 0:
                kept.pop()
            kept.append(p)
        return kept[:-1]

    return np.array(chain(pts) + chain(reversed(pts)))


def _cross(a, b, c):
    return (b[0] - a[0]) * (c[1] - b[1]) - (b[1] - a[1]) * (c[0] - b[0])


# --- depth: a sawtooth from composed tents (Telgarsky 2016) ------------------------------


def tent(x):
    r"""Tent map :math:`T(x) = 2\,\mathrm{ReLU}(x) - 4\,\mathrm{ReLU}(x - \tfrac12)`, equal to
    :math:`2\min(x, 1 - x)` on [0, 1]: a layer of two ReLU neurons."""
    x = np.asarray(x, dtype=np.float64)
    return 2 * activations.relu(x) - 4 * activations.relu(x - 0.5)


def sawtooth(x, depth):
    r""":math:`T^{\circ k}(x) = T(T(\cdots T(x)))`, ``depth`` = :math:`k` tents composed: a
    network of :math:`k` hidden layers of 2 ReLUs with :math:`2^k` linear pieces on [0, 1]."""
    y = np.asarray(x, dtype=np.float64)
    for _ in range(depth):
        y = tent(y)
    return y


def count_linear_pieces(x, y, tol=1e-7):
    r"""Number of maximal linear pieces of a piecewise linear function sampled at sorted
    ``x`` (n,) with values ``y`` (n,): one plus the number of slope changes larger than
    ``tol`` between consecutive grid intervals. Exact when every kink is a grid point."""
    slopes = np.diff(y) / np.diff(x)
    return 1 + int(np.sum(np.abs(np.diff(slopes)) > tol * np.maximum(1.0, np.abs(slopes[1:]))))
