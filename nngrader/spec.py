"""Trusted model of an assignment, read from the instructor's SOURCE notebook only.

Every test cell (nbgrader ``grade: true``) is split into its visible part (what the
release shows) and its hidden ``grade(...)`` calls, parsed with :mod:`ast`: the student
expression's source, ``ref``, the input ``cases`` (evaluated here, in the grader, with the
nncheck spec constructors), ``kwargs``, ``rtol``/``atol``/``hint``/``name``. Points come
from the source metadata, never from a submission.
"""

import ast
import hashlib
import inspect
import json
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import numpy as np

from nncheck import grading as G

BEGIN, END = "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"
BEGIN_SOL, END_SOL = "BEGIN SOLUTION", "END SOLUTION"
_GRADE_DEFAULTS = {k: v.default for k, v in inspect.signature(G.grade).parameters.items()
                   if v.default is not inspect.Parameter.empty}


class SpecError(ValueError):
    """The source notebook does not follow the authoring guide (an instructor problem)."""


@dataclass
class HiddenCall:
    expr: str
    ref: str
    cases: list
    kwargs: dict
    rtol: float
    atol: float
    hint: str | None
    name: str | None


@dataclass
class Cell:
    index: int
    cell_type: str
    source: str                 # full source (instructor's)
    grade_id: str | None = None
    kind: str = "free"          # answer | test | locked | free | markdown
    points: float = 0.0
    visible: str = ""           # test cell: what runs in the sandbox
    hidden: list = field(default_factory=list)
    release: str = ""           # what the student received (for matching)


@dataclass
class Assignment:
    name: str
    notebook: str               # notebook name without .ipynb
    path: Path
    cells: list
    digest: str

    @property
    def tests(self):
        return [c for c in self.cells if c.kind == "test"]

    @property
    def max_score(self):
        return float(sum(c.points for c in self.tests))


def split_hidden(source):
    """(visible source, hidden source) of a test cell, as nbgrader's ClearHiddenTests cuts."""
    vis, hid, inside = [], [], False
    for line in source.splitlines(keepends=True):
        if BEGIN in line:
            inside = True
            continue
        if END in line:
            inside = False
            continue
        (hid if inside else vis).append(line)
    return "".join(vis), "".join(hid)


def stub_solution(source, stub="# YOUR CODE HERE\nraise NotImplementedError()"):
    """The released answer cell (what nbgrader's ClearSolutions makes of it)."""
    out, inside = [], False
    for line in source.splitlines(keepends=True):
        if BEGIN_SOL in line:
            inside = True
            indent = line[: len(line) - len(line.lstrip())]
            out.extend(indent + s + "\n" for s in stub.splitlines())
            continue
        if END_SOL in line:
            inside = False
            continue
        if not inside:
            out.append(line)
    return "".join(out).rstrip("\n")


def _namespace():
    ns = {name: getattr(G, name) for name in
          ("normal", "uniform", "integers", "signs", "values", "grid", "binary_grid")}
    ns.update(np=np, numpy=np, Spec=G.Spec)
    return ns


def parse_hidden(hidden_src, where):
    """The ``grade(...)`` calls of a hidden block, evaluated in the grader."""
    try:
        tree = ast.parse(hidden_src)
    except SyntaxError as e:
        raise SpecError(f"{where}: hidden tests do not parse: {e}") from e
    calls, ns = [], _namespace()
    for stmt in tree.body:
        call = stmt.value if isinstance(stmt, ast.Expr) else None
        fname = getattr(getattr(call, "func", None), "id", None) or \
            getattr(getattr(call, "func", None), "attr", None)
        if not isinstance(call, ast.Call) or fname != "grade":
            raise SpecError(f"{where}: hidden tests may contain only grade(...) calls "
                            f"(line {stmt.lineno}: {ast.get_source_segment(hidden_src, stmt)!r})")
        params = ["student", "ref", "cases"]
        args = dict(zip(params, call.args))
        for kw in call.keywords:
            if kw.arg is None:
                raise SpecError(f"{where}: grade(**...) is not supported")
            args[kw.arg] = kw.value
        missing = [p for p in params if p not in args]
        if missing:
            raise SpecError(f"{where}: grade() call without {missing}")

        def value(key):
            if key not in args:
                return _GRADE_DEFAULTS.get(key)
            seg = ast.get_source_segment(hidden_src, args[key])
            try:
                return eval(compile(ast.Expression(args[key]), where, "eval"), dict(ns))
            except Exception as e:
                raise SpecError(f"{where}: {key}={seg} must be a constant "
                                f"(nncheck specs, numbers): {e}") from e

        cases = list(value("cases"))
        for c in cases:
            for s in (c if isinstance(c, tuple) else (c,)):
                if not isinstance(s, G.Spec):
                    raise SpecError(f"{where}: case {c!r} is not an nncheck input spec")
        ref = value("ref")
        if not isinstance(ref, str) or "." not in ref:
            raise SpecError(f"{where}: ref must be 'module.function', got {ref!r}")
        G.reference(ref)  # fails loudly now if nnref lacks it
        calls.append(HiddenCall(
            expr=ast.get_source_segment(hidden_src, args["student"]), ref=ref, cases=cases,
            kwargs=dict(value("kwargs") or {}), rtol=float(value("rtol")),
            atol=float(value("atol")), hint=value("hint"), name=value("name")))
    return calls


def load_assignment(source_dir, assignment, stub=None):
    """Read ``<source_dir>/<assignment>/*.ipynb`` (exactly one notebook) into the model."""
    folder = Path(source_dir) / assignment
    nbs = sorted(p for p in folder.glob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    if len(nbs) != 1:
        raise SpecError(f"{folder}: expected exactly one source notebook, found {len(nbs)}")
    path = nbs[0]
    raw = path.read_bytes()
    nb = nbformat.reads(raw.decode("utf-8"), as_version=4)
    cells, seen = [], set()
    for k, c in enumerate(nb.cells):
        meta = c.get("metadata", {}).get("nbgrader", {})
        gid = meta.get("grade_id")
        if gid:
            if gid in seen:
                raise SpecError(f"{path.name}: duplicate grade_id {gid!r} in the source")
            seen.add(gid)
        cell = Cell(index=k, cell_type=c.cell_type, source=c.source, grade_id=gid)
        if c.cell_type != "code":
            cell.kind = "markdown"
        elif meta.get("grade") and not meta.get("solution"):
            cell.kind = "test"
            cell.points = float(meta.get("points") or 0)
            cell.visible, hidden = split_hidden(c.source)
            cell.hidden = parse_hidden(hidden, f"{path.name}:{gid}") if hidden.strip() else []
            cell.release = cell.visible
        elif meta.get("solution"):
            if meta.get("grade"):
                raise SpecError(f"{path.name}:{gid}: manually graded answer cells are not "
                                "supported by the class grader (grade them in formgrader)")
            cell.kind = "answer"
            cell.release = stub_solution(c.source, **({"stub": stub} if stub else {}))
        elif meta.get("locked"):
            cell.kind = "locked"
            cell.release = c.source
        else:
            cell.release = c.source
        cells.append(cell)
    digest = hashlib.sha256(raw + json.dumps(GRADER_VERSION).encode()).hexdigest()
    return Assignment(name=assignment, notebook=path.stem, path=path, cells=cells, digest=digest)


GRADER_VERSION = "nngrader-2"
