"""The similarity report (copydetect): a copied answer (renamed variables and all) and a
cell lifted from nnref are flagged and shown side by side; honest work is not; no grade
changes. Also: the class grader writes it, with the LMS exports, next to grades.csv."""

import csv
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "grader_corpus"))
import build_corpus as corpus  # noqa: E402

from nngrader.runner import grade_class  # noqa: E402
from nngrader.sandbox import Limits  # noqa: E402
from nngrader.similarity import find  # noqa: E402
from nngrader.spec import load_assignment  # noqa: E402
from nngrader.submission import find_submissions  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group(name="similarity")]

ALICE_RELU = '''def relu(z):
    arr = np.array(z, dtype=float, copy=True)
    negative_part = arr < 0.0
    arr[negative_part] = 0.0 * arr[negative_part]
    total = arr + 0.0
    return total'''
BOB_RELU = '''def relu(z):
    # my own work!!
    values = np.array(z, dtype=float, copy=True)
    below = values < 0.0
    values[below] = 0.0 * values[below]
    out = values + 0.0
    return out'''
CAROL_RELU = "def relu(z):\n    return np.where(np.asarray(z, dtype=float) > 0, z, 0.0) * 1.0"
OWN_SIG = ("def sigmoid(z):\n    z = np.clip(np.asarray(z, dtype=float), -500, 500)\n"
           "    return 1.0 / (1.0 + np.exp(-z))")
NNREF_SIG = '''def sigmoid(z):
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))'''
CLASS = {
    "alice": {"relu_answer": ALICE_RELU, "sigmoid_answer": OWN_SIG},
    "bob": {"relu_answer": BOB_RELU, "sigmoid_answer": OWN_SIG.replace("500", "700")},
    "carol": {"relu_answer": CAROL_RELU, "sigmoid_answer": NNREF_SIG},
    "dave": None,    # the untouched release
}


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    base = tmp_path_factory.mktemp("similarity")
    root = corpus.make_course(base / "course")
    for student, answers in CLASS.items():
        nb = corpus._load_release(root)
        if answers:
            nb = corpus.fill(nb, {"sigmoid_prime_answer": corpus.WRONG["sigmoid_prime_answer"],
                                  **answers})
        d = base / "submitted" / student / corpus.ASSIGNMENT
        d.mkdir(parents=True)
        (d / f"{corpus.ASSIGNMENT}.ipynb").write_text(json.dumps(nb))
    return root, base


def test_copies_are_flagged_honest_work_is_not(course):
    root, base = course
    a = load_assignment(root / "solutions", corpus.ASSIGNMENT)
    subs = find_submissions(base / "submitted", corpus.ASSIGNMENT)
    subs = subs[0] if isinstance(subs, tuple) else subs
    found = {(m.student, m.cell, m.other) for m in find(subs, a)}
    pairs = {frozenset((s, o)) for s, c, o in found if c == "relu_answer"}
    assert frozenset(("alice", "bob")) in pairs, found            # renamed, still a copy
    assert ("carol", "sigmoid_answer", "nnref/activations.py") in found, found
    assert not any("dave" in (s, o) for s, _, o in found), found   # a stub is not a copy
    assert not any(c == "relu_answer" and "carol" in (s, o) for s, c, o in found), found
    assert not any(c == "sigmoid_answer" and s in ("alice", "bob") and o.startswith("nnref")
                   for s, c, o in found), found


def test_grader_writes_report_and_exports_and_keeps_grades(course):
    root, base = course
    res = grade_class(root, corpus.ASSIGNMENT, base / "submitted", base / "out", workers=2,
                      limits=Limits(cell_timeout=60, total_timeout=300, startup_timeout=180),
                      progress=False, gradebook=False)
    out = res["out"]
    scores = {r.student: r.score for r in res["results"]}
    assert scores == {"alice": 3, "bob": 3, "carol": 3, "dave": 0}   # copies keep their grade
    assert all(not any("similar" in x for x in r.reasons) for r in res["results"])
    page = (out / "similarity.html").read_text()
    for word in ("alice", "bob", "<mark>", "nnref/activations.py"):
        assert word in page, word
    ranked = list(csv.DictReader(open(out / "similarity.csv")))
    assert ranked and float(ranked[0]["share"]) >= float(ranked[-1]["share"])
    canvas = list(csv.reader(open(out / "canvas.csv")))
    assert {r[3]: r[-1] for r in canvas[2:]} == {"alice": "3", "bob": "3", "carol": "3",
                                                  "dave": "0"}
    assert (out / "moodle.csv").exists()
