"""The grading API that every hidden test goes through.

A hidden test does not compute an answer itself. It *declares* a comparison::

    grade(sigmoid, ref="activations.sigmoid",
          cases=[normal(5), normal(3, 4), values([-1000.0, 0.0, 1000.0])],
          rtol=1e-10, hint="sigma(0) = 1/2; for large |z| avoid exp overflow")

- ``student``: the student's callable (or a lambda around their variables);
- ``ref``: the name of the reference function inside ``nnref`` (``module.function``);
- ``cases``: input specifications, drawn at grading time (a fresh seed each run, so a
  hard-coded answer fails); a case is one spec (one argument) or a tuple of specs;
- ``kwargs``: constant keyword arguments passed to both functions;
- ``rtol``/``atol``: element-wise tolerance ``|got - expected| <= atol + rtol |expected|``.

Because the test is a declaration (reference *name*, input *specs*, tolerance), the
comparison can run wherever the grader decides. Locally (the default, and under stock
``nbgrader autograde``) it runs right here, importing ``nnref``. ``nncheck`` itself
contains no answers.
"""

import base64
import copy
import importlib
import inspect
import linecache
import os
import re
import secrets
import traceback
import warnings
from dataclasses import dataclass

import numpy as np

from .compare import CheckFailed, expect_close

# --- input specifications -------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    """How to draw one argument. ``kind`` names the drawing rule, ``params`` its values."""

    kind: str
    params: tuple

    def draw(self, rng):
        return _DRAW[self.kind](rng, *self.params)

    def __str__(self):
        return f"{self.kind}{self.params}"


def normal(*shape, scale=1.0):
    """Gaussian entries N(0, scale^2) of the given shape."""
    return Spec("normal", (tuple(shape), float(scale)))


def uniform(*shape, low=-1.0, high=1.0):
    """Uniform entries on [low, high) of the given shape."""
    return Spec("uniform", (tuple(shape), float(low), float(high)))


def integers(low, high, *shape):
    """Integers in [low, high) of the given shape (class labels, indices)."""
    return Spec("integers", (int(low), int(high), tuple(shape)))


def signs(*shape):
    """Entries drawn from {-1, +1} (labels of a margin classifier)."""
    return Spec("signs", (tuple(shape),))


def values(x):
    """A fixed argument (an edge case such as z = +-1000, or a constant)."""
    arr = np.asarray(x)
    return Spec("values", (arr.tolist(), str(arr.dtype)))


def grid(low, high, num):
    """``num`` equally spaced points on [low, high] (a 1-D function's domain)."""
    return Spec("grid", (float(low), float(high), int(num)))


def binary_grid(n):
    """All 2^n binary vectors as the rows of a (2^n, n) float array (truth tables)."""
    return Spec("binary_grid", (int(n),))


_DRAW = {
    "normal": lambda rng, shape, scale: scale * rng.standard_normal(shape),
    "uniform": lambda rng, shape, low, high: rng.uniform(low, high, shape),
    "integers": lambda rng, low, high, shape: rng.integers(low, high, shape),
    "signs": lambda rng, shape: rng.choice([-1.0, 1.0], size=shape),
    "values": lambda rng, x, dtype: np.array(x, dtype=dtype),
    "grid": lambda rng, low, high, num: np.linspace(low, high, num),
    "binary_grid": lambda rng, n: np.array(
        [[(i >> (n - 1 - j)) & 1 for j in range(n)] for i in range(2**n)], dtype=np.float64),
}


def draw_case(case, rng):
    """Draw the positional arguments of one case."""
    specs = case if isinstance(case, tuple) else (case,)
    return tuple(spec.draw(rng) for spec in specs)


def describe_args(args):
    """Inputs as a student can read them: small arrays by value, larger ones by shape."""
    return ", ".join(_describe(a) for a in args)


def _describe(a):
    if isinstance(a, np.ndarray) and a.ndim and a.size <= 6:
        return np.array2string(a, precision=6, separator=", ")
    if np.ndim(a):
        return f"shape {np.shape(a)}"
    return repr(a.item() if isinstance(a, (np.ndarray, np.generic)) else a)


# --- the comparison ---------------------------------------------------------------------


def reference(ref):
    """The reference function ``nnref.<module>.<function>``."""
    module, _, function = ref.rpartition(".")
    try:
        return getattr(importlib.import_module(f"nnref.{module}"), function)
    except ImportError as e:
        raise CheckFailed(f"hidden test for {ref!r}: the reference package nnref is needed "
                          "to grade (it is installed where hidden tests run)") from e


def grading_seed():
    """A fresh seed for every grading run, unless ``NNCHECK_SEED`` fixes one."""
    return int(os.environ.get("NNCHECK_SEED") or secrets.randbits(32))


# A floating-point RuntimeWarning from numpy ("overflow encountered in exp", "invalid value
# encountered in divide", "divide by zero encountered in log") fails the check: see the
# students' page. Other warnings (deprecations, torch's UserWarnings) are passed on.
_FLOATING_POINT = re.compile(r"(overflow|invalid value|divide by zero) encountered")
_WARNING_HINTS = {
    "overflow": "a number grew beyond float64's range (about 1.8e308), usually exp of a large "
                "argument; use a numerically stable form (np.where evaluates BOTH branches, so "
                "the unsafe one must never be computed)",
    "divide by zero": "a division by zero or the log of 0",
    "invalid value": "an undefined operation: 0/0, inf - inf, 0 * inf, or sqrt/log of a "
                     "negative number",
}


