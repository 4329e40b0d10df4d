"""The class grader (nngrader) on a corpus of honest, broken and hostile submissions.

The corpus is built at test time (tests/grader_corpus/build_corpus.py) into a temporary
course with one assignment graded against nnref.activations; every submission's score,
status and reason are asserted, and honest ones must score exactly as stock
``nbgrader autograde`` does.
"""

import csv
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent / "grader_corpus"))
import build_corpus as corpus  # noqa: E402

from nncheck import grading as G  # noqa: E402
from nncheck.compare import CheckFailed  # noqa: E402
from nngrader.core import judge  # noqa: E402
from nngrader.runner import grade_class  # noqa: E402
from nngrader.sandbox import Limits, Sandbox  # noqa: E402
from nngrader.spec import SpecError, load_assignment, parse_hidden  # noqa: E402

LIMITS = dict(cell_timeout=15.0, total_timeout=120.0)
# one xdist worker builds the corpus once (make test runs pytest -n 2 --dist loadgroup)
pytestmark = pytest.mark.xdist_group(name="grader")


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    base = tmp_path_factory.mktemp("grader")
    course = corpus.make_course(base / "course")
    corpus.build(course, base)
    return course, base


@pytest.fixture(scope="module")
def graded(course):
    root, base = course
    res = grade_class(root, corpus.ASSIGNMENT, base, root / "out", workers=2,
                      limits=Limits(**LIMITS), progress=False)
    return res


@pytest.mark.slow
@pytest.mark.parametrize("student", sorted(corpus.CORPUS))
def test_corpus(graded, student):
    _, score, status, word = corpus.CORPUS[student]
    r = {x.student: x for x in graded["results"]}[student]
    assert r.score == score, (r.status, r.reasons, [t.messages for t in r.tests])
    if status:
        assert r.status == status, r.reasons
    if word:
        assert word.lower() in " ".join(r.reasons).lower(), r.reasons


@pytest.mark.slow
def test_hostile_notebooks_touch_nothing(graded, course):
    root, _ = course
    assert not (root / "pwned.txt").exists()
    assert "pwned" not in (root / "solutions" / "demo" / "demo.ipynb").read_text()
    forged = {x.student: x for x in graded["results"]}["forged_outputs"]
    assert any("fake events" in x for x in forged.reasons)
    if graded["sandbox"].uid_base is not None:   # every process of the slot uids is gone
        ps = subprocess.run(["ps", "-eo", "uid="], capture_output=True, text=True).stdout
        uids = {int(u) for u in ps.split()}
        assert not uids & set(range(61000, 61010))


@pytest.mark.slow
def test_outputs_csv_feedback_report_gradebook(graded, course):
    root, _ = course
    out = graded["out"]
    rows = list(csv.DictReader(open(out / "grades.csv")))
    assert len(rows) == len(corpus.CORPUS)
    assert {r["status"] for r in rows} == {"graded", "graded with flags", "needs a person"}
    assert (out / "score_histogram.png").stat().st_size > 1000
    assert (out / "test_pass_rate.png").stat().st_size > 1000
    assert "Needs a person" in (out / "report.md").read_text()
    for f in (out / "feedback").iterdir():
        text = f.read_text()
        assert "HIDDEN" not in text and "ref=" not in text and "grade(" not in text, f
    # nbgrader's own gradebook and export see the grades
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        sub = gb.find_submission("demo", "honest_partial")
        assert sub.score == 4 and not sub.needs_manual_grade
        bad = gb.find_submission_notebook("demo", "demo", "invalid_json")
        assert bad.needs_manual_grade and bad.flagged
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    subprocess.run([sys.executable, "-m", "nbgrader", "export", "--to", "export.csv"],
                   cwd=root, check=True, capture_output=True, env=env)
    exported = {r["student_id"]: r for r in csv.DictReader(open(root / "export.csv"))}
    assert float(exported["honest_full"]["raw_score"]) == 5


@pytest.mark.slow
def test_rerun_is_idempotent(graded, course):
    root, base = course
    again = grade_class(root, corpus.ASSIGNMENT, base, root / "out", workers=2,
                        limits=Limits(**LIMITS), progress=False)
    assert again["elapsed"] < 5   # everything came from the cache
    first = {r.student: (r.score, r.status) for r in graded["results"]}
    assert {r.student: (r.score, r.status) for r in again["results"]} == first


