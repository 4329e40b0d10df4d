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
    assert "wrong shape: expected (3,), got (2,)" in message(expect_close, [1, 2], [1, 2, 3])
    assert "forget to `return`" in message(expect_close, None, [1.0])
    assert "expected numbers" in message(expect_close, "abc", [1.0])


def test_overflow_is_called_out():
    text = message(expect_close, [np.nan, 1.0], [0.0, 1.0], "sigmoid")
    assert "nan" in text and "numerically stable" in text


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
    assert "wrong value" in message(grade, mutating, ref="activations.relu", cases=[normal(50)])


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
