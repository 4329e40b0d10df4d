"""Every graded notebook is fair: proven through the real nbgrader commands.

For each folder of solutions/ (discovered, so new chapters are covered without new code):
the solution scores full marks, the released stub scores 0, and every typical mistake
listed in tests/mistakes/<assignment>.json scores strictly between. The class grader
(nngrader: sandboxed, comparisons outside the student's kernel) gives every one of these
submissions exactly the score stock `nbgrader autograde` gives.
"""

import json

import nbformat
import pytest

from nbharness import (apply_mistake, assignments, load_mistakes, make_course, nbgrader,
                       scores, scores_without_the_stderr_rule, solved_release, submit,
                       SOLUTIONS)
from nngrader.runner import grade_class

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
    submit(tmp, assignment, "solved", solved_release(nbformat.read(released, as_version=4), solution))
    submit(tmp, assignment, "stub", nbformat.read(released, as_version=4))
    mistakes = load_mistakes(assignment)
    for k, mistake in enumerate(mistakes):
        submit(tmp, assignment, f"mistake{k}", apply_mistake(solution, mistake))
    nbgrader("autograde", assignment, "--create", "--force", cwd=tmp)
    ours = grade_class(tmp, assignment, tmp / "submitted", tmp / "nngraded", workers=2,
                       gradebook=False, progress=False)["results"]
    stock = scores(tmp, assignment)
    for student, score in scores_without_the_stderr_rule(tmp, assignment).items():
        stock[student] += (score,)
    return assignment, stock, mistakes, {r.student: r for r in ours}


def test_assignments_exist():
    assert len(ASSIGNMENTS) >= 2, "expected one graded notebook per chapter"


def test_solution_scores_full_marks(graded):
    assignment, result, _, _ = graded
    for student in ("solution", "solved"):
        score, max_score, _ = result[student]
        assert max_score > 0, f"{assignment} has no points"
        assert score == max_score, f"{assignment}: the {student} scored {score} of {max_score}"


def test_released_stub_scores_zero(graded):
    assignment, result, _, _ = graded
    score, max_score, _ = result["stub"]
    assert score == 0, f"{assignment}: the untouched release scored {score} of {max_score}"


def test_typical_mistakes_score_partial_credit(graded):
    assignment, result, mistakes, _ = graded
    for k, mistake in enumerate(mistakes):
        score, max_score, _ = result[f"mistake{k}"]
        assert 0 < score < max_score, (
            f"{assignment}: mistake {mistake['name']!r} scored {score} of {max_score}; "
            "a typical mistake must lose some points but not all")


def test_a_mistake_with_a_cost_loses_exactly_that_part(graded):
    """One mistake, one charge: a mistake listed with ``"cost": "<grade_id>"`` (or a list of
    grade_ids) fails exactly those test cells and passes every other one."""
    assignment, _, mistakes, ours = graded
    for k, mistake in enumerate(mistakes):
        if "cost" not in mistake:
            continue
        cost = {mistake["cost"]} if isinstance(mistake["cost"], str) else set(mistake["cost"])
        lost = {t.grade_id for t in ours[f"mistake{k}"].tests if not t.passed}
        assert lost == cost, (f"{assignment}: mistake {mistake['name']!r} must cost "
                              f"{sorted(cost)} and nothing else; it lost {sorted(lost)}")


def test_class_grader_agrees_with_nbgrader(graded):
    """nngrader's score is nbgrader's, except that a test cell is not failed for writing to
    stderr (stock nbgrader zeroes a cell that prints a RuntimeWarning); none needs a person."""
    assignment, result, _, ours = graded
    for student, (stock, max_score, without_stderr_rule) in result.items():
        r = ours[student]
        assert (r.score, r.max_score) == (without_stderr_rule, max_score), (
            f"{assignment}, {student}: nngrader gave {r.score} of {r.max_score}, nbgrader "
            f"{stock} ({without_stderr_rule} without its stderr rule) of {max_score} "
            f"({r.status}: {r.reasons}; {[t.messages for t in r.tests if not t.passed]})")
        assert r.status != "needs a person", f"{assignment}, {student}: {r.reasons}"
    for student in ("solution", "solved", "stub"):
        assert result[student][0] == ours[student].score, f"{assignment}, {student}"


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