@pytest.mark.slow
def test_honest_scores_equal_stock_nbgrader(graded, course):
    root, base = course
    for s in corpus.STOCK:
        shutil.copytree(base / "submitted" / s, root / "submitted" / s)
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    subprocess.run([sys.executable, "-m", "nbgrader", "autograde", "demo", "--force"],
                   cwd=root, check=True, capture_output=True, env=env)
    from nbgrader.api import Gradebook
    ours = {r.student: r.score for r in graded["results"]}
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        for s in corpus.STOCK:
            assert gb.find_submission("demo", s).score == ours[s], s


@pytest.mark.slow
def test_zip_of_flat_notebooks(course, tmp_path):
    root, base = course
    z = tmp_path / "class.zip"
    with zipfile.ZipFile(z, "w") as f:
        for s in ("honest_full", "honest_partial"):
            f.write(base / "submitted" / s / "demo" / "demo.ipynb", f"{s}_demo.ipynb")
    res = grade_class(root, corpus.ASSIGNMENT, z, tmp_path / "out", workers=1,
                      limits=Limits(**LIMITS), gradebook=False, progress=False)
    assert {r.student: r.score for r in res["results"]} == {"honest_full": 5, "honest_partial": 4}


def test_sandbox_hides_the_course():
    sb = Sandbox(Limits(cell_timeout=20))
    if sb.mode != "bwrap":
        pytest.skip(f"no bwrap here ({sb.warnings})")
    code = ("import os, socket\nr = []\ntry:\n    import nnref\n    r.append('nnref')\n"
            "except ImportError:\n    pass\n"
            f"r += [p for p in [{str(Path(corpus.REPO))!r}] if os.path.exists(p + '/nnref')]\n"
            "try:\n    socket.create_connection(('1.1.1.1', 80), timeout=1); r.append('net')\n"
            "except OSError:\n    pass\nassert not r, r\nassert os.getuid() != 0")
    res = sb.run({"cells": [{"i": 0, "source": code, "trusted": False, "hidden": []}]})
    end = [e for e in res.events if e.get("ev") == "end"]
    assert end and end[0]["error"] is None, end


def test_remote_judging_gives_the_local_message(monkeypatch):
    """Comparison moved out of the kernel: same inputs, same verdict, same message."""
    monkeypatch.setenv("NNCHECK_SEED", "1234")
    wrong = lambda z: 1 / (1 + np.exp(z))  # noqa: E731 - the sign slip
    call = parse_hidden('grade(sigmoid, ref="activations.sigmoid", cases=[normal(5)], '
                        'hint="sign")\n', "t")[0]
    with pytest.raises(CheckFailed) as local:
        G.grade(wrong, "activations.sigmoid", call.cases, hint="sign", name="sigmoid")
    args = G.draw_cases(call.cases, 1234)
    outs = [{"out": G.encode(wrong(*a))} for a in args]
    ok, msg = judge(call, (1234, args), {"name": "sigmoid", "results": outs})
    assert not ok and msg == str(local.value)
    outs = [{"out": G.encode(1 / (1 + np.exp(-a[0])))} for a in args]
    assert judge(call, (1234, args), {"name": "sigmoid", "results": outs}) == (True, None)


def test_hidden_tests_must_be_declarations():
    with pytest.raises(SpecError):
        parse_hidden("assert sigmoid(0) == 0.5\n", "t")
    with pytest.raises(SpecError):
        parse_hidden("import nnref\n", "t")
    with pytest.raises(SpecError):
        parse_hidden('grade(f, ref="activations.sigmoid", cases=[student_var])\n', "t")


def test_encode_never_pickles():
    x = {"a": (np.arange(3.0), 2), "b": [None, True, 1.5]}
    assert G.decode(json.loads(json.dumps(G.encode(x))))["a"][0].tolist() == [0.0, 1.0, 2.0]
    with pytest.raises(G.EncodeError):
        G.decode({"t": "array", "dtype": "|O", "shape": [1], "data": ""})
