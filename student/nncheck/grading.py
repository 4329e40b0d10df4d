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
import importlib
import os
import secrets
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
    return ", ".join(f"shape {np.shape(a)}" if np.ndim(a) else repr(a) for a in args)


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


def call_student(student, args, kwargs, name):
    copies = tuple(np.copy(a) if isinstance(a, np.ndarray) else a for a in args)
    try:
        return student(*copies, **kwargs)
    except NotImplementedError as e:
        raise CheckFailed(f"{name}: not implemented yet (the cell still raises "
                          "NotImplementedError).") from e
    except Exception as e:
        raise CheckFailed(f"{name}: calling it on ({describe_args(args)}) raised "
                          f"{type(e).__name__}: {e}") from e


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
