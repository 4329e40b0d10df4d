"""Comparisons whose failure messages say *what* is wrong.

A failed check raises :class:`CheckFailed` (an ``AssertionError``) with a message
that names the quantity, the first wrong element, the expected and the obtained
value, and a hint for the usual mistake when one is given.
"""

import numpy as np


class CheckFailed(AssertionError):
    """A check failed; the message is meant to be read by a student."""


def _fmt(x):
    return np.array2string(np.asarray(x), precision=6, threshold=12, edgeitems=3)


def _fail(name, why, hint=None, context=None):
    lines = [f"{name}: {why}"]
    if context:
        lines.append(context)
    if hint:
        lines.append(f"Hint: {hint}")
    raise CheckFailed("\n".join(lines))


def _as_float_array(got, name, hint, context):
    if got is None:
        _fail(name, "got None. Did you forget to `return` the result?", hint, context)
    try:
        arr = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError):
        _fail(name, f"expected numbers, got {type(got).__name__}: {got!r:.200}", hint, context)
    return arr


def expect_close(got, expected, name="result", *, rtol=1e-7, atol=1e-10, hint=None, context=None):
    """Check ``got`` equals ``expected`` element-wise within ``atol + rtol*|expected|``.

    Tuples, lists and dicts are compared entry by entry, so a function that returns
    several arrays (``dx, dW, db``) is checked with one call.
    """
    if isinstance(expected, dict):
        if not isinstance(got, dict) or set(got) != set(expected):
            keys = sorted(got) if isinstance(got, dict) else type(got).__name__
            _fail(name, f"expected a dict with keys {sorted(expected)}, got {keys}", hint, context)
        for key in expected:
            expect_close(got[key], expected[key], f"{name}[{key!r}]", rtol=rtol, atol=atol,
                         hint=hint, context=context)
        return
    if isinstance(expected, (tuple, list)) and not _is_numeric_sequence(expected):
        if not isinstance(got, (tuple, list)) or len(got) != len(expected):
            n = len(got) if isinstance(got, (tuple, list)) else type(got).__name__
            _fail(name, f"expected {len(expected)} values, got {n}", hint, context)
        for i, (g, e) in enumerate(zip(got, expected)):
            expect_close(g, e, f"{name}[{i}]", rtol=rtol, atol=atol, hint=hint, context=context)
        return

    expected = np.asarray(expected, dtype=np.float64)
    got = _as_float_array(got, name, hint, context)
    if got.shape != expected.shape:
        _fail(name, f"wrong shape: expected {expected.shape}, got {got.shape}", hint, context)
    bad_nan = ~np.isfinite(got) & np.isfinite(expected)
    if bad_nan.any():
        idx = _first(bad_nan)
        _fail(name, f"got {got[idx]} at index {idx} where {expected[idx]:.6g} was expected "
                    "(overflow? use a numerically stable form)", hint, context)
    err = np.abs(got - expected)
    tol = atol + rtol * np.abs(expected)
    wrong = ~(err <= tol) & ~(np.isinf(expected) & (got == expected))
    if wrong.any():
        idx = _first(wrong)
        where = f" at index {idx}" if got.ndim else ""
        count = int(wrong.sum())
        _fail(name, f"wrong value{where}: expected {expected[idx]:.10g}, got {got[idx]:.10g} "
                    f"(|error| = {err[idx]:.3g}, tolerance {tol[idx]:.3g}); "
                    f"{count} of {wrong.size} element(s) wrong", hint, context)


def expect_equal(got, expected, name="result", *, hint=None, context=None):
    """Check exact equality (labels, truth tables, integer counts)."""
    expect_close(got, expected, name, rtol=0.0, atol=0.0, hint=hint, context=context)


def expect_true(condition, name, why, *, hint=None, context=None):
    """Check a property that is not a comparison of numbers (e.g. 'the loss went down')."""
    if not condition:
        _fail(name, why, hint, context)


def _first(mask):
    return tuple(int(i) for i in np.argwhere(mask)[0]) if mask.ndim else ()


def _is_numeric_sequence(x):
    try:
        return np.asarray(x).dtype.kind in "biuf"
    except (ValueError, TypeError):
        return False
