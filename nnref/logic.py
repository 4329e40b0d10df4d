r"""Boolean functions computed by McCulloch–Pitts neurons (Vorontsov's lecture).

A threshold neuron :math:`a(x) = [\langle w, x\rangle - w_0 > 0]` on binary inputs
:math:`x \in \{0, 1\}^n`. Inputs are the rows of a float matrix ``X`` of shape (m, n);
outputs are float vectors of 0.0 / 1.0. A truth table of :math:`n` variables is the
vector of the function's values on :func:`binary_inputs` ``(n)``, i.e. on the rows
:math:`0 \dots 0, 0 \dots 01, \dots, 1 \dots 1` in binary counting order.
"""

from functools import lru_cache

import numpy as np

from .neuron import mcculloch_pitts

# The lecture's weights and thresholds: a(x) = [<w, x> - w0 > 0].
W_AND, W0_AND = np.array([1.0, 1.0]), 1.5    # x1 ∧ x2 = [x1 + x2 - 3/2 > 0]
W_OR, W0_OR = np.array([1.0, 1.0]), 0.5      # x1 ∨ x2 = [x1 + x2 - 1/2 > 0]
W_NOT, W0_NOT = np.array([-1.0]), -0.5       # ¬x1     = [-x1 + 1/2 > 0]

# XOR with the nonlinear feature x1*x2: [x1 + x2 - 2 x1 x2 - 1/2 > 0].
W_XOR_FEATURE, W0_XOR_FEATURE = np.array([1.0, 1.0, -2.0]), 0.5
# XOR as a two-layer net: [(x1 ∨ x2) - (x1 ∧ x2) - 1/2 > 0].
W_XOR_OUT, W0_XOR_OUT = np.array([1.0, -1.0]), 0.5


def binary_inputs(n):
    r"""All :math:`2^n` points of :math:`\{0, 1\}^n` as the rows of a (2^n, n) float array,
    in binary counting order (row :math:`k` holds the bits of :math:`k`, most significant
    first)."""
    k = np.arange(2**n)[:, None]
    return ((k >> np.arange(n - 1, -1, -1)) & 1).astype(np.float64)


def threshold_neuron(X, w, b):
    r"""A threshold neuron written with a bias: :math:`[Xw + b > 0]`, row by row; the
    McCulloch–Pitts neuron with :math:`b = -w_0`. ``X`` (m, n), ``w`` (n,) -> (m,)."""
    return mcculloch_pitts(X, w, -np.asarray(b, dtype=np.float64))


def and_gate(X):
    r""":math:`x^1 \wedge x^2 = [x^1 + x^2 - \tfrac32 > 0]`; ``X`` (m, 2) -> (m,)."""
    return mcculloch_pitts(X, W_AND, W0_AND)


def or_gate(X):
    r""":math:`x^1 \vee x^2 = [x^1 + x^2 - \tfrac12 > 0]`; ``X`` (m, 2) -> (m,)."""
    return mcculloch_pitts(X, W_OR, W0_OR)


def not_gate(X):
    r""":math:`\neg x^1 = [-x^1 + \tfrac12 > 0]`; ``X`` (m, 1) -> (m,)."""
    return mcculloch_pitts(X, W_NOT, W0_NOT)


def xor(X):
    r"""The truth: :math:`x^1 \oplus x^2 = [x^1 \ne x^2]`; ``X`` (m, 2) -> (m,)."""
    X = np.asarray(X, dtype=np.float64)
    return (X[:, 0] != X[:, 1]).astype(np.float64)


def xor_features(X):
    r"""The features :math:`(x^1, x^2, x^1 x^2)`: one nonlinear feature added; (m, 3)."""
    X = np.asarray(X, dtype=np.float64)
    return np.column_stack([X, X[:, 0] * X[:, 1]])


def xor_feature(X):
    r"""XOR by one neuron on the features :math:`(x^1, x^2, x^1x^2)`:
    :math:`x^1 \oplus x^2 = [x^1 + x^2 - 2x^1x^2 - \tfrac12 > 0]`."""
    return mcculloch_pitts(xor_features(X), W_XOR_FEATURE, W0_XOR_FEATURE)


def xor_hidden(X):
    r"""The hidden layer of the XOR net: the columns :math:`(x^1 \vee x^2,\ x^1 \wedge x^2)`;
    ``X`` (m, 2) -> (m, 2)."""
    return np.column_stack([or_gate(X), and_gate(X)])


def xor_two_layer(X):
    r"""XOR by a two-layer net of threshold neurons:
    :math:`x^1 \oplus x^2 = [(x^1 \vee x^2) - (x^1 \wedge x^2) - \tfrac12 > 0]`."""
    return mcculloch_pitts(xor_hidden(X), W_XOR_OUT, W0_XOR_OUT)


# --- AND / OR of m inputs, in the matrix form of a layer (W, b) ---------------------------


def and_neuron(m):
    r"""AND of :math:`m` binary inputs, Vorontsov's lecture's rule with threshold :math:`m - \frac12`:
    :math:`[u_1 + \dots + u_m - (m - \tfrac12) > 0]` (Kitov's lecture: :math:`\mathbb I[\sum u_j \ge m]`).

    Returns ``(W (m, 1), b (1,))``.
    """
    return np.ones((m, 1)), np.array([-(m - 0.5)])


def or_neuron(m):
    r"""OR of :math:`m` binary inputs: :math:`[u_1 + \dots + u_m - \tfrac12 > 0]`
    (Kitov's lecture: :math:`\mathbb I[\sum u_j \ge 1]`). Returns ``(W (m, 1), b (1,))``."""
    return np.ones((m, 1)), np.array([-0.5])


