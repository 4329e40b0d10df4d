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


def grade(student, ref, cases, *, kwargs=None, rtol=1e-10, atol=1e-12, hint=None, name=None):
    """Compare ``student`` with ``nnref.<ref>`` on every case, drawn now. See module doc."""
    kwargs = dict(kwargs or {})
    name = name or getattr(student, "__name__", ref)
    if name == "<lambda>":
        name = ref
    if not callable(student):
        raise CheckFailed(f"{name}: expected a function, got {type(student).__name__}")
    seed = grading_seed()
    rng = np.random.default_rng(seed)
    expected_fn = reference(ref)
    for i, case in enumerate(cases):
        args = draw_case(case, rng)
        expected = expected_fn(*args, **kwargs)
        got = call_student(student, args, kwargs, name)
        context = f"Case {i + 1} of {len(cases)}: inputs ({describe_args(args)}), seed {seed}."
        expect_close(got, expected, name, rtol=rtol, atol=atol, hint=hint, context=context)
