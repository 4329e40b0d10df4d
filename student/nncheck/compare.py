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


def _precision(got):
    """``"float32"`` (or float16) when the student's result is in single precision."""
    dtype = getattr(got, "dtype", None)
    if dtype is None:
        try:
            dtype = np.asarray(got).dtype
        except (TypeError, ValueError):
            return None
    name = str(dtype).replace("torch.", "")
    return name if name in ("float32", "float16", "bfloat16", "complex64") else None


_NOT_FINITE = {
    "nan": "nan (not a number) comes from 0/0, inf - inf, inf/inf or 0 * inf",
    "inf": "inf comes from a division by zero or a number beyond float64's range (about 1.8e308)",
}


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
    single = _precision(got)
    got = _as_float_array(got, name, hint, context)
    if got.shape != expected.shape:
        _fail(name, f"shape mismatch: expected an array of shape {expected.shape}, got one of "
                    f"shape {got.shape} (values are compared only when the shapes agree)",
              hint, context)
    bad = ~np.isfinite(got) & np.isfinite(expected)
    with np.errstate(all="ignore"):  # inf - inf: a comparison prints no warning of its own
        err = np.abs(got - expected)
        tol = atol + rtol * np.abs(expected)
        wrong = ~(err <= tol) & ~(np.isinf(expected) & (got == expected))
    if single and wrong.any():
        # the usual hint (a max-subtraction, a batch mean...) would mislead: say what it is
        hint = (f"your result is {single} (single precision, about 7 significant digits); "
                "the course computes in float64: use float64 arrays (np.asarray(x, dtype="
                "np.float64); torch.float64 / .double() in torch)")
    if bad.any():
        idx = _first(bad)
        kind = "nan" if np.isnan(got[idx]) else "inf"
        where = f" at index {idx}" if got.ndim else ""
        _fail(name, f"got {got[idx]}{where} where {expected[idx]:.6g} was expected "
                    f"({_NOT_FINITE[kind]}); {int(bad.sum())} of {bad.size} element(s) "
                    "not finite", hint, context)
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