# --- any Boolean function: the DNF network ----------------------------------------------


def _num_variables(truth_table):
    n = int(round(np.log2(len(truth_table))))
    if 2**n != len(truth_table):
        raise ValueError(f"a truth table has 2^n entries, got {len(truth_table)}")
    return n


def dnf_network(truth_table):
    r"""A two-layer threshold net computing the Boolean function with this truth table.

    Perfect DNF: :math:`f(x) = \bigvee_{a:\,f(a) = 1} K_a(x)` with the conjunction
    :math:`K_a(x) = [x = a]`. Each true row :math:`a` (in table order) gets one hidden
    neuron
    :math:`K_a(x) = \bigl[\sum_j (2a_j - 1)\,x_j - (|a| - \tfrac12) > 0\bigr]`,
    :math:`|a| = \sum_j a_j`: the sum equals :math:`|a|` at :math:`x = a` and is at most
    :math:`|a| - 1` elsewhere. The output neuron is the OR of the hidden ones,
    :math:`[\sum_k h_k - \tfrac12 > 0]`.

    Returns ``(W1, w01, w2, w02)``: ``W1`` (n, H) and ``w01`` (H,) for the H hidden
    neurons (H = number of ones in the table), ``w2`` (H,) and the number ``w02``.
    """
    truth_table = np.asarray(truth_table)
    n = _num_variables(truth_table)
    true_rows = binary_inputs(n)[truth_table != 0]      # (H, n), one row a per conjunction
    W1 = (2.0 * true_rows - 1.0).T                       # +1 where a_j = 1, -1 where a_j = 0
    w01 = true_rows.sum(axis=1) - 0.5                    # |a| - 1/2
    w2 = np.ones(len(true_rows))
    return W1, w01, w2, 0.5


def dnf_hidden(X, network):
    r"""Hidden layer of a DNF network: :math:`h = [XW_1 - w_{01} > 0]`, shape (m, H)."""
    W1, w01, _, _ = network
    return (np.asarray(X, dtype=np.float64) @ W1 - w01 > 0).astype(np.float64)


def dnf_forward(X, network):
    r"""Output of a DNF network: :math:`[\langle w_2, h\rangle - w_{02} > 0]`, shape (m,)."""
    _, _, w2, w02 = network
    return mcculloch_pitts(dnf_hidden(X, network), w2, w02)


def dnf_network_eval(truth_table):
    """Build the DNF network of ``truth_table`` and evaluate it on all :math:`2^n` inputs
    (in table order); equals the truth table (as floats)."""
    n = _num_variables(np.asarray(truth_table))
    return dnf_forward(binary_inputs(n), dnf_network(truth_table))


def dnf_hidden_eval(truth_table):
    r"""The hidden layer of the DNF network on all :math:`2^n` inputs, (2^n, H): column
    :math:`k` is the indicator of the :math:`k`-th true row."""
    n = _num_variables(np.asarray(truth_table))
    return dnf_hidden(binary_inputs(n), dnf_network(truth_table))


# --- which Boolean functions one neuron can compute ------------------------------------


def _max_integer_weight(n):
    r"""Muroga's bound: every threshold function of :math:`n` variables has a realisation
    with integer weights :math:`|w_j| \le (n + 1)^{(n+1)/2} / 2^n`."""
    return int((n + 1) ** ((n + 1) / 2) / 2**n)


def _table_code(tables):
    """Each truth table (last axis, 0/1) read as a binary number: a hashable key."""
    tables = np.asarray(tables, dtype=np.int64)
    return tables @ (1 << np.arange(tables.shape[-1] - 1, -1, -1, dtype=np.int64))


@lru_cache(maxsize=None)
def _threshold_functions(n):
    """Every truth table one threshold neuron computes on {0,1}^n: a dict from the
    table's code to one realisation (w, w0) with integer w and half-integer w0."""
    B = _max_integer_weight(n)
    grid = np.arange(-B, B + 1, dtype=np.float64)
    weights = np.stack(np.meshgrid(*[grid] * n, indexing="ij"), axis=-1).reshape(-1, n)
    thresholds = np.arange(-n * B - 1, n * B + 1) + 0.5   # half-integers: every cut
    sums = weights @ binary_inputs(n).T                    # (K, 2^n): <w, x> per input
    codes = _table_code(sums[None, :, :] > thresholds[:, None, None])   # (T, K)
    _, first = np.unique(codes.ravel(), return_index=True)
    t, k = np.unravel_index(first, codes.shape)
    return {int(codes[i, j]): (weights[j], float(thresholds[i])) for i, j in zip(t, k)}


def separating_neuron(truth_table):
    r"""Weights ``(w, w0)`` of one threshold neuron :math:`[\langle w, x\rangle - w_0 > 0]`
    computing the Boolean function with this truth table, or ``None`` if none exists.

    Exhaustive search over integer weights :math:`|w_j| \le B_n` (Muroga's bound, which
    guarantees that the search is complete) and half-integer thresholds; meant for
    :math:`1 \le n \le 4`.
    """
    truth_table = np.asarray(truth_table)
    tables = _threshold_functions(_num_variables(truth_table))
    return tables.get(int(_table_code(truth_table != 0)))


def linearly_separable(truth_table):
    """True iff one threshold neuron computes the Boolean function (see
    :func:`separating_neuron`); for example ``False`` for XOR ``[0, 1, 1, 0]``."""
    return separating_neuron(truth_table) is not None


def count_threshold_functions(n):
    r"""How many of the :math:`2^{2^n}` Boolean functions of :math:`n` variables one
    threshold neuron computes (4, 14, 104, 1882 for n = 1, ..., 4)."""
    return len(_threshold_functions(n))
