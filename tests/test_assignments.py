"""Every graded notebook is fair: proven through the real nbgrader commands.

For each folder of solutions/ (discovered, so new chapters are covered without new code):
the solution scores full marks, the released stub scores 0, and every typical mistake
listed in tests/mistakes/<assignment>.json scores strictly between.
"""

import json

import nbformat
import pytest

from nbharness import (apply_mistake, assignments, load_mistakes, make_course, nbgrader,
                       scores, submit, SOLUTIONS)

ASSIGNMENTS = assignments()
# One xdist group per assignment: its tests share one nbgrader run on one worker.
PARAMS = [pytest.param(a, marks=pytest.mark.xdist_group(a)) for a in ASSIGNMENTS]


@pytest.fixture(scope="module", params=PARAMS)
def graded(request, tmp_path_factory):
    """Autograde the solution, the stub and every mistake of one assignment."""
    assignment = request.param
    tmp = tmp_path_factory.mktemp(assignment)
    released = make_course(tmp, assignment)
    solution = nbformat.read(SOLUTIONS / assignment / f"{assignment}.ipynb", as_version=4)
    submit(tmp, assignment, "solution", solution)
    submit(tmp, assignment, "stub", nbformat.read(released, as_version=4))
    mistakes = load_mistakes(assignment)
    for k, mistake in enumerate(mistakes):
        submit(tmp, assignment, f"mistake{k}", apply_mistake(solution, mistake))
    nbgrader("autograde", assignment, "--create", "--force", cwd=tmp)
    return assignment, scores(tmp, assignment), mistakes


def test_assignments_exist():
    assert len(ASSIGNMENTS) >= 2, "expected one graded notebook per chapter"


def test_solution_scores_full_marks(graded):
    assignment, result, _ = graded
    score, max_score = result["solution"]
    assert max_score > 0, f"{assignment} has no points"
    assert score == max_score, f"{assignment}: the solution scored {score} of {max_score}"


def test_released_stub_scores_zero(graded):
    assignment, result, _ = graded
    score, max_score = result["stub"]
    assert score == 0, f"{assignment}: the untouched release scored {score} of {max_score}"


def test_typical_mistakes_score_partial_credit(graded):
    assignment, result, mistakes = graded
    for k, mistake in enumerate(mistakes):
        score, max_score = result[f"mistake{k}"]
        assert 0 < score < max_score, (
            f"{assignment}: mistake {mistake['name']!r} scored {score} of {max_score}; "
            "a typical mistake must lose some points but not all")


@pytest.mark.parametrize("assignment", PARAMS)
def test_source_notebook_is_well_formed(assignment):
    """Several graded parts, unique ids, hidden tests only through grade(), no nnref leak."""
    nb = nbformat.read(SOLUTIONS / assignment / f"{assignment}.ipynb", as_version=4)
    nbformat.validate(nb)
    meta = [c.metadata["nbgrader"] for c in nb.cells if "nbgrader" in c.metadata]
    ids = [m["grade_id"] for m in meta]
    assert len(ids) == len(set(ids)), f"duplicate grade_id in {assignment}"
    tests = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert len(tests) >= 3, f"{assignment}: at least three graded parts are needed"
    for cell in nb.cells:
        src = cell.source
        if cell.cell_type != "code":
            continue
        visible = src.split("### BEGIN HIDDEN TESTS")[0]
        assert "nnref" not in visible, (
            f"{assignment}: cell {cell.metadata.get('nbgrader', {}).get('grade_id')} uses nnref "
            "outside the hidden tests; released notebooks must run without the answer key")
        if "### BEGIN HIDDEN TESTS" in src:
            hidden = src.split("### BEGIN HIDDEN TESTS")[1].split("### END HIDDEN TESTS")[0]
            assert "grade(" in hidden and "assert " not in hidden, (
                f"{assignment}: hidden tests must go through nncheck.grade(), not bare asserts")
    assert not any(o for c in nb.cells for o in c.get("outputs", [])), (
        f"{assignment}: commit the source notebook without outputs")


def test_every_assignment_lists_its_mistakes():
    for assignment in ASSIGNMENTS:
        for mistake in load_mistakes(assignment):
            assert {"name", "cell", "find", "replace"} <= set(mistake), json.dumps(mistake)
