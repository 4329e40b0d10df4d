"""Specification of nnref.logic: AND/OR/NOT as threshold neurons with lecture 000's
weights, the two ways to XOR, and the DNF network for any Boolean function."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnref import logic

X2 = logic.binary_inputs(2)        # rows 00, 01, 10, 11
X1 = logic.binary_inputs(1)        # rows 0, 1


def test_binary_inputs_count_in_binary():
    np.testing.assert_array_equal(X2, [[0, 0], [0, 1], [1, 0], [1, 1]])
    X3 = logic.binary_inputs(3)
    assert X3.shape == (8, 3) and X3.dtype == np.float64
    np.testing.assert_array_equal(X3 @ [4, 2, 1], np.arange(8))


def test_binary_inputs_agree_with_nncheck_binary_grid():
    from nncheck.grading import binary_grid
    for n in range(1, 5):
        np.testing.assert_array_equal(logic.binary_inputs(n),
                                      binary_grid(n).draw(np.random.default_rng(0)))


def test_gates_truth_tables():
    np.testing.assert_array_equal(logic.and_gate(X2), [0, 0, 0, 1])
    np.testing.assert_array_equal(logic.or_gate(X2), [0, 1, 1, 1])
    np.testing.assert_array_equal(logic.not_gate(X1), [1, 0])


def test_gates_use_the_lecture_weights():
    """x1 ∧ x2 = [x1 + x2 − 3/2 > 0], x1 ∨ x2 = [x1 + x2 − 1/2 > 0], ¬x1 = [−x1 + 1/2 > 0]."""
    assert (logic.W_AND.tolist(), logic.W0_AND) == ([1.0, 1.0], 1.5)
    assert (logic.W_OR.tolist(), logic.W0_OR) == ([1.0, 1.0], 0.5)
    assert (logic.W_NOT.tolist(), logic.W0_NOT) == ([-1.0], -0.5)


def test_half_integer_thresholds_leave_a_margin_of_one_half():
    for w, w0, X in [(logic.W_AND, logic.W0_AND, X2), (logic.W_OR, logic.W0_OR, X2),
                     (logic.W_NOT, logic.W0_NOT, X1)]:
        assert np.min(np.abs(X @ w - w0)) == 0.5


def test_xor_truth_and_both_constructions():
    np.testing.assert_array_equal(logic.xor(X2), [0, 1, 1, 0])
    np.testing.assert_array_equal(logic.xor_feature(X2), logic.xor(X2))
    np.testing.assert_array_equal(logic.xor_two_layer(X2), logic.xor(X2))


def test_xor_hidden_layer_is_or_and_and():
    H = logic.xor_hidden(X2)
    np.testing.assert_array_equal(H, [[0, 0], [1, 0], [1, 0], [1, 1]])
    # in the hidden space the two XOR classes are separated by h1 - h2 = 1/2
    assert logic.linearly_separable(logic.xor(X2)) is False
    np.testing.assert_array_equal(H @ logic.W_XOR_OUT - logic.W0_XOR_OUT > 0, [0, 1, 1, 0])


def test_xor_feature_polynomial_equals_xor_on_binary_inputs():
    """x1 + x2 − 2 x1 x2 is exactly x1 ⊕ x2 as a number on {0,1}^2."""
    np.testing.assert_array_equal(logic.xor_features(X2) @ logic.W_XOR_FEATURE, logic.xor(X2))


def test_gates_work_on_any_number_of_rows():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 2, (50, 2)).astype(float)
    np.testing.assert_array_equal(logic.and_gate(X), X[:, 0] * X[:, 1])
    np.testing.assert_array_equal(logic.or_gate(X), np.maximum(X[:, 0], X[:, 1]))
    np.testing.assert_array_equal(logic.not_gate(X[:, :1]), 1 - X[:, 0])
    np.testing.assert_array_equal(logic.xor_two_layer(X), (X[:, 0] + X[:, 1]) % 2)


# --- one neuron: which functions are linearly separable -----------------------------------


def test_xor_and_xnor_are_the_only_two_inseparable_functions_of_two_variables():
    inseparable = [tt for tt in itertools.product([0, 1], repeat=4)
                   if not logic.linearly_separable(tt)]
    assert inseparable == [(0, 1, 1, 0), (1, 0, 0, 1)]


@pytest.mark.parametrize("n, count", [(1, 4), (2, 14), (3, 104), (4, 1882)])
def test_number_of_threshold_functions_matches_the_known_sequence(n, count):
    """OEIS A000609: 2, 4, 14, 104, 1882, ... threshold functions of n variables."""
    assert logic.count_threshold_functions(n) == count


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 4).flatmap(lambda n: st.lists(st.integers(0, 1), min_size=2**n,
                                                     max_size=2**n)))
def test_separating_neuron_is_a_witness(truth_table):
    found = logic.separating_neuron(truth_table)
    n = int(np.log2(len(truth_table)))
    if found is not None:
        w, w0 = found
        np.testing.assert_array_equal(logic.binary_inputs(n) @ w - w0 > 0, truth_table)


def test_parity_of_three_and_four_variables_is_not_separable_but_majority_is():
    for n in (3, 4):
        X = logic.binary_inputs(n)
        assert not logic.linearly_separable(X.sum(axis=1) % 2)
        assert logic.linearly_separable(X.sum(axis=1) > n / 2)


# --- the DNF network ------------------------------------------------------------------------


def test_dnf_network_computes_every_boolean_function_of_three_variables():
    X3 = logic.binary_inputs(3)
    for code in range(256):
        truth_table = (code >> np.arange(7, -1, -1)) & 1
        network = logic.dnf_network(truth_table)
        np.testing.assert_array_equal(logic.dnf_forward(X3, network), truth_table)


@settings(max_examples=80, deadline=None)
@given(st.integers(1, 4).flatmap(lambda n: st.lists(st.integers(0, 1), min_size=2**n,
                                                     max_size=2**n)))
def test_dnf_network_reproduces_a_random_truth_table(truth_table):
    np.testing.assert_array_equal(logic.dnf_network_eval(truth_table), truth_table)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 4).flatmap(lambda n: st.lists(st.integers(0, 1), min_size=2**n,
                                                     max_size=2**n)))
def test_each_hidden_neuron_is_the_conjunction_of_one_true_row(truth_table):
    """Hidden neuron k fires on exactly one input: the k-th row where f = 1."""
    H = logic.dnf_hidden_eval(truth_table)
    true_rows = np.flatnonzero(truth_table)
    assert H.shape == (len(truth_table), len(true_rows))
    np.testing.assert_array_equal(H, np.eye(len(truth_table))[:, true_rows])


def test_dnf_network_weights_for_xor():
    W1, w01, w2, w02 = logic.dnf_network([0, 1, 1, 0])
    # conjunctions (¬x1 ∧ x2) and (x1 ∧ ¬x2), then their OR
    np.testing.assert_array_equal(W1, [[-1, 1], [1, -1]])
    np.testing.assert_array_equal(w01, [0.5, 0.5])
    np.testing.assert_array_equal(w2, [1, 1])
    assert w02 == 0.5


def test_dnf_network_of_the_false_function_has_no_hidden_neurons():
    network = logic.dnf_network(np.zeros(8, dtype=int))
    assert network[0].shape == (3, 0)
    np.testing.assert_array_equal(logic.dnf_forward(logic.binary_inputs(3), network), 0)


def test_truth_table_length_must_be_a_power_of_two():
    with pytest.raises(ValueError):
        logic.dnf_network([0, 1, 1])


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 8), st.integers(1, 4), st.floats(-3, 3))
def test_threshold_neuron_is_mcculloch_pitts_with_bias_minus_w0(m, n, b):
    rng = np.random.default_rng(m * 10 + n)
    X, w = rng.integers(0, 2, (m, n)).astype(float), rng.standard_normal(n)
    np.testing.assert_array_equal(logic.threshold_neuron(X, w, b), (X @ w + b > 0).astype(float))
    from nnref.neuron import mcculloch_pitts
    np.testing.assert_array_equal(logic.threshold_neuron(X, w, b), mcculloch_pitts(X, w, -b))