def call_student(student, args, kwargs, name):
    """Call ``student(*args, **kwargs)`` on copies, as every graded call is made.

    Fails the check (:class:`CheckFailed`, with a message naming the function, the input and
    the cause) when the call raises, when it emits a floating-point RuntimeWarning, or when
    it modifies one of its arguments in place. The caller's ``args`` are never touched.
    """
    copies, kw = copy.deepcopy(tuple(args)), copy.deepcopy(dict(kwargs))
    with warnings.catch_warnings(record=True) as caught, \
            np.errstate(over="warn", divide="warn", invalid="warn", under="ignore"):
        warnings.simplefilter("always")
        try:
            got = student(*copies, **kw)
        except NotImplementedError as e:
            raise CheckFailed(f"{name}: not implemented yet (the cell still raises "
                              "NotImplementedError).") from e
        except Exception as e:
            raise CheckFailed(_error_message(e, args, name)) from e
    floating = [w for w in caught if issubclass(w.category, RuntimeWarning)
                and _FLOATING_POINT.search(str(w.message))]
    for w in caught:
        if w not in floating:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if floating:
        raise CheckFailed(_warning_message(floating[0], args, name))
    _check_unmodified(student, args, copies, kwargs, kw, name)
    return got


_HERE = os.path.dirname(os.path.abspath(__file__))


def _student_line(filename, lineno):
    line = linecache.getline(filename, lineno).strip() if filename and lineno else ""
    return f" (line {lineno}: `{line[:120]}`)" if line else ""


def _warning_message(w, args, name):
    kind = _FLOATING_POINT.search(str(w.message)).group(1)
    return (f"{name}: on the inputs ({describe_args(args)}) it emitted "
            f"RuntimeWarning: {w.message}{_student_line(w.filename, w.lineno)}. A graded "
            f"function must compute its result without floating-point warnings.\n"
            f"Cause: {_WARNING_HINTS[kind]}.")


def _error_message(e, args, name):
    """The function, the student's line that raised, and the numpy error in plain words."""
    frames = [f for f in traceback.extract_tb(e.__traceback__)
              if "site-packages" not in f.filename and not f.filename.startswith(_HERE)
              and not f.filename.startswith("<frozen")]
    where = ""
    if frames:
        f = frames[-1]
        where = f" in {f.name}()" if f.name not in ("<lambda>", "<module>") else ""
        where += _student_line(f.filename, f.lineno)
    text = str(e)
    cause = ""
    if "matmul" in text and "mismatch in its core dimension" in text:
        cause = ("\nCause: a matrix product A @ B needs A's last dimension to equal B's "
                 "first; check the shapes and which side each factor goes on.")
    elif "could not be broadcast together" in text:
        cause = ("\nCause: two arrays whose shapes neither match nor broadcast were combined "
                 "element-wise; check the shapes (a missing axis, a transpose, keepdims?).")
    elif isinstance(e, IndexError):
        cause = "\nCause: an index beyond an array's shape; check the shapes and axes."
    return (f"{name}: calling it on the inputs ({describe_args(args)}) raised "
            f"{type(e).__name__}{where}: {text[:600]}{cause}")


def _same(a, b):
    """``a`` is exactly ``b``: same type of container, shapes, dtypes and bits (NaN = NaN)."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.shape == b.shape
                and a.dtype == b.dtype and np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(_same, a, b))
    try:
        return bool(a == b) or (a != a and b != b)
    except Exception:  # an object without a comparison: assume untouched
        return True


def _argument_names(student, n):
    try:
        params = list(inspect.signature(student).parameters.values())
    except (TypeError, ValueError):
        params = []
    names = [p.name for p in params
             if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return [f"`{names[i]}`" if i < len(names) else f"number {i + 1}" for i in range(n)]


def _check_unmodified(student, args, copies, kwargs, kw, name):
    labels = _argument_names(student, len(args))
    changed = [labels[i] for i, (a, c) in enumerate(zip(args, copies)) if not _same(a, c)]
    changed += [f"`{k}`" for k in kwargs if not _same(kwargs[k], kw[k])]
    if changed:
        which = " and ".join(changed)
        raise CheckFailed(
            f"{name}: it modified its argument{'s' if len(changed) > 1 else ''} {which} in "
            f"place (inputs {describe_args(args)}). A graded function must leave the arrays "
            "it is given unchanged: compute new arrays (w - eta * dw, np.maximum(z, 0), "
            "z - z.max()) instead of writing into them (w -= ..., z[...] = ..., out=).")


# --- the pieces a remote grader needs (nngrader) ----------------------------------------
#
# ``grade()`` below is the composition of these steps. The class grader (``nngrader``)
# runs ``student_name``/``check_callable``/``call_student`` inside the student's sandbox on
# inputs it drew with ``draw_cases``, carries the outputs across with ``encode``/``decode``
# (plain numbers and arrays only, never pickle), and runs ``compare_case`` in its own clean
# process. Same inputs for the same seed, same tolerances, same messages.


def student_name(student, ref, name=None):
    """The name used in messages: ``name``, else the function's ``__name__``, else ``ref``."""
    name = name or getattr(student, "__name__", ref)
    if name == "<lambda>":
        name = ref
    return name


