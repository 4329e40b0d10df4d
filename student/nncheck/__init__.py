"""nncheck: answer-free checks for the nncourse exercises.

Visible tests call :func:`expect_close` and friends with values from the lectures;
hidden tests declare a comparison with :func:`grade`. Nothing in here knows an answer.
"""

from .compare import CheckFailed, expect_close, expect_equal, expect_true
from .grading import (binary_grid, grade, grid, integers, normal, signs, uniform,
                      values)

__all__ = [
    "CheckFailed", "expect_close", "expect_equal", "expect_true",
    "grade", "normal", "uniform", "integers", "signs", "values", "grid", "binary_grid",
]
