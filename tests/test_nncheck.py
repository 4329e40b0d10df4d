"""nncheck, the students' check helper: its messages say what is wrong, and nothing else."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from nncheck import (CheckFailed, binary_grid, expect_close, expect_equal, grade, grid,
                     integers, normal, signs, uniform, values)
from nncheck import grading as G


def message(fn, *args, **kwargs):
    with pytest.raises(CheckFailed) as info:
        fn(*args, **kwargs)
    return str(info.value)


def test_a_wrong_element_is_named_with_expected_and_got_and_the_hint():
    text = message(expect_close, [1.0, 2.0, 3.5], [1.0, 2.0, 3.0], "f(x)", hint="check the bias")
    assert "f(x)" in text and "index (2,)" in text
    assert "expected 3" in text and "got 3.5" in text
    assert "1 of 3 element(s) wrong" in text and "Hint: check the bias" in text


def test_shape_none_and_non_numbers_get_their_own_message():
    assert "shape mismatch: expected an array of shape (3,), got one of shape (2,)" in \
        message(expect_close, [1, 2], [1, 2, 3])
    assert "forget to `return`" in message(expect_close, None, [1.0])
    assert "expected numbers" in message(expect_close, "abc", [1.0])


def test_nan_and_inf_are_explained_without_guessing_an_overflow():
    text = message(expect_close, [np.nan, 1.0], [0.0, 1.0], "adam_run")
    assert "got nan at index (0,)" in text and "0/0" in text and "overflow" not in text
    text = message(expect_close, [np.inf], [2.0], "f")
    assert "got inf" in text and "division by zero" in text


def test_a_shape_mismatch_is_reported_as_one_not_as_a_wrong_value():
    text = message(expect_close, np.arange(30.0), np.arange(31.0), "history")
    assert "shape mismatch" in text and "(31,)" in text and "(30,)" in text
    assert "wrong value" not in text
    text = message(expect_close, (np.ones(3), 2.0), (np.ones((3, 1)), 2.0), "grads")
    assert "grads[0]: shape mismatch" in text


def test_a_float32_result_is_told_it_is_float32_instead_of_the_usual_hint():
    z = np.array([1.0, 2.0, 3.0])
    got = (np.exp(z) / np.exp(z).sum()).astype(np.float32) + np.float32(1e-7)
    text = message(expect_close, got, np.exp(z) / np.exp(z).sum(), "softmax", rtol=1e-12,
                   hint="subtract the maximum logit before exponentiating")
    assert "float32" in text and "float64" in text and "maximum logit" not in text
    expect_close(np.float32([0.5]), [0.5])     # a float32 result that is right passes


def grading_message(student, ref, cases, **kwargs):
    return message(grade, student, ref=ref, cases=cases, **kwargs)


def test_a_function_that_modifies_its_argument_fails_naming_it():
    def relu_backward(dout, z):
        dout[z <= 0] = 0.0                      # zeroes the caller's dout
        return dout
    text = grading_message(relu_backward, "backprop.relu_backward", [(normal(6), normal(6))])
    assert "modified its argument `dout` in place" in text and "`z`" not in text

    def gd_step(X, y, w, b, eta):
        w -= eta * (2 / len(y)) * X.T @ (X @ w + b - y)
        return w, b - eta * (2 / len(y)) * np.sum(X @ w + b - y)
    text = grading_message(gd_step, "neuron.mse_gd_step",
                           [(normal(5, 2), normal(5), normal(2), values(0.5), values(0.1))])
    assert "`w`" in text and "in place" in text


def test_restoring_an_argument_is_not_modifying_it():
    def numerical_gradient_demo(x):
        x[...] += 1.0
        x[...] -= 1.0
        return np.zeros_like(x)
    with pytest.raises(CheckFailed) as info:  # wrong values, but not "modified"
        grade(numerical_gradient_demo, ref="activations.relu", cases=[values([1.0, 2.0])])
    assert "in place" not in str(info.value)


def test_the_reference_sees_the_inputs_before_the_student_changes_them():
    seen = []

    def student(z):
        seen.append(z)
        z[...] = 0.0
        return np.maximum(z, 0.0)
    text = grading_message(student, "activations.relu", [values([1.0, -2.0, 3.0])])
    assert "modified its argument `z`" in text
    assert "[ 1., -2.,  3.]" in text or "[1.0, -2.0, 3.0]" in text.replace(" ", "") \
        or "1., -2., 3." in text.replace("  ", " "), text   # the input as given, not zeroed


def test_a_floating_point_warning_fails_the_check_naming_the_warning_and_the_input():
    def sigmoid(z):
        return np.where(z >= 0, 1 / (1 + np.exp(-z)), np.exp(z) / (1 + np.exp(z)))
    text = grading_message(sigmoid, "activations.sigmoid", [values([-1000.0, 0.0, 1000.0])])
    assert "sigmoid" in text and "RuntimeWarning: overflow encountered in exp" in text
    assert "-1000" in text and "np.where evaluates BOTH branches" in text
    # the student's own np.seterr does not switch the policy off
    old = np.seterr(all="ignore")
    try:
        assert "overflow" in grading_message(sigmoid, "activations.sigmoid", [values([1000.0])])
    finally:
        np.seterr(**old)

    def adam_bias(m):
        return m / (1 - 0.9 ** 0)               # k counted from 0: a division by zero
    assert "divide by zero" in grading_message(adam_bias, "activations.relu", [normal(3)])


def test_a_warning_suppressed_inside_the_function_is_its_own_business():
    def sigmoid(z):
        with np.errstate(over="ignore"):
            return 1 / (1 + np.exp(-z))
    grade(sigmoid, ref="activations.sigmoid", cases=[values([-1000.0, 0.0, 1000.0])])


def test_other_warnings_pass_through():
    import warnings

    def relu(z):
        warnings.warn("a deprecation", DeprecationWarning)
        return np.maximum(z, 0.0)
    with pytest.warns(DeprecationWarning):
        grade(relu, ref="activations.relu", cases=[normal(3)])


def test_a_numpy_error_names_the_function_its_line_and_the_cause():
    def predict_linear(X, w, b):
        return w @ X + b                       # the factors swapped
    text = grading_message(lambda X, w, b: predict_linear(X, w, b), "neuron.predict_linear",
                           [(normal(8, 3), normal(3), normal())])
    assert "raised ValueError in predict_linear()" in text
    assert ": `return w @ X + b" in text and "matrix product" in text

    def neuron(X, w, b):
        return np.sum(X * w[:, None], axis=1) + b
    text = grading_message(neuron, "neuron.predict_linear", [(normal(8, 3), normal(3), normal())])
    assert "neuron" in text and "broadcast" in text and "shape (8, 3)" in text


def test_tuples_and_dicts_are_compared_entry_by_entry():
    expect_close((np.ones(2), 3.0), (np.ones(2), 3.0))
    assert "grads['W']" in message(expect_close, {"W": np.ones(2)}, {"W": np.zeros(2)}, "grads")
    assert "expected 2 values, got 1" in message(expect_close, (np.ones(2),), (np.ones(2), 1.0))


def test_exact_checks_allow_no_tolerance():
    expect_equal([0.0, 1.0], [0, 1])
    assert "wrong value" in message(expect_equal, [0.0, 1.0 + 1e-15], [0, 1])


def test_specs_draw_the_declared_shapes_reproducibly():
    rng = lambda: np.random.default_rng(0)  # noqa: E731
    assert normal(3, 4).draw(rng()).shape == (3, 4)
    assert np.all(np.abs(uniform(50, low=-2, high=-1).draw(rng()) + 1.5) <= 0.5)
    assert set(np.unique(signs(100).draw(rng()))) == {-1.0, 1.0}
    assert integers(0, 3, 10).draw(rng()).max() < 3
    assert np.array_equal(binary_grid(2).draw(rng()), [[0, 0], [0, 1], [1, 0], [1, 1]])
    assert np.array_equal(grid(0, 1, 3).draw(rng()), [0, 0.5, 1])
    assert values(2.5).draw(rng()).shape == ()
    assert np.array_equal(normal(5).draw(rng()), normal(5).draw(rng()))


def test_grade_passes_the_reference_and_fails_a_mistake(monkeypatch):
    monkeypatch.setenv("NNCHECK_SEED", "123")
    from nnref.activations import sigmoid
    grade(sigmoid, ref="activations.sigmoid", cases=[normal(5), values([-1000.0, 1000.0])])
    text = message(grade, lambda z: 1 / (1 + np.exp(z)), ref="activations.sigmoid",
                   cases=[normal(5)], hint="sign of the exponent")
    assert "seed 123" in text and "Case 1 of 1" in text and "sign of the exponent" in text


def test_grade_reports_a_stub_as_not_implemented():
    def stub(z):
        raise NotImplementedError()
    assert "not implemented yet" in message(grade, stub, ref="activations.relu", cases=[normal(3)])


def test_grade_does_not_let_the_student_change_the_inputs():
    def mutating(z):
        z[...] = 0.0
        return np.maximum(z, 0.0)
    grade(lambda z: np.maximum(z, 0.0), ref="activations.relu", cases=[normal(4)])
    assert "modified its argument `z`" in message(grade, mutating, ref="activations.relu",
                                                  cases=[normal(50)])


arrays = hnp.arrays(dtype=st.sampled_from([np.float64, np.int64, np.bool_, np.complex128]),
                    shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4))


@given(arrays)
def test_encoded_results_come_back_exactly(x):
    """What the sandbox sends back to the grader: same shape (0-d too), dtype and values."""
    back = G.decode(G.encode(x))
    assert back.shape == x.shape and back.dtype == x.dtype
    assert np.array_equal(back, x, equal_nan=x.dtype.kind in "fc")


def test_encoded_containers_come_back_exactly():
    value = {"W": np.ones((2, 3)), "b": np.array(0.5), "n": 3, "ok": True, "t": (1.5, [2, None])}
    back = G.decode(G.encode(value))
    assert back["b"].shape == () and back["n"] == 3 and back["t"] == (1.5, [2, None])
    assert np.array_equal(back["W"], value["W"]) and back["ok"] is True