def check_callable(student, name):
    if not callable(student):
        raise CheckFailed(f"{name}: expected a function, got {type(student).__name__}")


def draw_cases(cases, seed):
    """The positional arguments of every case, drawn in order from one generator."""
    rng = np.random.default_rng(seed)
    return [draw_case(case, rng) for case in cases]


def case_context(i, n, args, seed):
    return f"Case {i + 1} of {n}: inputs ({describe_args(args)}), seed {seed}."


def compare_case(got, expected, name, i, n, args, seed, *, rtol, atol, hint):
    """Compare one case; raises :class:`CheckFailed` with the message ``grade()`` gives."""
    expect_close(got, expected, name, rtol=rtol, atol=atol, hint=hint,
                 context=case_context(i, n, args, seed))


class EncodeError(ValueError):
    """A value that is not numbers, arrays, or tuples/lists/dicts of them."""


def encode(value, *, max_bytes=64 << 20, _budget=None):
    """A JSON-able, pickle-free description of a result (numbers, arrays, containers)."""
    budget = [max_bytes] if _budget is None else _budget

    def enc(v, depth):
        if depth > 20:
            raise EncodeError("nested too deeply")
        if v is None:
            return {"t": "none"}
        if isinstance(v, (bool, np.bool_)):
            return {"t": "bool", "v": bool(v)}
        if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
            return {"t": "int", "v": int(v)}
        if isinstance(v, (float, np.floating)):
            return {"t": "float", "v": repr(float(v))}
        if isinstance(v, dict):
            return {"t": "dict", "v": [[enc(k, depth + 1), enc(x, depth + 1)] for k, x in v.items()]}
        if isinstance(v, (tuple, list)):
            return {"t": type(v).__name__ if type(v) in (tuple, list) else "list",
                    "v": [enc(x, depth + 1) for x in v]}
        if isinstance(v, str):
            return {"t": "str", "v": v[:1000]}
        try:
            arr = np.asarray(v)
        except Exception as e:  # an object that does not convert
            raise EncodeError(f"cannot convert {type(v).__name__} to an array: {e}") from e
        if arr.dtype.kind not in "biufc":
            if arr.dtype.kind == "O" and arr.size <= 1000:
                return {"t": "list", "v": [enc(x, depth + 1) for x in arr.tolist()]} \
                    if arr.ndim else enc(arr.item(), depth + 1)
            raise EncodeError(f"expected numbers, got an array of {arr.dtype}")
        shape = list(arr.shape)           # before ascontiguousarray, which makes 0-d 1-d
        arr = np.ascontiguousarray(arr)
        budget[0] -= arr.nbytes
        if budget[0] < 0:
            raise EncodeError("result too large")
        return {"t": "array", "dtype": arr.dtype.str, "shape": shape,
                "data": base64.b64encode(arr.tobytes()).decode("ascii")}

    return enc(value, 0)


def decode(obj):
    """Inverse of :func:`encode` (builds only plain Python numbers and numpy arrays)."""
    t = obj["t"]
    if t == "none":
        return None
    if t == "bool":
        return bool(obj["v"])
    if t == "int":
        return int(obj["v"])
    if t == "float":
        return float(obj["v"])
    if t == "str":
        return str(obj["v"])
    if t == "dict":
        return {_hashable(decode(k)): decode(x) for k, x in obj["v"]}
    if t == "tuple":
        return tuple(decode(x) for x in obj["v"])
    if t == "list":
        return [decode(x) for x in obj["v"]]
    if t == "array":
        dtype = np.dtype(obj["dtype"])
        if dtype.kind not in "biufc":
            raise EncodeError(f"bad dtype {dtype}")
        data = base64.b64decode(obj["data"])
        return np.frombuffer(data, dtype=dtype).reshape(obj["shape"]).copy()
    raise EncodeError(f"unknown encoded type {t!r}")


def _hashable(k):
    return k.item() if isinstance(k, np.ndarray) and k.ndim == 0 else k


def grade(student, ref, cases, *, kwargs=None, rtol=1e-10, atol=1e-12, hint=None, name=None):
    """Compare ``student`` with ``nnref.<ref>`` on every case, drawn now. See module doc."""
    kwargs = dict(kwargs or {})
    name = student_name(student, ref, name)
    check_callable(student, name)
    seed = grading_seed()
    rng = np.random.default_rng(seed)
    expected_fn = reference(ref)
    for i, case in enumerate(cases):
        args = draw_case(case, rng)
        expected = expected_fn(*args, **kwargs)
        got = call_student(student, args, kwargs, name)
        compare_case(got, expected, name, i, len(cases), args, seed,
                     rtol=rtol, atol=atol, hint=hint)
