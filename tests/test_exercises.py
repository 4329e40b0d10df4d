"""The released notebooks: generated, never hand-edited, and usable without the answer key."""

import ast
import re

import nbformat
import pytest

from nbharness import (EXERCISES, ROOT, SOLUTIONS, assignments, blocked_ipython_dir, errors,
                       execute, make_course, solved_release)

ASSIGNMENTS = assignments()
# One xdist group per assignment: its tests share one nbgrader run on one worker.
PARAMS = [pytest.param(a, marks=pytest.mark.xdist_group(a)) for a in ASSIGNMENTS]


@pytest.fixture(scope="module", params=PARAMS)
def release(request, tmp_path_factory):
    """What `nbgrader generate_assignment` produces now from solutions/."""
    assignment = request.param
    tmp = tmp_path_factory.mktemp(f"release-{assignment}")
    return assignment, make_course(tmp, assignment), tmp


def test_exercises_hold_exactly_the_released_assignments():
    released = sorted(p.name for p in EXERCISES.iterdir() if p.is_dir())
    assert released == ASSIGNMENTS, "run `make exercises` to regenerate exercises/"


def test_exercises_are_what_nbgrader_generates(release):
    assignment, fresh, _ = release
    committed = EXERCISES / assignment / fresh.name
    assert committed.exists(), f"{committed.relative_to(ROOT)} missing: run `make exercises`"
    assert committed.read_text() == fresh.read_text(), (
        f"{committed.relative_to(ROOT)} differs from what nbgrader generates from "
        f"solutions/{assignment}: never edit exercises/ by hand, run `make exercises`")
    extra = {p.name for p in committed.parent.iterdir()} - {p.name for p in fresh.parent.iterdir()}
    assert not extra, f"unexpected files in exercises/{assignment}: {sorted(extra)}"


def test_release_hides_solutions_and_hidden_tests(release):
    assignment, fresh, _ = release
    text = fresh.read_text()
    for marker in ("### BEGIN SOLUTION", "### BEGIN HIDDEN TESTS", "nnref"):
        assert marker not in text, f"{assignment}: the release still contains {marker!r}"


def answer_names(solution):
    """Names the answer cells define (functions, variables): what a stub leaves undefined."""
    names = set()
    for cell in solution.cells:
        if cell.metadata.get("nbgrader", {}).get("solution"):
            for node in ast.walk(ast.parse(cell.source)):
                if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                    names.add(node.name)
                elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                    names.add(node.id)
    return names


def test_release_stops_only_at_the_students_todos(release):
    """Run the release as a student would, without nnref: only the TODOs raise.

    A cell may fail only because a TODO is not done yet: the stub's NotImplementedError,
    or a NameError for a name an answer cell is meant to define. Anything else (a missing
    package, nnref, a bug in a demo cell) would stop a student who did nothing wrong.
    """
    assignment, fresh, tmp = release
    solution = nbformat.read(SOLUTIONS / assignment / f"{assignment}.ipynb", as_version=4)
    todo_names = answer_names(solution)
    nb = execute(nbformat.read(fresh, as_version=4), cwd=fresh.parent,
                 env_extra={"IPYTHONDIR": str(blocked_ipython_dir(tmp / "student"))})
    for i, cell, ename in errors(nb):
        evalue = next(o["evalue"] for o in cell.outputs if o.get("output_type") == "error")
        undefined = re.fullmatch(r"name '(\w+)' is not defined", evalue)
        from_todo = ename == "NotImplementedError" or (
            ename == "NameError" and undefined and undefined.group(1) in todo_names)
        assert from_todo, (
            f"{assignment}: cell {i} ({cell.metadata.get('nbgrader', {}).get('grade_id', 'no grade_id')}) "
            f"raised {ename}: {evalue} in the student's environment; only unfinished TODOs may stop "
            "the notebook")


def test_solved_release_runs_clean_without_nnref(release):
    """A student who solved every part runs the whole release without the answer key."""
    assignment, fresh, tmp = release
    solution = nbformat.read(SOLUTIONS / assignment / f"{assignment}.ipynb", as_version=4)
    nb = solved_release(nbformat.read(fresh, as_version=4), solution)
    nb = execute(nb, cwd=fresh.parent,
                 env_extra={"IPYTHONDIR": str(blocked_ipython_dir(tmp / "solved"))})
    failed = [(i, cell.metadata.get("nbgrader", {}).get("grade_id"), ename)
              for i, cell, ename in errors(nb)]
    assert not failed, f"{assignment}: errors without nnref: {failed}"
